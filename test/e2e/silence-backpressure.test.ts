/**
 * A stream is not silent because the pipeline in front of the detector is stalled: the same input also
 * feeds an output that cannot write (its standard output, a pipe nobody reads), its buffer fills, and the
 * input stops reading. The service goes on logging the whole time; no `volume_drop` may be posted.
 * The real CLI (`driftlock run`), JSON lines on standard input written live, a webhook receiver for the alerts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startCli } from '../helpers/cli.js';
import { ok, startReceiver, cleanUp, type Receiver } from '../helpers/http-receiver.js';
import { NginxLines } from '../helpers/nginx-lines.js';
import { silencePipeline } from '../helpers/silence-pipeline.js';
import { tempDir } from '../helpers/temp.js';

/** Lines of 3 KB: the pipe of standard output fills within seconds. */
const PAD = 'x'.repeat(3000);
let alerts: Receiver | undefined;
afterEach(async () => {
  await cleanUp(alerts);
  alerts = undefined;
});

describe('a stalled pipeline in front of anomaly_detect', () => {
  it('reports no silence of a stream that kept logging while a sibling output blocked the input', async () => {
    alerts = await startReceiver(ok);
    const dir = await tempDir('dl-stall-');
    const config = await silencePipeline(dir, alerts.url, `  archive: { type: console, inputs: [app], buffer: { max_events: 20 } }\n`);
    const cli = startCli(['run', '-c', config]);
    // Lines still waiting in the pipe when the process is killed: EPIPE, no failure of the test's.
    cli.child.stdin!.on('error', () => {});
    const silences = () => alerts!.accepted().map((r) => JSON.parse(r.body) as { anomaly?: { kind: string; why: string } }).filter((e) => e.anomaly?.kind === 'volume_drop');
    const gen = new NginxLines(3, Date.now() - 45_000);
    const write = (to: number) => {
      const out: string[] = [];
      while (gen.time < to) out.push(JSON.stringify({ ...gen.record(), svc: 'live', pad: PAD }));
      if (out.length) cli.child.stdin!.write(out.join('\n') + '\n');
    };
    let writer: NodeJS.Timeout | undefined;
    try {
      await cli.waitFor(/driftlock running/);
      // 45 s of a live service, then its lines as they are written, every 50 ms, all along.
      write(Date.now() - 20);
      writer = setInterval(() => write(Date.now() - 20), 50);
      await new Promise((r) => setTimeout(r, 3000));
      expect(silences()).toEqual([]);
      // Standard output is no longer read (a full pipe, as a stuck log shipper's): the console output
      // blocks, its buffer fills, and standard input is no longer read.
      cli.child.stdout!.pause();
      await new Promise((r) => setTimeout(r, 9000));
      expect(silences().map((e) => e.anomaly!.why)).toEqual([]);
    } finally {
      clearInterval(writer);
      cli.child.kill('SIGKILL');
    }
    await cli.exited;
  }, 60_000);
});
