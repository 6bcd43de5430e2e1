/**
 * Retry timing shared by every output that talks to something that can fail: exponential backoff with
 * jitter, `Retry-After` parsing, and an abortable sleep.
 */

export interface BackoffOptions {
  /** Delay before the first retry, ms. */
  initialMs: number;
  /** The delay never grows beyond this, ms. */
  maxMs: number;
  /** Growth per attempt (default 2). */
  factor?: number;
}

/**
 * Exponential backoff with "equal jitter": the delay for attempt n (0-based) is drawn uniformly from
 * [d/2, d] where d = min(max, initial * factor^n). Half the delay is kept so retries never bunch at zero;
 * the random half spreads many clients (or many outputs after one outage) apart.
 */
export class Backoff {
  private attempt = 0;
  constructor(
    private readonly options: BackoffOptions,
    private readonly random: () => number = Math.random,
  ) {}

  /** The delay before the next retry; each call moves one attempt further. */
  next(): number {
    const delay = backoffDelay(this.attempt, this.options, this.random());
    this.attempt += 1;
    return delay;
  }

  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}

/** The delay before retry `attempt` (0-based) given a uniform random number in [0, 1). */
export function backoffDelay(attempt: number, options: BackoffOptions, random: number): number {
  const factor = options.factor ?? 2;
  const cap = Math.min(options.maxMs, options.initialMs * factor ** Math.min(attempt, 64));
  return Math.round(cap / 2 + (cap / 2) * random);
}

/**
 * Parses an HTTP `Retry-After` header: delta-seconds (`2`) or an HTTP date. Returns ms from `now`, or
 * undefined when absent or unreadable. Never negative.
 */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/** Resolves after ms, or at once when the signal aborts; leaves no timer or listener behind. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    signal?.addEventListener('abort', done, { once: true });
  });
}
