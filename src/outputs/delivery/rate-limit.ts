/**
 * A token bucket: at most `burst` sends at once, refilled at `perSecond`. Over any span of T seconds it lets
 * through at most `burst + perSecond * T` sends. Buckets can be shared by key (one per Slack webhook URL,
 * so two outputs posting to the same webhook share Slack's one-message-per-second allowance).
 */
import { sleep } from './backoff.js';

export interface RateLimitOptions {
  perSecond: number;
  burst: number;
}

export class TokenBucket {
  private tokens: number;
  private last: number;
  /** Sends wait in line so that a waiting sender is not overtaken. */
  private line: Promise<void> = Promise.resolve();

  constructor(
    readonly options: RateLimitOptions,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(options.perSecond > 0) || !(options.burst >= 1)) throw new RangeError('rate limit: perSecond must be > 0 and burst >= 1');
    this.tokens = options.burst;
    this.last = this.now();
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.options.burst, this.tokens + ((t - this.last) / 1000) * this.options.perSecond);
    this.last = t;
  }

  /** Takes a token if one is there now. */
  tryTake(): boolean {
    this.refill();
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    return false;
  }

  /** Ms until a token is available (0 if one is there now). */
  waitTime(): number {
    this.refill();
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) / this.options.perSecond) * 1000);
  }

  /**
   * Waits for a token and takes it. Resolves false if the signal aborted first (no token taken).
   */
  take(signal?: AbortSignal): Promise<boolean> {
    const turn = this.line.then(async () => {
      while (!signal?.aborted) {
        if (this.tryTake()) return true;
        await sleep(this.waitTime(), signal);
      }
      return false;
    });
    this.line = turn.then(() => undefined);
    return turn;
  }

  /** After the server said "too many requests": no token until `ms` from now. */
  penalize(ms: number): void {
    this.refill();
    // Negative tokens: the refill needs ms to bring the bucket back to one token.
    this.tokens = Math.min(this.tokens, 1 - (ms / 1000) * this.options.perSecond);
  }
}

const shared = new Map<string, TokenBucket>();

/** One bucket per key in this process (the key may be a secret URL: it stays in memory, never logged). */
export function sharedBucket(key: string, options: RateLimitOptions): TokenBucket {
  let bucket = shared.get(key);
  if (!bucket || bucket.options.perSecond !== options.perSecond || bucket.options.burst !== options.burst) {
    bucket = new TokenBucket(options);
    shared.set(key, bucket);
  }
  return bucket;
}
