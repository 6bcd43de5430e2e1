/** Seeded nginx JSON access lines for tests: a steady baseline and hand-placed incidents. */

import type { NginxJsonRecord } from '../../eval/datasets.js';
import { seededRandom as mulberry32 } from '../../eval/random.js';

const PATHS = ['/api/v1/users', '/api/v1/orders', '/api/v1/cart', '/index.html', '/static/app.js', '/static/app.css', '/health'];
const AGENTS = [
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0',
  'curl/8.5.0',
];

/** The nginx JSON shape of the datasets README (the eval harness's definition). */
export type AccessRecord = NginxJsonRecord;

export class NginxLines {
  private readonly random: () => number;
  time: number;

  constructor(seed = 1, start = Date.parse('2025-01-01T12:00:00Z'), readonly perSecond = 20) {
    this.random = mulberry32(seed);
    this.time = start;
  }

  /** The next normal record, its time ~Poisson at `perSecond`. */
  record(overrides: Partial<AccessRecord> = {}): AccessRecord {
    const r = this.random;
    this.time += Math.round((-Math.log(1 - r()) / this.perSecond) * 1000);
    const path = PATHS[Math.floor(r() * PATHS.length)]!;
    const normal = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
    return {
      timestamp: new Date(this.time).toISOString(),
      remote_addr: `10.0.${Math.floor(r() * 4)}.${1 + Math.floor(r() * 250)}`,
      request: `GET ${path} HTTP/1.1`,
      status: 200,
      body_bytes_sent: 800 + Math.floor(r() * 400),
      http_referer: 'https://example.com/',
      http_user_agent: AGENTS[Math.floor(r() * AGENTS.length)]!,
      response_time: Number((0.05 * Math.exp(0.3 * normal)).toFixed(3)),
      ...overrides,
    };
  }

  line(overrides: Partial<AccessRecord> = {}): string {
    return JSON.stringify(this.record(overrides));
  }

  lines(n: number): string[] {
    return Array.from({ length: n }, () => this.line());
  }

  /** The same record in nginx's combined text format. */
  combined(overrides: Partial<AccessRecord> = {}): string {
    const rec = this.record(overrides);
    const d = new Date(rec.timestamp);
    const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
    const p = (n: number) => String(n).padStart(2, '0');
    const t = `${p(d.getUTCDate())}/${months[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
    return `${rec.remote_addr} - - [${t}] "${rec.request}" ${rec.status} ${rec.body_bytes_sent} "${rec.http_referer}" "${rec.http_user_agent}"`;
  }
}

export const SQL_INJECTION = "' UNION SELECT username, password FROM users WHERE '1'='1' --";
