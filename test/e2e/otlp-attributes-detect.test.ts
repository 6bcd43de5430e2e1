/**
 * OTLP records whose body is text and whose structure is in their attributes (as OpenTelemetry SDKs send
 * them), through the real CLI: `anomaly_detect` watching `attributes.*` judges those attributes.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listeningPort, startCli } from '../helpers/cli.js';
import { RawOtlpClient } from '../helpers/otlp-client.js';
import { tempDir } from '../helpers/temp.js';
import { until } from '../helpers/wait.js';

interface Flagged { body: string; attributes: { anomaly: { kind: string; field?: string; why: string } } }

describe('anomaly_detect watching OTLP record attributes (fields: [attributes.NAME])', () => {
  it('flags a new status code and the first exception.type of a service whose records are text with attributes', async () => {
    const dir = await tempDir('dl-e2e-otlp-attrs-');
    const config = path.join(dir, 'pipeline.yaml');
    const out = path.join(dir, 'anomalies.jsonl');
    await writeFile(config, `data_dir: ${dir}/data
inputs:
  otlp: { type: otlp_grpc, address: 127.0.0.1:0 }
transforms:
  detect:
    type: anomaly_detect
    inputs: [otlp]
    stream_id: checkout
    fields: [attributes.http.response.status_code, attributes.exception.type, attributes.http.route]
outputs:
  out: { type: file, inputs: [detect], path: ${out} }
`);
    const cli = startCli(['run', '-c', config], { stdin: 'ignore' });
    try {
      await cli.waitFor(/OTLP gRPC listening/);
      const port = listeningPort(cli.stderr(), 'otlp');
      const client = new RawOtlpClient(port);
      // 20 records a second of event time, ending now.
      const count = 1500;
      const start = BigInt(Date.now() - count * 50) * 1_000_000n;
      const attr = (key: string, value: object) => ({ key, value });
      const record = (i: number, status: number, extra: object[] = []) => ({
        timeUnixNano: (start + BigInt(i) * 50_000_000n).toString(),
        severityNumber: status >= 500 ? 17 : 9,
        body: { stringValue: 'request handled' },
        attributes: [attr('http.route', { stringValue: i % 3 ? '/api/orders' : '/api/cart' }), attr('http.response.status_code', { intValue: status }), ...extra],
      });
      const send = async (records: object[]) => {
        const r = await client.export({ resourceLogs: [{ resource: { attributes: [attr('service.name', { stringValue: 'checkout' })] }, scopeLogs: [{ logRecords: records }] }] });
        expect(r.error).toBeNull();
      };
      for (let i = 0; i < count - 2; i += 100) await send(Array.from({ length: Math.min(100, count - 2 - i) }, (_, k) => record(i + k, 200)));
      await send([record(count - 2, 503), record(count - 1, 200, [attr('exception.type', { stringValue: 'java.net.SocketTimeoutException' })])]);
      client.close();
      // The two flagged records, once written (the file output writes each batch as it comes).
      let flagged: Flagged[] = [];
      await until(
        async () => {
          flagged = (await readFile(out, 'utf8').catch(() => '')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Flagged);
          return flagged.length >= 2;
        },
        'out.log holding the 2 flagged records',
        { timeoutMs: 15_000, detail: () => `${flagged.length} flagged so far\n${cli.stderr().slice(-2000)}` },
      );
      const byField = new Map(flagged.map((f) => [f.attributes.anomaly.field, f.attributes.anomaly]));
      expect(byField.get('attributes.http.response.status_code')).toMatchObject({ kind: 'field_category', why: expect.stringMatching(/^attributes\.http\.response\.status_code "503" never seen before/) as string });
      expect(byField.get('attributes.exception.type')).toMatchObject({ kind: 'new_field', why: expect.stringMatching(/^new field attributes\.exception\.type, in none of this stream's 1,499 events before: "java\.net\.SocketTimeoutException"$/) as string });
      // Nothing else: the normal records, judged by the same attributes, are not flagged.
      expect(flagged).toHaveLength(2);
      cli.child.kill('SIGTERM');
      expect((await cli.exited).code).toBe(0);
    } finally {
      if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
    }
  });
});
