/**
 * Counts what goes wrong on the wire (garbage, oversized frames, refused connections) and logs it without
 * letting a misbehaving client flood the daemon's log: the first occurrence of each kind is logged at once,
 * later ones are summed into at most one warning per kind every 10 s (sums not yet logged are written every
 * 10 s, and when the input stops).
 */
import type { Logger } from 'pino';
import { printableLine, truncate } from '../../printable.js';

const INTERVAL_MS = 10_000;

interface Pending {
  count: number;
  lastLogged: number;
  message: string;
  example: Record<string, unknown>;
}

/**
 * What a client says of itself or its request (a path, a User-Agent, a Content-Type) as a problem's log line or
 * the answer quotes it: cut to `max` characters (a 15 KB User-Agent was logged whole), control characters shown
 * as `\x9b`, a line end as `\x0a`. Node's HTTP/1.1 parser lets C1 controls through (a Latin-1 byte 0x9b, CSI to
 * a terminal), which neither pino's JSON nor the pretty log escapes, and the pretty log writes a message as it is.
 */
export function shownClientText(text: string | undefined, max = 100): string | undefined {
  return text === undefined ? undefined : printableLine(truncate(text, max));
}

export class ProblemLog {
  private readonly logger: Logger;
  private readonly kinds = new Map<string, Pending>();
  private readonly totals = new Map<string, number>();

  constructor(logger: Logger, signal?: AbortSignal) {
    this.logger = logger;
    if (signal && !signal.aborted) {
      const timer = setInterval(() => this.flush(), INTERVAL_MS);
      timer.unref();
      signal.addEventListener('abort', () => {
        clearInterval(timer);
        this.flush();
      }, { once: true });
    }
  }

  /** Logs the sums of every kind with occurrences not yet logged. */
  flush(): void {
    const now = Date.now();
    for (const [kind, p] of this.kinds) {
      if (p.count === 0) continue;
      this.logger.warn({ problem: kind, occurrences: p.count, ...p.example }, `${p.message} (${p.count} times in the last ${Math.round((now - p.lastLogged) / 1000)} s)`);
      p.count = 0;
      p.lastLogged = now;
    }
  }

  /** Records one problem of `kind`; `details` (peer, sizes) go into the log line. */
  report(kind: string, message: string, details: Record<string, unknown> = {}): void {
    this.totals.set(kind, (this.totals.get(kind) ?? 0) + 1);
    const now = Date.now();
    const p = this.kinds.get(kind);
    if (!p) {
      this.kinds.set(kind, { count: 0, lastLogged: now, message, example: details });
      this.logger.warn({ problem: kind, ...details }, message);
      return;
    }
    p.count += 1;
    p.example = details;
    p.message = message;
    if (now - p.lastLogged >= INTERVAL_MS) {
      this.logger.warn({ problem: kind, occurrences: p.count, ...details }, `${message} (${p.count} times in the last ${Math.round((now - p.lastLogged) / 1000)} s)`);
      p.count = 0;
      p.lastLogged = now;
    }
  }

  /** Total problems of `kind` since start (tests and the shutdown summary). */
  total(kind: string): number {
    return this.totals.get(kind) ?? 0;
  }
}
