import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { logLines, startCli } from '../helpers/cli.js';
import { ForwardClient } from '../helpers/forward-client.js';
import { RawOtlpClient, simpleRequest } from '../helpers/otlp-client.js';

describe('network inputs through the real CLI', () => {
  it('syslog (tcp), otlp_grpc and fluent_forward on port 0 -> file; the bound ports are logged; SIGTERM drains and exits 0', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'dl-e2e-net-'));
    const out = path.join(dir, 'events.jsonl');
    const config = path.join(dir, 'pipeline.yaml');
    await writeFile(config, `data_dir: ${dir}/data
inputs:
  sys: { type: syslog, mode: tcp, address: 127.0.0.1:0 }
  otlp: { type: otlp_grpc, address: 127.0.0.1:0 }
  fwd: { type: fluent_forward, address: 127.0.0.1:0 }
outputs:
  out: { type: file, inputs: [sys, otlp, fwd], path: ${out} }
`);
    const cli = startCli(['run', '-c', config], { stdin: 'ignore' });
    try {
      await cli.waitFor(/syslog \(tcp\) listening/);
      await cli.waitFor(/OTLP gRPC listening/);
      await cli.waitFor(/fluent forward listening/);
      const ports = new Map<string, number>();
      for (const l of logLines(cli.stderr())) if (typeof l.port === 'number') ports.set(String(l.component), l.port);
      expect([...ports.keys()].sort()).toEqual(['fwd', 'otlp', 'sys']);

      await new Promise<void>((resolve, reject) => {
        const s = net.connect(ports.get('sys')!, '127.0.0.1', () => s.end('<11>1 2026-01-01T00:00:00Z host app 1 - - disk failure\n'));
        s.on('error', reject);
        s.on('close', () => resolve());
      });
      const otlp = new RawOtlpClient(ports.get('otlp')!);
      const result = await otlp.export(simpleRequest(100, (i) => `otlp ${i}`));
      otlp.close();
      expect(result.error).toBeNull();
      const fwd = await ForwardClient.connect(ports.get('fwd')!);
      fwd.send(['app.web', [[1_700_000_000, { msg: 'forwarded' }]], { chunk: 'e2e-1' }]);
      await fwd.waitForAck('e2e-1');
      await fwd.close();

      // Delivered acknowledgements mean the OTLP and forward events are in the file already.
      const lines = (await readFile(out, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.filter((e) => String(e.body).startsWith('otlp '))).toHaveLength(100);
      expect(lines.some((e) => (e.body as Record<string, unknown>).msg === 'forwarded')).toBe(true);
      cli.child.kill('SIGTERM');
      const exit = await cli.exited;
      expect(exit.code, exit.stderr).toBe(0);
      const all = (await readFile(out, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { body: unknown; attributes: Record<string, unknown>; source: { input: string } });
      const sys = all.find((e) => e.source.input === 'sys');
      expect(sys).toMatchObject({ body: 'disk failure', attributes: { 'syslog.appname': 'app', 'syslog.severity': 3 } });
      expect(all).toHaveLength(102);
    } finally {
      if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
    }
  });
});
