import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listeningPort, startCli } from '../helpers/cli.js';
import { RawOtlpClient } from '../helpers/otlp-client.js';
import { tempDir } from '../helpers/temp.js';

describe('otlp_grpc: severity numbers outside 1..24 through the real CLI', () => {
  it('a record with a negative severity_number is printed by a pretty console output, and the Export call is answered', async () => {
    const dir = await tempDir('dl-e2e-otlp-sev-');
    const config = path.join(dir, 'pipeline.yaml');
    await writeFile(config, `data_dir: ${dir}/data
inputs:
  otlp: { type: otlp_grpc, address: 127.0.0.1:0 }
outputs:
  screen: { type: console, inputs: [otlp], encoding: pretty }
`);
    const cli = startCli(['run', '-c', config], { stdin: 'ignore' });
    try {
      await cli.waitFor(/OTLP gRPC listening/);
      const port = listeningPort(cli.stderr(), 'otlp');
      const client = new RawOtlpClient(port);
      // SeverityNumber is an open proto3 enum: any int32 arrives as it was sent.
      const record = (severityNumber: number, text: string) => ({ severityNumber, body: { stringValue: text } });
      const result = await Promise.race([
        client.export({ resourceLogs: [{ scopeLogs: [{ logRecords: [record(-5, 'negative severity'), record(1000, 'huge severity'), record(9, 'plain info')] }] }] }),
        new Promise<'no answer'>((resolve) => setTimeout(() => resolve('no answer'), 5000)),
      ]);
      client.close();
      expect(result).not.toBe('no answer');
      expect((result as { error: unknown }).error).toBeNull();
      await cli.waitFor(/plain info/, 'stdout');
      expect(cli.stdout()).toMatch(/negative severity/);
      expect(cli.stdout()).toMatch(/FATAL .*huge severity/);
      expect(cli.stdout()).toMatch(/INFO .*plain info/);
      expect(cli.stderr()).not.toMatch(/TypeError/);
      cli.child.kill('SIGTERM');
      expect((await cli.exited).code).toBe(0);
    } finally {
      if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
    }
  });
});
