/** Counters of a component: a family with labels of its own, as `/metrics` writes it, through a reload and in the exit summary. */
import { describe, expect, it } from 'vitest';
import { ComponentMetrics, renderPrometheus } from '../../src/engine/metrics.js';
import { componentRows, parsePrometheus } from '../../src/cli/top.js';

describe('ComponentMetrics with labelled counters', () => {
  it('writes one series per label value beside the component labels, each from 0, and sums them where one number is asked for', () => {
    const m = new ComponentMetrics('detect', 'transform', 'anomaly_detect');
    m.declare('received_events_total');
    m.declareEach('anomalies_total', 'kind', ['field_value', 'new_pattern']);
    m.add('anomalies_total', 2, { kind: 'field_value' });
    m.add('anomalies_total', 1, { kind: 'volume_spike' });
    m.add('received_events_total', 10);
    const text = renderPrometheus(m.samples());
    expect(text).toContain('driftlock_anomalies_total{component_id="detect",component_kind="transform",component_type="anomaly_detect",kind="field_value"} 2\n');
    expect(text).toContain('driftlock_anomalies_total{component_id="detect",component_kind="transform",component_type="anomaly_detect",kind="new_pattern"} 0\n');
    expect(text).toContain('driftlock_anomalies_total{component_id="detect",component_kind="transform",component_type="anomaly_detect",kind="volume_spike"} 1\n');
    // One HELP and TYPE for the family.
    expect(text.match(/# TYPE driftlock_anomalies_total counter/g)).toHaveLength(1);
    expect(m.get('anomalies_total')).toBe(3);
    expect(m.get('anomalies_total', { kind: 'field_value' })).toBe(2);
    expect(m.get('anomalies_total', { kind: 'content' })).toBe(0);
    // A name counted both with and without labels (a plugin's): get() says what the exit summary says.
    const mixed = new ComponentMetrics('p', 'output', 'plugin');
    mixed.add('sent_batches_total', 2);
    mixed.add('sent_batches_total', 2, { route: 'a' });
    expect(mixed.get('sent_batches_total')).toBe(4);
    expect(mixed.snapshot()).toEqual({ sent_batches_total: 4 });
    // The exit summary and `driftlock top` say the total.
    expect(m.snapshot()).toEqual({ anomalies_total: 3, received_events_total: 10 });
    expect(componentRows(parsePrometheus(text))[0]!.metrics.get('anomalies_total')).toBe(3);
  });

  it('carries each series over a reload, a kind the new pipeline has not counted yet too', () => {
    const before = new ComponentMetrics('detect', 'transform', 'anomaly_detect');
    before.declareEach('anomalies_total', 'kind', ['field_value']);
    before.add('anomalies_total', 5, { kind: 'field_value' });
    before.add('anomalies_total', 2, { kind: 'volume_drop' });
    const after = new ComponentMetrics('detect', 'transform', 'anomaly_detect');
    after.declareEach('anomalies_total', 'kind', ['field_value']);
    after.carryOver(before);
    after.add('anomalies_total', 1, { kind: 'field_value' });
    const series = after.samples().filter((s) => s.name === 'driftlock_anomalies_total').map((s) => [s.labels.kind, s.value]);
    expect(series).toEqual([['field_value', 6], ['volume_drop', 2]]);
    // No series without the label beside them (sum() would count twice).
    expect(after.samples().some((s) => s.name === 'driftlock_anomalies_total' && s.labels.kind === undefined)).toBe(false);
  });

  it("writes a plugin's labels so that Prometheus takes the scrape: names made valid, its component_id not taking the component's place, one series whatever their order, values escaped, also after a reload", () => {
    const counts = (m: ComponentMetrics) => {
      // A plugin written in JavaScript passes what it likes.
      m.add('hits_total', 1, { route: '/a "b"\nc', code: '200' });
      m.add('hits_total', 1, { code: '200', route: '/a "b"\nc' });
      m.add('errors_by_code_total', 1, { 'status-code': '500', '2xx': 'no' });
      m.add('spoofed_total', 1, { component_id: 'other' });
      m.add('typed_total', 1, { code: 404 } as unknown as Record<string, string>);
    };
    const before = new ComponentMetrics('plug', 'transform', 'my_plugin');
    counts(before);
    const after = new ComponentMetrics('plug', 'transform', 'my_plugin');
    after.carryOver(before);
    counts(after);
    for (const [m, n] of [[before, 1], [after, 2]] as const) {
      const lines = renderPrometheus(m.samples()).split('\n').filter((l) => l !== '' && !l.startsWith('#'));
      const component = 'component_id="plug",component_kind="transform",component_type="my_plugin"';
      expect(lines).toEqual([
        `driftlock_hits_total{${component},code="200",route="/a \\"b\\"\\nc"} ${2 * n}`,
        `driftlock_errors_by_code_total{${component},_2xx="no",status_code="500"} ${n}`,
        `driftlock_spoofed_total{${component},exported_component_id="other"} ${n}`,
        `driftlock_typed_total{${component},code="404"} ${n}`,
      ]);
      // Every label name is one Prometheus takes.
      for (const l of lines) for (const [, name] of l.matchAll(/[{,]([^=]+)=/g)) expect(name).toMatch(/^[a-zA-Z_][a-zA-Z0-9_]*$/);
      // This pipeline's own count, asked with the labels in either order.
      expect(m.get('hits_total', { route: '/a "b"\nc', code: '200' })).toBe(2);
      expect(componentRows(parsePrometheus(renderPrometheus(m.samples())))[0]!.metrics.get('hits_total')).toBe(2 * n);
    }
  });
});
