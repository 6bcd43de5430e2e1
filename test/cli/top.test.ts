/** `driftlock top`'s reading of /metrics and its table, on what the daemon's own exporter writes. */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { componentRows, parsePrometheus, renderTop, runTop } from '../../src/cli/top.js';
import { ComponentMetrics, renderPrometheus } from '../../src/engine/metrics.js';
import { startReceiver } from '../helpers/http-receiver.js';

function reading(received: number, sent: number, errors = 0, uptime = 12.5): string {
  const input = new ComponentMetrics('app "logs"\\n', 'input', 'file').declare('received_events_total', 'sent_events_total', 'errors_total');
  input.add('received_events_total', received);
  input.add('sent_events_total', sent);
  input.add('errors_total', errors);
  const out = new ComponentMetrics('out', 'output', 'webhook').declare('received_events_total', 'sent_events_total', 'rejected_events_total', 'discarded_events_total');
  out.add('received_events_total', sent);
  out.add('rejected_events_total', 2);
  out.add('discarded_events_total', 3);
  out.gauge('buffer_events', () => 7);
  return renderPrometheus([...input.samples(), ...out.samples()]) + `driftlock_process_uptime_seconds ${uptime}\n`;
}

describe('driftlock top', () => {
  it('reads the exporter\'s text back: names, escaped label values, values', () => {
    const samples = parsePrometheus(reading(10, 8, 1));
    expect(samples.find((s) => s.name === 'driftlock_received_events_total')).toEqual({
      name: 'driftlock_received_events_total',
      labels: { component_id: 'app "logs"\\n', component_kind: 'input', component_type: 'file' },
      value: 10,
    });
    expect(samples.find((s) => s.name === 'driftlock_process_uptime_seconds')!.value).toBe(12.5);
    const rows = componentRows(samples);
    expect(rows.map((r) => [r.id, r.kind, r.type])).toEqual([['app "logs"\\n', 'input', 'file'], ['out', 'output', 'webhook']]);
    expect(rows[1]!.metrics.get('buffer_events')).toBe(7);
  });

  it('shows rates between two readings, totals, buffer, errors and drops, inputs first', () => {
    const first = componentRows(parsePrometheus(reading(100, 90)));
    const second = componentRows(parsePrometheus(reading(400, 350, 4)));
    const table = renderTop(second.reverse(), first, 2, 'header');
    const lines = table.split('\n');
    expect(lines[0]).toBe('header');
    expect(lines[2]!.split(/\s{2,}/)).toEqual(['COMPONENT', 'KIND', 'TYPE', 'IN/S', 'OUT/S', 'IN', 'OUT', 'BUFFER', 'ERRORS', 'DROPPED', 'RESTARTS']);
    // (400 - 100) / 2 s in, (350 - 90) / 2 out; the output's drops are its rejected and discarded events.
    expect(lines[3]).toMatch(/^app "logs"\\n\s+input\s+file\s+150\s+130\s+400\s+350\s+-\s+4\s+0\s+0$/);
    expect(lines[4]).toMatch(/^out\s+output\s+webhook\s+130\s+0\s+350\s+0\s+7\s+0\s+5\s+0$/);
    // The first reading has no rates yet.
    expect(renderTop(first, undefined, 0, 'h').split('\n')[3]).toMatch(/^app "logs"\\n\s+input\s+file\s+…\s+…\s+100/);
  });

  it('counts in DROPPED the events a transform dropped when it failed on them (on_error: drop), not those it passed on', () => {
    const drops = new ComponentMetrics('scrub', 'transform', 'redact');
    drops.add('failed_events_total', 6, { outcome: 'dropped' });
    const passes = new ComponentMetrics('tag', 'transform', 'tagger');
    passes.add('failed_events_total', 4, { outcome: 'passed' });
    const rows = componentRows(parsePrometheus(renderPrometheus([...drops.samples(), ...passes.samples()])));
    const lines = renderTop(rows, undefined, 0, 'h').split('\n');
    expect(lines[3]).toMatch(/^scrub\s+transform\s+redact(\s+\S+){6}\s+6\s+0$/);
    expect(lines[4]).toMatch(/^tag\s+transform\s+tagger(\s+\S+){6}\s+0\s+0$/);
  });

  it('counts from 0 again when the daemon restarted between two readings (its counters began again)', async () => {
    // A daemon at 10,000 events, then one started 0.05 s before the second reading, at 300: 6,000 a second.
    // Before, the negative difference was shown as 0/s.
    const daemon = await startReceiver((req) => {
      if (req.path === '/health') return { status: 200, body: '{"status":"ok"}' };
      const first = daemon.requests.filter((r) => r.path === '/metrics').length === 1;
      return { status: 200, body: first ? reading(10_000, 9_000, 0, 100) : reading(300, 290, 0, 0.05) };
    });
    let out = '';
    const stdout = new Writable({ write: (chunk: Buffer, _enc, done) => ((out += chunk.toString()), done()) });
    try {
      expect(await runTop({ api: `127.0.0.1:${daemon.port}`, intervalMs: 100, count: 2, redraw: false }, { stdout, stderr: stdout })).toBe(0);
    } finally {
      await daemon.close();
    }
    const second = out.split(/^driftlock at /m).filter(Boolean)[1]!;
    const row = second.split('\n').find((l) => l.startsWith('app'))!;
    expect(row).toMatch(/input\s+file\s+6,000\s+5,800\s+300\s+290\s/);
  });

  it('takes a counter below its last reading as one that started again, not as 0 a second', () => {
    const before = componentRows(parsePrometheus(reading(10_000, 9_000)));
    const after = componentRows(parsePrometheus(reading(300, 290)));
    expect(renderTop(after, before, 2, 'h').split('\n')[3]).toMatch(/input\s+file\s+150\s+145\s+300\s+290\s/);
  });
});
