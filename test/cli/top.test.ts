/** `driftlock top`'s reading of /metrics and its table, on what the daemon's own exporter writes. */
import { describe, expect, it } from 'vitest';
import { componentRows, parsePrometheus, renderTop } from '../../src/cli/top.js';
import { ComponentMetrics, renderPrometheus } from '../../src/engine/metrics.js';

function reading(received: number, sent: number, errors = 0): string {
  const input = new ComponentMetrics('app "logs"\\n', 'input', 'file').declare('received_events_total', 'sent_events_total', 'errors_total');
  input.add('received_events_total', received);
  input.add('sent_events_total', sent);
  input.add('errors_total', errors);
  const out = new ComponentMetrics('out', 'output', 'webhook').declare('received_events_total', 'sent_events_total', 'rejected_events_total', 'discarded_events_total');
  out.add('received_events_total', sent);
  out.add('rejected_events_total', 2);
  out.add('discarded_events_total', 3);
  out.gauge('buffer_events', () => 7);
  return renderPrometheus([...input.samples(), ...out.samples()]) + 'driftlock_process_uptime_seconds 12.5\n';
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
});
