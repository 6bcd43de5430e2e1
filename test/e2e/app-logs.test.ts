/**
 * Application logs (not access logs) through the real daemon: file input with a multiline preset -> parse ->
 * anomaly_detect -> file output, and what the alerts say.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

/** An event as the file output writes it, with what these tests read of it. */
interface OutEvent {
  body: unknown;
  attributes: { 'parse.error'?: string; anomaly?: { kind: string; why: string; confidence: number } };
  source: { offset?: number };
}

async function readJsonLines(file: string): Promise<OutEvent[]> {
  if (!existsSync(file)) return [];
  const text = await readFile(file, 'utf8');
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as OutEvent);
}

/** Runs `pipeline` until `done` holds for the output file's events (or 20 s), then stops it with SIGTERM. */
async function runUntil(dir: string, pipeline: string, out: string, done: (events: OutEvent[]) => boolean): Promise<OutEvent[]> {
  const file = path.join(dir, 'pipeline.yaml');
  await writeFile(file, pipeline);
  const cli = startCli(['run', '-c', file], { stdin: 'ignore' });
  const started = Date.now();
  let events = await readJsonLines(out);
  while (!done(events) && Date.now() - started < 20_000 && cli.child.exitCode === null) {
    await new Promise((r) => setTimeout(r, 100));
    events = await readJsonLines(out);
  }
  cli.child.kill('SIGTERM');
  const result = await cli.exited;
  expect(result.code, result.stderr).toBe(0);
  return readJsonLines(out);
}

/** A pipeline tailing `log` from its start with a multiline preset, through `transforms` (the last one is `detect`), to a file. */
function tailPipeline(dir: string, log: string, preset: string, out: string, transforms: string): string {
  return `data_dir: ${dir}/data
inputs:
  app:
    type: file
    include: [${log}]
    start_at: beginning
    multiline: { preset: ${preset}, timeout: 200ms }
transforms:${transforms}
outputs:
  out: { type: file, inputs: [detect], path: ${out} }
`;
}

// A Go service's logfmt lines (log/slog's text handler), 10 a second, then a panic with its goroutine dump.
function goServiceLog(): { text: string; panic: string } {
  const lines: string[] = [];
  let t = Date.parse('2026-11-25T10:00:00Z');
  for (let i = 0; i < 400; i++, t += 100) {
    const ts = new Date(t).toISOString();
    lines.push(i % 4 === 3
      ? `time=${ts} level=INFO msg="label printed" carrier=${['dhl', 'ups', 'fedex'][i % 3]} shipment=${1000 + ((i * 7919) % 9000)}`
      : `time=${ts} level=INFO msg="request served" method=GET path=/v2/shipments/${1000 + ((i * 104729) % 9000)} status=200 duration_ms=${10 + ((i * 31) % 30)}`);
  }
  const panic = `panic: runtime error: invalid memory address or nil pointer dereference
[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x6b8a4d]

goroutine 4711 [running]:
github.com/acme/shipper/internal/carrier.(*Client).Quote(0x0, {0x7f3a2c, 0xc000123450}, 0xc0004a6000)
\t/src/internal/carrier/client.go:88 +0x4d
net/http.HandlerFunc.ServeHTTP(0xc000010000?, {0x8a1f20?, 0xc0002e0000?}, 0x0?)
\t/usr/local/go/src/net/http/server.go:2136 +0x29
created by net/http.(*Server).Serve in goroutine 1
\t/usr/local/go/src/net/http/server.go:3086 +0x5cb
exit status 2`;
  lines.push(panic);
  for (let i = 0; i < 5; i++, t += 100) lines.push(`time=${new Date(t).toISOString()} level=INFO msg="request served" method=GET path=/v2/shipments/1234 status=200 duration_ms=12`);
  return { text: lines.join('\n') + '\n', panic };
}

// A Java service's plain-text log (logback's default layout), 10 lines a second, then a new exception.
function javaServiceLog(): { text: string; trace: string } {
  const lines: string[] = [];
  let t = Date.parse('2026-11-25T10:00:00Z');
  const ts = () => new Date(t).toISOString().replace('T', ' ').slice(0, 23);
  for (let i = 0; i < 400; i++, t += 100) {
    lines.push(i % 3 === 2
      ? `${ts()} INFO  [http-nio-8080-exec-${1 + (i % 8)}] c.a.orders.OrderService - Order ${100000 + ((i * 7919) % 900000)} created for user ${1000 + ((i * 104729) % 90000)}`
      : `${ts()} INFO  [http-nio-8080-exec-${1 + (i % 8)}] c.a.orders.OrderController - GET /api/orders/${1000 + ((i * 31337) % 90000)} -> 200 in ${5 + ((i * 13) % 50)} ms`);
  }
  const trace = `${ts()} ERROR [http-nio-8080-exec-3] c.a.orders.OrderService - Failed to persist order 771234
org.springframework.dao.DataAccessResourceFailureException: Unable to acquire JDBC Connection
\tat org.springframework.orm.jpa.vendor.HibernateJpaDialect.convertHibernateAccessException(HibernateJpaDialect.java:277)
\tat org.springframework.orm.jpa.JpaTransactionManager.doBegin(JpaTransactionManager.java:467)
\tat com.acme.orders.OrderService.persist(OrderService.java:88)
Caused by: java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available, request timed out after 30004ms.
\tat com.zaxxer.hikari.pool.HikariPool.createTimeoutException(HikariPool.java:696)
\t... 114 common frames omitted`;
  lines.push(trace);
  t += 100;
  for (let i = 0; i < 5; i++, t += 100) lines.push(`${ts()} INFO  [http-nio-8080-exec-1] c.a.orders.OrderController - GET /api/orders/4242 -> 200 in 12 ms`);
  return { text: lines.join('\n') + '\n', trace };
}

describe('application logs through the daemon', () => {
  it('a Go panic joined by the go preset stays text through parse(logfmt) and alerts whole, instead of becoming bare-word fields', async () => {
    const dir = await tempDir('dl-app-');
    const log = path.join(dir, 'shipper.log');
    const { text, panic } = goServiceLog();
    await writeFile(log, text);
    const out = path.join(dir, 'all.jsonl');
    const events = await runUntil(dir, tailPipeline(dir, log, 'go', out, `
  parse: { type: parse, inputs: [app], format: logfmt }
  detect: { type: anomaly_detect, inputs: [parse], stream_id: shipper, emit: all }`), out, (e) => e.length >= 406);
    expect(events).toHaveLength(406);
    const panicEvent = events[400]!;
    // Before: parsed as logfmt, {"panic:": true, "runtime": true, ..., "code": "0x1", ...}, and not flagged.
    expect(panicEvent.body).toBe(panic);
    expect(panicEvent.attributes['parse.error']).toMatch(/line break/);
    expect(panicEvent.attributes.anomaly?.kind).toBe('new_pattern');
    expect(panicEvent.attributes.anomaly?.why).toMatch(/^new fatal pattern "panic: runtime error: .*invalid memory address/);
    // The service's own lines are still logfmt.
    expect(events[0]!.body).toMatchObject({ level: 'INFO', msg: 'request served', status: '200' });
  });
  it('a Java stack trace is one event, one alert, and its why quotes the line that logged it, not the last frame', async () => {
    const dir = await tempDir('dl-app-');
    const log = path.join(dir, 'orders.log');
    const { text, trace } = javaServiceLog();
    await writeFile(log, text);
    const out = path.join(dir, 'alerts.jsonl');
    const alerts = await runUntil(dir, tailPipeline(dir, log, 'java', out, `
  detect: { type: anomaly_detect, inputs: [app], stream_id: orders }`), out, (e) => e.length >= 1);
    expect(alerts.map((a) => a.body)).toEqual([trace]);
    const why = alerts[0]!.attributes.anomaly!.why;
    // Before: 'new error pattern "<ts> ERROR [http-nio-<num>-exe…ol.createTimeoutException(HikariPool.java:<num>)
    // ... <num> common frames omitted" (first seen): ...': the message that logged the trace was the part cut.
    expect(why).toMatch(/^new error pattern "<ts> ERROR \[http-nio-<num>-exec-<num>\] c\.a\.orders\.OrderService - Failed to persist order <num>" and 7 more lines(?: \(first seen\))?: unexplained text "/);
    expect(why).not.toMatch(/frames omitted/);
  });
});
