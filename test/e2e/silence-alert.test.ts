/**
 * A service that stops logging is reported while it is silent, not when (if ever) its next line comes:
 * the real CLI (`driftlock run`), JSON lines on standard input (kept open: the input is silent, not over),
 * `anomaly_detect` with a small `min_silence`, and a webhook output posting to a receiver on 127.0.0.1.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startCli } from '../helpers/cli.js';
import { ok, startReceiver, cleanUp, type Receiver } from '../helpers/http-receiver.js';
import { NginxLines } from '../helpers/nginx-lines.js';
import { silencePipeline } from '../helpers/silence-pipeline.js';
import { tempDir } from '../helpers/temp.js';

let receiver: Receiver | undefined;
afterEach(async () => {
  await cleanUp(receiver);
  receiver = undefined;
});

interface Posted {
  entry: string;
  anomaly?: { kind: string; why: string; stream_id: string; confidence: number; resolved?: boolean };
  event: { body: string; timestamp?: number; source: { input: string } };
}

/** Lines of service `svc` at 20/s, stamped from `from` to `to` (epoch ms). */
function linesOf(svc: string, seed: number, from: number, to: number): string[] {
  const gen = new NginxLines(seed, from);
  const out: string[] = [];
  while (gen.time < to) out.push(JSON.stringify({ ...gen.record(), svc }));
  return out;
}

describe('a stream that falls silent, through the real CLI and a webhook', () => {
  it('is reported once while the input is still open and silent; a file of last week read at once is not', async () => {
    receiver = await startReceiver(ok);
    const dir = await tempDir('dl-silence-');
    const config = await silencePipeline(dir, receiver.url);
    const cli = startCli(['run', '-c', config]);
    const silences = (): Posted[] => receiver!.accepted()
      .map((r) => JSON.parse(r.body) as Posted)
      .filter((e) => e.anomaly?.kind === 'volume_drop' && !e.anomaly.resolved);
    const backs = (): Posted[] => receiver!.accepted().map((r) => JSON.parse(r.body) as Posted).filter((e) => e.anomaly?.resolved === true);
    try {
      await cli.waitFor(/driftlock running/);
      const now = Date.now();
      // 45 s of a live service, its last line stamped now; and a day of last week's log, read in one go.
      const live = linesOf('live', 3, now - 45_000, now - 20);
      const old = linesOf('old', 4, now - 8 * 86_400_000, now - 8 * 86_400_000 + 45_000);
      cli.child.stdin!.write([...old, ...live].join('\n') + '\n');
      const wrote = Date.now();
      await receiver.waitFor(() => silences().length > 0, 20_000, 'the silence alert');
      const arrived = Date.now();
      // Two more checks' worth of silence: still one alert, and none for the old file's stream.
      await new Promise((r) => setTimeout(r, 2500));
      expect(cli.child.exitCode).toBeNull();
      const found = silences();
      expect(found).toHaveLength(1);
      const alert = found[0]!;
      expect(alert.anomaly!.stream_id).toBe('live');
      expect(alert.anomaly!.why).toMatch(/^volume dropped: no events for \d+ s so far vs typical \d+\/s \(still silent\)$/);
      expect(alert.entry).toMatch(/^stream live silent: no events for \d+ s vs typical \d+\/s$/);
      expect(alert.event.source.input).toBe('detect');
      expect(alert.event.timestamp).toBeGreaterThan(now);
      // Whole milliseconds, as every other event's (it was 1795744080446.7983: a receiver decoding it into
      // an int64, as Go's encoding/json does, refused the whole alert).
      expect(Number.isInteger(alert.event.timestamp)).toBe(true);
      // At least the 3 s of silence, and soon after (checks run every second).
      expect(arrived - wrote).toBeGreaterThanOrEqual(3000);
      expect(arrived - wrote).toBeLessThan(15_000);
      expect(backs()).toEqual([]);
      // The service comes back: its first line does not report the same silence again, but says it is back
      // (once), so that the incident can be closed.
      cli.child.stdin!.write(linesOf('live', 5, Date.now() - 2000, Date.now() - 20).join('\n') + '\n');
      await receiver.waitFor(() => backs().length > 0, 10_000, 'the notice that the stream is back');
      await new Promise((r) => setTimeout(r, 1500));
      expect(silences()).toHaveLength(1);
      const back = backs();
      expect(back).toHaveLength(1);
      expect(back[0]!.anomaly).toMatchObject({ kind: 'volume_drop', stream_id: 'live', resolved: true, confidence: alert.anomaly!.confidence });
      expect(back[0]!.anomaly!.why).toMatch(/^stream live back: events again after \d+ s of silence \(its last event before was at 20\d\d-/);
      expect(back[0]!.entry).toBe(back[0]!.anomaly!.why);
    } finally {
      cli.child.stdin!.end();
    }
    const result = await cli.exited;
    expect(result.code, result.stderr.slice(-3000)).toBe(0);
  }, 60_000);
});
