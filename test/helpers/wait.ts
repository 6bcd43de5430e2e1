/**
 * Waits for what a test can observe (a file's lines, a metric, a count of log lines) instead of a fixed
 * sleep: a sleep long enough on a quiet machine is too short on CI's 2 busy cores, and too long elsewhere.
 */

/**
 * Polls `check` until it holds; rejects after `timeoutMs` with `what` (what did not happen) and, if given,
 * `detail()` (e.g. the daemon's last log lines).
 */
export async function until(check: () => boolean | Promise<boolean>, what: string, options: { timeoutMs?: number; detail?: () => string } = {}): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 20_000;
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${options.detail ? `\n${options.detail()}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
