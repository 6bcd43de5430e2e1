/**
 * `demo`: generates realistic nginx access lines at a steady rate, like Vector's `demo_logs`, so that a
 * pipeline shows something without any service to read from. Seeded, so runs can be repeated.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { duration } from '../config/schema.js';
import { defineInput } from '../engine/component.js';
import type { LogEvent } from '../engine/event.js';

export const demoConfig = z.object({
  format: z.enum(['nginx_json', 'nginx_combined']).default('nginx_json').describe('`nginx_json`: one JSON object per line with nginx variable names; `nginx_combined`: the classic combined access format.'),
  rate: z.number().positive().default(10).describe('Lines per second.'),
  count: z.number().int().min(0).default(0).describe('Stop after this many lines; 0 runs until the daemon stops.'),
  seed: z.number().int().default(42).describe('Seed of the random generator: the same seed gives the same lines.'),
  incident_interval: duration().prefault('0s').describe(
    'Every this long (after twice this long of normal traffic), stage an incident, in turn: slow responses (`response_time` x100), a burst of `503` errors on `POST /login`, an SQL injection in the user agent, 20x the rate for 10 s. `0s`: normal traffic only.',
  ),
});

/** mulberry32: a small, fast, seedable PRNG; good enough for traffic that only has to look real. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ROUTES: Array<[method: string, path: string, weight: number, bytes: number]> = [
  ['GET', '/api/v1/users', 20, 1024],
  ['GET', '/api/v1/users/{id}', 15, 512],
  ['GET', '/api/v1/orders?page={n}', 12, 4096],
  ['POST', '/api/v1/orders', 6, 256],
  ['GET', '/static/app.{hex}.js', 10, 182_000],
  ['GET', '/static/styles.{hex}.css', 6, 24_000],
  ['GET', '/health', 8, 2],
  ['POST', '/login', 4, 128],
  ['GET', '/', 8, 5120],
  ['PUT', '/api/v1/users/{id}', 3, 512],
  ['DELETE', '/api/v1/orders/{id}', 1, 0],
];
const AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15',
  'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
  'curl/8.5.0',
  'kube-probe/1.31',
  'python-requests/2.32.3',
];
const REFERERS = ['-', '-', 'https://example.com/', 'https://example.com/orders', 'https://www.google.com/'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

export type DemoIncident = 'latency' | 'errors' | 'injection' | 'spike';
export const DEMO_INCIDENTS: DemoIncident[] = ['latency', 'errors', 'injection', 'spike'];

export class AccessLogGenerator {
  private readonly random: () => number;
  private forcedRoute: [string, string, number, number] | undefined;
  private readonly totalWeight = ROUTES.reduce((s, r) => s + r[2], 0);
  private readonly clients: string[];

  constructor(seed: number) {
    this.random = seededRandom(seed);
    this.clients = Array.from({ length: 40 }, () => `${this.int(1, 223)}.${this.int(0, 255)}.${this.int(0, 255)}.${this.int(1, 254)}`);
  }

  private int(lo: number, hi: number): number {
    return lo + Math.floor(this.random() * (hi - lo + 1));
  }

  private pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.random() * list.length)]!;
  }

  /** One access record with nginx variable names; `response_time` in seconds. */
  record(now: number): Record<string, string | number> {
    let w = this.random() * this.totalWeight;
    let route = ROUTES[0]!;
    for (const r of ROUTES) {
      w -= r[2];
      if (w <= 0) {
        route = r;
        break;
      }
    }
    const [method, template, , bytes] = this.forcedRoute ?? route;
    const path = template
      .replace('{id}', String(this.int(1, 99_999)))
      .replace('{n}', String(this.int(1, 20)))
      .replace('{hex}', this.int(0x10000000, 0xffffffff).toString(16));
    const roll = this.random();
    let status = method === 'POST' ? 201 : 200;
    if (template.startsWith('/static') && roll < 0.3) status = 304;
    else if (roll > 0.995) status = 500;
    else if (roll > 0.97) status = 404;
    else if (template === '/login' && roll > 0.9) status = 401;
    // Log-normal latency around 45 ms, as real services look.
    const gaussian = Math.sqrt(-2 * Math.log(1 - this.random())) * Math.cos(2 * Math.PI * this.random());
    const responseTime = Math.round(0.045 * Math.exp(0.35 * gaussian) * 1000) / 1000;
    return {
      timestamp: new Date(now).toISOString(),
      remote_addr: this.pick(this.clients),
      request: `${method} ${path} HTTP/1.1`,
      status,
      body_bytes_sent: status === 304 || status >= 400 ? (status >= 400 ? 153 : 0) : Math.max(0, Math.round(bytes * (0.8 + 0.4 * this.random()))),
      http_referer: this.pick(REFERERS),
      http_user_agent: this.pick(AGENTS),
      response_time: responseTime,
    };
  }

  /** Lines of a staged incident (the spike is a rate, staged by the input, not lines). */
  incident(kind: Exclude<DemoIncident, 'spike'>, now: number, format: 'nginx_json' | 'nginx_combined'): string[] {
    const out: string[] = [];
    if (kind === 'latency') {
      for (let i = 0; i < 5; i++) out.push(this.line(now, format, (r) => (r.response_time = Math.round(Number(r.response_time) * 100 * 1000) / 1000)));
    } else if (kind === 'errors') {
      this.forcedRoute = ['POST', '/login', 1, 128];
      for (let i = 0; i < 5; i++) out.push(this.line(now, format, (r) => ((r.status = 503), (r.body_bytes_sent = 153))));
      this.forcedRoute = undefined;
    } else {
      out.push(this.line(now, format, (r) => (r.http_user_agent = "Mozilla/5.0' UNION SELECT username, password FROM users WHERE '1'='1' --")));
    }
    return out;
  }

  line(now: number, format: 'nginx_json' | 'nginx_combined', alter?: (r: Record<string, string | number>) => void): string {
    const r = this.record(now);
    alter?.(r);
    if (format === 'nginx_json') return JSON.stringify(r);
    const d = new Date(now);
    const pad = (n: number) => String(n).padStart(2, '0');
    const time = `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
    return `${r.remote_addr} - - [${time}] "${r.request}" ${r.status} ${r.body_bytes_sent} "${r.http_referer}" "${r.http_user_agent}" ${r.response_time}`;
  }
}

export const demoInput = defineInput({
  type: 'demo',
  description: 'Generates realistic nginx access lines (JSON or combined format) at a set rate, for trying pipelines out.',
  config: demoConfig,
  example: { type: 'demo', format: 'nginx_json', rate: 10 },
  build(config) {
    return {
      async run(ctx) {
        const generator = new AccessLogGenerator(config.seed);
        const tickMs = 100;
        const started = Date.now();
        // Lines of normal traffic, on the rate's schedule; a spike or an incident adds lines on top without
        // shifting it.
        let scheduled = 0;
        // Every line, an incident's and a spike's too: what `count` stops at.
        let sent = 0;
        const room = () => (config.count === 0 ? Infinity : config.count - sent);
        let incidents = 0;
        let nextIncident = config.incident_interval > 0 ? started + 2 * config.incident_interval : Infinity;
        let spikeUntil = 0;
        let spikeOwed = 0;
        while (!ctx.signal.aborted && (config.count === 0 || sent < config.count)) {
          const now = Date.now();
          // Catch up to where the rate says we should be, so that slow ticks do not lower the rate.
          const due = Math.floor(((now - started) / 1000) * config.rate) + 1;
          const n = Math.min(Math.max(0, due - scheduled), room());
          const events: LogEvent[] = [];
          const push = (line: string) => {
            events.push({ observedTimestamp: now, body: line, attributes: {}, source: { input: ctx.id } });
            sent++;
          };
          for (let i = 0; i < n; i++) push(generator.line(now, config.format));
          scheduled += n;
          if (now >= nextIncident && room() > 0) {
            const kind = DEMO_INCIDENTS[incidents++ % DEMO_INCIDENTS.length]!;
            nextIncident += config.incident_interval;
            ctx.logger.info({ incident: kind }, 'demo: staging an incident');
            if (kind === 'spike') spikeUntil = now + 10_000;
            else for (const line of generator.incident(kind, now, config.format).slice(0, room())) push(line);
          }
          if (now < spikeUntil) {
            spikeOwed += (19 * config.rate * tickMs) / 1000;
            for (; spikeOwed >= 1 && room() > 0; spikeOwed--) push(generator.line(now, config.format));
          }
          if (events.length) {
            ctx.metrics.add('received_events_total', events.length);
            await ctx.emit(events);
          }
          if (config.count > 0 && sent >= config.count) break;
          await sleep(tickMs, undefined, { signal: ctx.signal }).catch(() => undefined);
        }
      },
    };
  },
});
