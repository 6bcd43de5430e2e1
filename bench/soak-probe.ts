/**
 * Loaded into the daemon by `npm run soak` (`node --expose-gc --import dist/bench/soak-probe.js`), never by
 * driftlock itself: every 10 s (SOAK_PROBE_INTERVAL_MS) it runs a full GC, then appends one JSON line to the
 * file SOAK_PROBE_FILE names: heap used after the GC, RSS, external and array buffers, the active handles and
 * requests by type (process.getActiveResourcesInfo(): timers, sockets, file handles...) and the event loop's
 * delay since the last line (max, p99, mean, in ms).
 */
import { appendFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const file = process.env.SOAK_PROBE_FILE;
if (file) {
  const intervalMs = Number(process.env.SOAK_PROBE_INTERVAL_MS ?? 10_000);
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  const gc = (globalThis as { gc?: () => void }).gc;
  const probe = setInterval(() => {
    gc?.();
    const mem = process.memoryUsage();
    const resources: Record<string, number> = {};
    for (const type of process.getActiveResourcesInfo()) resources[type] = (resources[type] ?? 0) + 1;
    // The probe's own interval is one of the Timeouts: left out.
    if (resources.Timeout) resources.Timeout -= 1;
    const ms = (ns: number) => Math.round(ns / 1e4) / 100;
    const line = {
      at: Date.now(),
      heapUsed: mem.heapUsed,
      heapTotal: mem.heapTotal,
      rss: mem.rss,
      external: mem.external,
      arrayBuffers: mem.arrayBuffers,
      resources,
      lagMaxMs: ms(lag.max),
      lagP99Ms: ms(lag.percentile(99)),
      lagMeanMs: ms(lag.mean),
    };
    lag.reset();
    try {
      appendFileSync(file, JSON.stringify(line) + '\n');
    } catch {
      // the soak's folder is gone: nothing to report to
    }
  }, intervalMs);
  probe.unref();
}
