/**
 * Pipelines a reload replaced can be collected while an input they handed over runs on. Before, each stayed
 * reachable through the kept input's `done` (every pipeline's Promise.all, and the daemon's wait on it),
 * with its transforms' state: a detector of 200 streams, 137 MB a reload.
 */
import { describe, expect, it } from 'vitest';
import { builtModule, runWithGc } from '../helpers/gc-child.js';
import { tempDir } from '../helpers/temp.js';

describe('reload memory', () => {
  it('ten reloads that keep an input running leave none of the replaced pipelines reachable but the first (whose run the input still is), and that one emptied', async () => {
    const dir = await tempDir('dl-reload-memory-');
    const script = `
      const { Pipeline } = await import(${builtModule('dist/src/engine/pipeline.js')});
      const { parseConfig } = await import(${builtModule('dist/src/config/load.js')});
      const { createRegistry } = await import(${builtModule('dist/src/components.js')});
      const { pino } = await import('pino');
      const logger = pino({ level: 'silent' });
      const yaml = \`data_dir: ${dir}/data
inputs:
  gen: { type: demo, rate: 200 }
transforms:
  det: { type: anomaly_detect, inputs: [gen], snapshot_interval: 0s }
outputs:
  out: { type: file, inputs: [det], path: ${dir}/out.jsonl }
\`;
      const config = () => parseConfig(yaml, 'p.yaml', createRegistry(), { env: {} });
      let p = new Pipeline(await config(), { logger });
      await p.start();
      const refs = [];
      const detectors = [];
      for (let i = 0; i < 10; i++) {
        await new Promise((r) => setTimeout(r, 100));
        const { held } = await p.handOver(new Set(['gen']));
        // As the daemon does (src/cli/run.ts): a closure over the running pipeline waits on its done.
        const current = p;
        current.done.then(() => p === current && console.error('done'));
        refs.push(new WeakRef(p));
        detectors.push(new WeakRef(p.metrics().find((m) => m.id === 'det')));
        p = new Pipeline(await config(), { logger, carryMetricsFrom: current.metrics({ handedOver: false }), adopt: held });
        await p.start();
        current.dispose();
      }
      for (let i = 0; i < 5; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 20)); }
      const alive = refs.slice(1).filter((r) => r.deref() !== undefined).length;
      const detectorsAlive = detectors.filter((r) => r.deref() !== undefined).length;
      await p.stop();
      process.stdout.write(JSON.stringify({ alive, detectorsAlive }));
      process.exit(0);`;
    const { alive, detectorsAlive } = JSON.parse(runWithGc(script)) as { alive: number; detectorsAlive: number };
    // Before: 9 of the 9 (not counting the first) still reachable, each with its detector.
    expect(alive).toBe(0);
    expect(detectorsAlive).toBe(0);
  }, 60_000);

  it('the daemon itself (runDaemon, SIGHUP): after 6 reloads only the pipeline running and the first (whose run the kept input still is) are reachable', async () => {
    const dir = await tempDir('dl-reload-daemon-memory-');
    const script = `
      const { writeFileSync } = await import('node:fs');
      const http = await import('node:http');
      const { Pipeline } = await import(${builtModule('dist/src/engine/pipeline.js')});
      const { runDaemon } = await import(${builtModule('dist/src/cli/run.js')});
      // Each pipeline the daemon starts, held weakly.
      const refs = [];
      const start = Pipeline.prototype.start;
      Pipeline.prototype.start = function (...args) { refs.push(new WeakRef(this)); return start.apply(this, args); };
      const server = http.createServer((req, res) => { req.resume(); req.on('end', () => res.writeHead(200).end()); });
      await new Promise((r) => server.listen(0, '127.0.0.1', r));
      const config = (n) => \`data_dir: ${dir}/data
log_level: error
inputs:
  gen: { type: demo, rate: 200 }
outputs:
  hook: { type: webhook, inputs: [gen], url: http://127.0.0.1:\${server.address().port}/h, batch: { max_events: \${n % 2 ? 5 : 10} } }
\`;
      writeFileSync('${dir}/p.yaml', config(0));
      const done = runDaemon({ configFile: '${dir}/p.yaml' });
      for (let j = 0; j < 200 && refs.length < 1; j++) await new Promise((r) => setTimeout(r, 25));
      for (let i = 1; i <= 6; i++) {
        writeFileSync('${dir}/p.yaml', config(i));
        process.kill(process.pid, 'SIGHUP');
        for (let j = 0; j < 400 && refs.length < i + 1; j++) await new Promise((r) => setTimeout(r, 25));
        await new Promise((r) => setTimeout(r, 300));
      }
      for (let i = 0; i < 5; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 20)); }
      const alive = refs.map((r, i) => (r.deref() === undefined ? -1 : i)).filter((i) => i >= 0);
      process.kill(process.pid, 'SIGTERM');
      await done;
      server.close();
      process.stdout.write(JSON.stringify({ started: refs.length, alive }));
      process.exit(0);`;
    const { started, alive } = JSON.parse(runWithGc(script)) as { started: number; alive: number[] };
    expect(started).toBe(7);
    // Before: all 7 (each reload's wait for its start left a listener on the daemon's stop signal that held it).
    expect(alive).toEqual([0, 6]);
  }, 60_000);
});

