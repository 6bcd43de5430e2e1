/**
 * Deterministic event generators for the detector tests: a seeded PRNG (mulberry32), nginx-like structured
 * events and plain text lines, with explicit event times (epoch ms) moving forward at a fixed rate.
 */
import { expect } from 'vitest';
import type { Anomaly, DetectorInput } from '../../src/detector/index.js';

// The evaluation harness's seeded PRNG (mulberry32, uniform in [0, 1)) and its helpers.
import { gaussian, pick, seededRandom as mulberry32 } from '../../eval/random.js';

export { gaussian, mulberry32, pick };

/** Start of every generated stream: 2024-05-01T00:00:00Z. */
export const T0 = Date.UTC(2024, 4, 1);
/** 20 events per second. */
export const STEP_MS = 50;

/** A handful of browsers: after masking the version numbers, four distinct values (a categorical field). */
export const FEW_USER_AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15',
  'Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
] as const;

const PLATFORMS = [
  'Windows NT 10.0; Win64; x64',
  'Macintosh; Intel Mac OS X 10_15_7',
  'X11; Linux x86_64',
  'X11; Ubuntu; Linux x86_64',
  'Linux; Android 14; Pixel 8',
  'Linux; Android 13; SM-S918B',
  'iPhone; CPU iPhone OS 17_4 like Mac OS X',
  'iPad; CPU OS 17_4 like Mac OS X',
];
const ENGINES = [
  'AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  'AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51',
  'AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15',
  'Gecko/20100101 Firefox/125.0',
  'AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36',
  'AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 OPR/109.0.0.0',
];
/**
 * Browser strings built from 8 platforms x 6 engines: 48 distinct values after masking, more than a
 * categorical baseline keeps (32), so the detector treats the field as free text, as real user agents are.
 */
export const MANY_USER_AGENTS: readonly string[] = PLATFORMS.flatMap((p) => ENGINES.map((e) => `Mozilla/5.0 (${p}) ${e}`));

export const PATHS = ['/', '/index.html', '/api/users', '/api/orders', '/static/app.js', '/static/style.css', '/login'] as const;

export const SQL_INJECTION = "' UNION SELECT username, password FROM users --";

/** A feed reader's user agent (from the web eval's log, where it polls every few hours): new syntax, legitimate. */
export const FEED_READER_USER_AGENT = 'LiveJournal.com (webmaster@livejournal.com; for http://www.livejournal.com/users/cshpsionic/; 5 readers)';
/** A phone's user agent that came 15 times within minutes in the web eval's log. */
export const PHONE_USER_AGENT = 'LAVA.KKT35+.FARSIGHTED60D_CN_11B_HW (MAUI/KKT35_S116_20130820;BDATE/2013/08/20 14:41;LCD/240320;CHIP/MT6260;KEY/Normal;TOUCH/0;CAMERA/1)';

export interface NginxOptions {
  seed?: number;
  userAgents?: readonly string[];
  start?: number;
  stepMs?: number;
}

/**
 * nginx-like structured events: method, path, status (200/304), response_time (log-normal around 0.05 s),
 * http_user_agent, body_bytes_sent (log-normal around 2000). `next(overrides)` returns the next event, its
 * time advanced by `stepMs`; `advance(ms)` moves the clock without an event.
 */
export class NginxTraffic {
  private readonly rnd: () => number;
  private readonly userAgents: readonly string[];
  private readonly stepMs: number;
  time: number;

  constructor(options: NginxOptions = {}) {
    this.rnd = mulberry32(options.seed ?? 42);
    this.userAgents = options.userAgents ?? FEW_USER_AGENTS;
    this.stepMs = options.stepMs ?? STEP_MS;
    this.time = options.start ?? T0;
  }

  fields(overrides: Record<string, unknown> = {}): Record<string, unknown> {
    const r = this.rnd;
    return {
      method: r() < 0.8 ? 'GET' : 'POST',
      path: pick(r, PATHS),
      status: r() < 0.97 ? 200 : 304,
      response_time: Number((0.05 * Math.exp(0.3 * gaussian(r))).toFixed(4)),
      http_user_agent: pick(r, this.userAgents),
      body_bytes_sent: Math.round(2000 * Math.exp(0.5 * gaussian(r))),
      ...overrides,
    };
  }

  next(overrides: Record<string, unknown> = {}, stepMs = this.stepMs): DetectorInput {
    this.time += stepMs;
    const fields = this.fields(overrides);
    return { time: this.time, text: JSON.stringify(fields), fields };
  }

  advance(ms: number): void {
    this.time += ms;
  }
}

/** `INFO: User logged in user_id=N` lines, 20 per second. */
export class LoginLines {
  private readonly rnd: () => number;
  time: number;

  constructor(seed = 7, start = T0) {
    this.rnd = mulberry32(seed);
    this.time = start;
  }

  next(stepMs = STEP_MS): DetectorInput {
    this.time += stepMs;
    return { time: this.time, text: `INFO: User logged in user_id=${1 + Math.floor(this.rnd() * 100_000)}` };
  }

  /** Any text at the next tick. */
  line(text: string, stepMs = STEP_MS): DetectorInput {
    this.time += stepMs;
    return { time: this.time, text };
  }
}

/** What every anomaly must carry, whatever its kind. */
export function expectWellFormed(a: Anomaly, streamId: string): void {
  expect(a.stream_id).toBe(streamId);
  expect(a.template.length).toBeGreaterThan(0);
  expect(a.why.trim().length).toBeGreaterThan(0);
  expect(Number.isFinite(a.score)).toBe(true);
  expect(a.confidence).toBeGreaterThanOrEqual(0);
  expect(a.confidence).toBeLessThanOrEqual(1);
  expect(Number.isInteger(a.template_id)).toBe(true);
}
