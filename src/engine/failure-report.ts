/**
 * Tells about something a component retries until it works again (a write to a full disk, a checkpoint it
 * cannot save): the first failure is logged as an error, the next ones are only counted (`errors_total`),
 * with a reminder at most every `remindMs`, `/health` says the component is failing meanwhile, and the first
 * success after them is logged once. Before, each retry logged its error: a full disk wrote a line a second
 * for as long as it lasted, and some of these failures never reached `/health`.
 */
import type { Logger } from 'pino';
import type { ComponentContext } from './component.js';
import type { ComponentMetrics } from './metrics.js';

/** How often a failure that goes on is said again (with how many times it failed meanwhile). */
export const FAILURE_REMINDER_MS = 10 * 60_000;

export interface FailureReportOptions {
  /** What fails, for the log lines and `/health` ("cannot save checkpoints"). */
  what: string;
  /** The log line when it works again ("checkpoints can be saved again"). */
  recovered: string;
  /** Fields added to every line (the file concerned). */
  fields?: Record<string, unknown>;
  remindMs?: number;
  /** Where the failures are counted, as the first line says it (default: `counted in errors_total`). */
  counted?: string;
  /** Monotonic milliseconds (injected by tests). */
  now?: () => number;
}

interface Reporting {
  logger: Logger;
  metrics?: ComponentMetrics;
  health?: ComponentContext['health'];
}

export class FailureReport {
  private since: number | undefined;
  private lastSaid = 0;
  private failures = 0;
  private unsaid = 0;
  private readonly now: () => number;

  constructor(
    private readonly ctx: Reporting,
    private readonly options: FailureReportOptions,
  ) {
    this.now = options.now ?? (() => performance.now());
  }

  /** Whether it is failing now (failed, and has not worked since). */
  get failing(): boolean {
    return this.since !== undefined;
  }

  /** It failed (again): counted; said at the first failure, then at most every `remindMs`. */
  failed(err: unknown, fields: Record<string, unknown> = {}): void {
    this.ctx.metrics?.add('errors_total');
    this.failures += 1;
    const now = this.now();
    const { what } = this.options;
    if (this.since === undefined) {
      this.since = now;
      this.lastSaid = now;
      this.unsaid = 0;
      this.ctx.health?.failing(`${what}: ${errorMessage(err)}`);
      this.ctx.logger.error({ err, ...this.options.fields, ...fields }, `${what}; retrying (said again every ${Math.round((this.options.remindMs ?? FAILURE_REMINDER_MS) / 60_000)} min while it lasts, ${this.options.counted ?? 'counted in errors_total'})`);
      return;
    }
    if (now - this.lastSaid < (this.options.remindMs ?? FAILURE_REMINDER_MS)) {
      this.unsaid += 1;
      return;
    }
    this.lastSaid = now;
    this.ctx.health?.failing(`${what}: ${errorMessage(err)}`);
    this.ctx.logger.error({ err, ...this.options.fields, ...fields, failures: this.failures, failing_for_ms: Math.round(now - this.since), unsaid: this.unsaid }, `${what}; still failing, retrying`);
    this.unsaid = 0;
  }

  /** It worked: if it was failing, said once, and `/health` is ok again. */
  succeeded(fields: Record<string, unknown> = {}): void {
    if (this.since === undefined) return;
    const failingFor = Math.round(this.now() - this.since);
    this.ctx.logger.info({ ...this.options.fields, ...fields, failures: this.failures, failing_for_ms: failingFor }, this.options.recovered);
    this.ctx.health?.ok();
    this.since = undefined;
    this.failures = 0;
    this.unsaid = 0;
  }
}

/** What went wrong, in words: an Error's message, or anything else thrown (a string) as text. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * One component's `/health` shared by things that fail apart (a file input's checkpoint saves and its opens):
 * failing while any of them is, with each one's reason; ok once none is. Before, each told `/health` itself,
 * and the one that worked again said ok while the other still failed.
 */
export function sharedHealth(health: ComponentContext['health']): (part: string) => ComponentContext['health'] {
  if (!health) return () => undefined;
  const reasons = new Map<string, string>();
  const tell = () => (reasons.size === 0 ? health.ok() : health.failing([...reasons.values()].join('; ')));
  return (part) => ({
    failing(reason: string) {
      reasons.set(part, reason);
      tell();
    },
    ok() {
      if (reasons.delete(part)) tell();
    },
  });
}
