/**
 * `driftlock top`: a live table of a running daemon's components, as `vector top`: events in and out per
 * second, errors, what waits in each buffer, what was discarded or rejected, from the API's `/metrics`
 * (`api.enabled: true`) read every `--interval`. On a terminal the table is redrawn in place; otherwise one
 * table is printed per reading.
 */
import http from 'node:http';
import type { Writable } from 'node:stream';
import { apiTarget, apiUnreachable } from './tap.js';

export interface TopOptions {
  api: string;
  intervalMs: number;
  /** Tables to print before exiting, 0 for no end. */
  count: number;
  /** Redraw in place (a terminal). */
  redraw: boolean;
}

/** One metric line of the Prometheus text format: its name, labels and value. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Reads the Prometheus text format (as `/metrics` writes it): `name{label="value",...} number` lines. */
export function parsePrometheus(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

interface Row {
  id: string;
  kind: string;
  type: string;
  metrics: Map<string, number>;
}

/** The components of a `/metrics` reading, in the order they first appear, with their metrics by short name. */
export function componentRows(samples: readonly Sample[]): Row[] {
  const rows = new Map<string, Row>();
  for (const s of samples) {
    const id = s.labels['component_id'];
    if (id === undefined) continue;
    let row = rows.get(id);
    if (!row) rows.set(id, (row = { id, kind: s.labels['component_kind'] ?? '', type: s.labels['component_type'] ?? '', metrics: new Map() }));
    // A family with labels of its own (`anomalies_total` by `kind`) is its sum; but a transform's failed
    // events by outcome: those it dropped count as dropped, those it passed on do not.
    const name = s.name.replace(/^driftlock_/, '') + (s.name === 'driftlock_failed_events_total' ? `{${s.labels['outcome'] ?? ''}}` : '');
    row.metrics.set(name, (row.metrics.get(name) ?? 0) + s.value);
  }
  return [...rows.values()];
}

const KIND_ORDER: Record<string, number> = { input: 0, transform: 1, output: 2 };

function number(n: number): string {
  return n >= 100 || Number.isInteger(n) ? Math.round(n).toLocaleString('en-US') : n.toFixed(1);
}

/** The table for a reading, with rates against the reading before it (`previous`, `seconds` apart). */
export function renderTop(rows: readonly Row[], previous: readonly Row[] | undefined, seconds: number, header: string): string {
  const before = new Map((previous ?? []).map((r) => [r.id, r]));
  const rate = (r: Row, name: string): string => {
    const was = before.get(r.id)?.metrics.get(name);
    const now = r.metrics.get(name);
    if (now === undefined) return '-';
    if (was === undefined || seconds <= 0) return '…';
    // A counter below its last reading started again from 0 (a daemon restarted): what it counted since then.
    return number((now >= was ? now - was : now) / seconds);
  };
  const total = (r: Row, ...names: string[]): string => number(names.reduce((sum, n) => sum + (r.metrics.get(n) ?? 0), 0));
  const head = ['COMPONENT', 'KIND', 'TYPE', 'IN/S', 'OUT/S', 'IN', 'OUT', 'BUFFER', 'ERRORS', 'DROPPED', 'RESTARTS'];
  const sorted = [...rows].sort((a, b) => (KIND_ORDER[a.kind] ?? 3) - (KIND_ORDER[b.kind] ?? 3));
  const body = sorted.map((r) => [
    r.id, r.kind, r.type,
    rate(r, 'received_events_total'), rate(r, 'sent_events_total'),
    total(r, 'received_events_total'), total(r, 'sent_events_total'),
    r.metrics.has('buffer_events') ? total(r, 'buffer_events') : '-',
    total(r, 'errors_total'),
    total(r, 'discarded_events_total', 'rejected_events_total', 'abandoned_events_total', 'failed_events_total{dropped}'),
    total(r, 'restarts_total'),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  // Names left, numbers right.
  const line = (cells: string[]) => cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [header, '', line(head), ...body.map(line), ''].join('\n') + '\n';
}

function get(target: { host: string; port: number }, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: target.host, port: target.port, path, agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    }).on('error', reject).on('timeout', function (this: http.ClientRequest) {
      this.destroy(new Error('no answer within 5 s'));
    });
  });
}

/** Runs until `count` tables were printed, or Ctrl-C; returns the exit code (2 when the API cannot be read). */
export async function runTop(o: TopOptions, io: { stdout: Writable; stderr: Writable }): Promise<number> {
  const target = apiTarget(o.api);
  if ('problem' in target) {
    io.stderr.write(`driftlock top: --api ${JSON.stringify(o.api)} ${target.problem}\n`);
    return 2;
  }
  const { where } = target;
  let previous: Row[] | undefined;
  let previousAt = 0;
  let previousUptime: number | undefined;
  for (let shown = 0; o.count === 0 || shown < o.count; shown++) {
    if (shown > 0) await new Promise((r) => setTimeout(r, o.intervalMs));
    let metrics: { status: number; body: string };
    let health: { status: number; body: string } | undefined;
    try {
      [metrics, health] = await Promise.all([get(target, '/metrics'), get(target, '/health').catch(() => undefined)]);
    } catch (err) {
      io.stderr.write(apiUnreachable('top', where, err as NodeJS.ErrnoException));
      return 2;
    }
    if (metrics.status !== 200) {
      io.stderr.write(`driftlock top: ${where}/metrics answered ${metrics.status}\n`);
      return 2;
    }
    const at = performance.now();
    const samples = parsePrometheus(metrics.body);
    const rows = componentRows(samples);
    const of = (name: string) => samples.find((s) => s.name === name)?.value;
    let state = '';
    try {
      if (health) state = (JSON.parse(health.body) as { status?: string }).status ?? '';
    } catch {
      // not driftlock's answer: no state shown
    }
    const rss = of('driftlock_process_resident_memory_bytes');
    const uptime = of('driftlock_process_uptime_seconds');
    const header = `driftlock at ${where}${state ? `  ${state}` : ''}${uptime !== undefined ? `  up ${Math.round(uptime)} s` : ''}${rss !== undefined ? `  RSS ${Math.round(rss / 1048576)} MiB` : ''}  (every ${o.intervalMs / 1000} s; Ctrl-C to stop)`;
    let seconds = (at - previousAt) / 1000;
    if (previous && uptime !== undefined && previousUptime !== undefined && uptime < previousUptime) {
      // The daemon restarted between the readings: its counters began at 0 `uptime` seconds ago, whatever
      // the last reading said (they may have passed its values already).
      previous = rows.map((r) => ({ ...r, metrics: new Map([...r.metrics.keys()].map((k) => [k, 0])) }));
      seconds = Math.min(seconds, uptime);
    }
    const table = renderTop(rows, previous, seconds, header);
    io.stdout.write(o.redraw ? `\x1b[H\x1b[2J${table}` : table);
    previous = rows;
    previousAt = at;
    previousUptime = uptime;
  }
  return 0;
}
