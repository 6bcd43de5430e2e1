/**
 * The process's file descriptors: its limit (`ulimit -n`), whether an error is that limit hit, and the watch
 * that tells when the process cannot accept connections for want of one (`acceptWatch`).
 *
 * Out of descriptors, a listening socket cannot accept: libuv (under Node) then closes a spare descriptor it
 * keeps, accepts each waiting connection and closes it at once, and opens its spare again. Nothing reaches
 * JavaScript (no 'connection', no 'error'): the API's probes and the inputs' clients saw their connections
 * reset or closed, and the daemon said nothing (measured under `ulimit -n 128`, 200 fluent forward clients:
 * /health answered 'connection reset by peer', no log line, no count). Only when libuv cannot open its spare
 * again does the server emit an `accept EMFILE` error, which the API's server, with no listener for it, took
 * as an uncaught exception (exit 70). So the watch looks for itself: every second, while anything listens,
 * it opens and closes a descriptor; one that cannot be opened is the process out of them, and every
 * listener's connections are being closed as they come.
 */
import { closeSync, openSync, readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { FailureReport } from './failure-report.js';
import type { ComponentMetrics } from './metrics.js';
import type { ComponentTrouble } from './pipeline.js';

/** Whether an error is the process (EMFILE) or the system (ENFILE) out of file descriptors. */
export function isDescriptorLimit(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EMFILE' || code === 'ENFILE';
}

/**
 * The soft limit on open files (`ulimit -n`), from /proc/self/limits (Linux); undefined where it cannot be
 * read, or when it is unlimited. Node raises the soft limit to the hard one as it starts: this is the limit
 * the process really has.
 */
export function openFileLimit(limitsFile = '/proc/self/limits'): number | undefined {
  try {
    const match = /^Max open files\s+(\d+)\s/m.exec(readFileSync(limitsFile, 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Something that accepts connections: the API, a network input. */
export interface Listener {
  /** As the log names it: `the API`, `fluent_forward "fwd"`. */
  name: string;
  /** Connections it holds open now (a descriptor each). */
  connections: () => number;
  /** Its component's metrics: `too_many_open_files_total` and `errors_total` count each time it could not accept. */
  metrics?: ComponentMetrics;
}

/** How often the watch looks for a free descriptor while anything listens. */
export const ACCEPT_WATCH_INTERVAL_MS = 1000;

/**
 * Tells, once a time, that the process is out of file descriptors while it listens (so its listeners cannot
 * accept connections): the limit, the listeners and what they hold, what to do; counts it (`episodes`, and
 * each listening input's `too_many_open_files_total` and `errors_total`); says it again every 10 minutes
 * while it lasts and once when descriptors are free again. Accepting resumes by itself then (libuv's).
 */
export class AcceptWatch {
  /** The daemon's logger; a listener's own when none was set (an input run without the daemon). */
  logger: Logger | undefined;
  /** What else holds descriptors, for the message (the file inputs' open files): `file "app": 60 files`. */
  otherHolders: () => string[] = () => [];
  /** Times the process was found out of descriptors while it listened (once each time, however long). */
  episodes = 0;
  private readonly listeners = new Map<Listener, Logger>();
  private timer: NodeJS.Timeout | undefined;
  private report: FailureReport | undefined;
  /** `ulimit -n`, read when the first listener comes: out of descriptors, /proc/self/limits cannot be read. */
  private limit: number | undefined;
  private limitRead = false;
  /** While it lasts: since when (epoch ms), and what /health says of it. */
  private exhaustedSince: number | undefined;
  private exhaustedWhy = '';

  constructor(private readonly intervalMs = ACCEPT_WATCH_INTERVAL_MS) {}

  /** `listener` accepts connections from now on, until the function returned is called. */
  listen(listener: Listener, logger: Logger): () => void {
    if (!this.limitRead) {
      this.limit = openFileLimit();
      this.limitRead = true;
    }
    this.listeners.set(listener, logger);
    this.timer ??= setInterval(() => this.probe(), this.intervalMs).unref();
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size > 0) return;
      clearInterval(this.timer);
      this.timer = undefined;
      this.recovered();
    };
  }

  /**
   * A server's 'error': an accept that failed for want of a descriptor (libuv could not open its spare
   * again) is this, said and counted with the rest; true when it was one (anything else is the caller's).
   */
  acceptFailed(err: unknown): boolean {
    if (!isDescriptorLimit(err)) return false;
    this.exhausted(err as NodeJS.ErrnoException);
    return true;
  }

  /** Looks for a free descriptor now: the timer's, and tests'. */
  probe(): void {
    let fd: number;
    try {
      fd = openSync('/dev/null', 'r');
    } catch (err) {
      if (isDescriptorLimit(err)) this.exhausted(err as NodeJS.ErrnoException);
      return;
    }
    closeSync(fd);
    this.recovered();
  }

  private exhausted(err: NodeJS.ErrnoException): void {
    const logger = this.logger ?? this.listeners.values().next().value;
    if (!logger) return;
    if (!this.report) {
      this.episodes += 1;
      const listeners = [...this.listeners.keys()];
      for (const l of listeners) {
        l.metrics?.add('too_many_open_files_total');
        l.metrics?.add('errors_total');
      }
      const limit = this.limit;
      const enfile = err.code === 'ENFILE';
      const which = enfile
        ? 'the system has too many open files (ENFILE)'
        : `the process has every file descriptor it may open in use (EMFILE${limit === undefined ? '' : `: ${limit}, ulimit -n`})`;
      const held = [...listeners.map((l) => `${l.name}: ${l.connections()} connections`), ...this.otherHolders()];
      // Out of descriptors (EMFILE), the process holds its limit: what the listeners and file inputs do not
      // hold is the daemon's own (its modules' files, pipes, outputs' connections, the logs).
      const known = held.reduce((sum, h) => sum + Number(/: (\d+) \w+$/.exec(h)?.[1] ?? 0), 0);
      if (!enfile && limit !== undefined && limit > known) held.push(`the rest of the daemon (outputs' connections, files, pipes): ${limit - known}`);
      const names = listeners.map((l) => l.name).join(', ');
      this.exhaustedSince = Date.now();
      this.exhaustedWhy = `cannot accept connections to ${names}: ${which}`;
      this.report = new FailureReport({ logger }, {
        what: `cannot accept connections: ${which}; connections to ${names} are closed as soon as they come. ` +
          `Holding descriptors: ${held.join(', ')}. Raise the limit (ulimit -n, LimitNOFILE= in a systemd unit), or lower max_connections (or max_open_files)`,
        recovered: 'file descriptors are free again: connections are accepted again',
        counted: 'counted once in too_many_open_files_total',
        fields: { limit },
      });
    }
    // Said as what it is, not as the test open's error (`open '/dev/null'`), and without its stack.
    const error: NodeJS.ErrnoException = new Error(`${err.code}: too many open files`);
    error.code = err.code;
    error.stack = error.message;
    this.report.failed(error);
  }

  private recovered(): void {
    this.report?.succeeded();
    this.report = undefined;
    this.exhaustedSince = undefined;
  }

  /**
   * For `/health` while the process is out of descriptors: senders' connections are closed as they come,
   * so the daemon is not doing its job (before, a scrape on a connection opened earlier read `ok`).
   */
  trouble(now = Date.now()): ComponentTrouble[] {
    if (this.exhaustedSince === undefined) return [];
    const seconds_ago = Math.round((now - this.exhaustedSince) / 1000);
    return [{ component: 'process', kind: 'process', last_error: this.exhaustedWhy, seconds_ago, restarts: 0, problems: [{ problem: 'failing', last_error: this.exhaustedWhy, seconds_ago }] }];
  }
}

/** The process's watch: the API and the network inputs register with it, the daemon gives it its logger. */
export const acceptWatch = new AcceptWatch();
