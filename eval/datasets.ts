/**
 * Loaders and preparers for `npm run eval`, following the protocols of `../shared/datasets/README.md`.
 *
 * Everything here except the `load*`/`read*` helpers is pure: text in, text (and ground truth) out. The
 * runner writes the prepared files to a temporary folder; nothing derived from the datasets is ever
 * written into the repository. Line numbers are 1-based and count `\n`-terminated lines, like the `line`
 * field of `driftlock scan --output json` (a last line without a terminator still counts).
 *
 * The harness parses the datasets with its own small parsers, never with the product's: ground truth must
 * not depend on the code under test.
 */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { exponential, logNormal, pick, randomInt, sampleWithoutReplacement, seededRandom, shuffled, type Random } from './random.js';

// ---------------------------------------------------------------------------------------------------------
// Where the datasets are

/** `../shared/datasets`, relative to the project root. Read-only: never copy its files into the project. */
export function datasetsDir(projectRoot: string): string {
  return path.resolve(projectRoot, '../shared/datasets');
}

export const DATASET_FILES = {
  bgl: 'loghub/BGL_2k.log',
  access: 'web/apache_access_2015.log',
  payloads: 'web/payloads',
} as const;

/** Unlabeled system logs used for the false-alarm rate on steady traffic. */
export const STEADY_FILES = ['loghub/HDFS_2k.log', 'loghub/Apache_2k.log', 'loghub/OpenSSH_2k.log', 'loghub/Linux_2k.log'] as const;

// ---------------------------------------------------------------------------------------------------------
// Lines

/**
 * Splits text into lines the way a line reader numbers them: on `\n`, each line keeping its terminator
 * (`\r\n` or `\n`; the last line may have none). `splitKeepingEnds(x).join('') === x` always.
 */
export function splitKeepingEnds(text: string): string[] {
  if (text === '') return [];
  const out: string[] = [];
  let start = 0;
  for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
    out.push(text.slice(start, nl + 1));
    start = nl + 1;
  }
  if (start < text.length) out.push(text.slice(start));
  return out;
}

/** Drops one trailing `\n`, `\r\n` or `\r`. */
export function stripLineEnd(line: string): string {
  let end = line.length;
  if (end > 0 && line.charCodeAt(end - 1) === 10) end--;
  if (end > 0 && line.charCodeAt(end - 1) === 13) end--;
  return line.slice(0, end);
}

/** The lines of a file, without terminators, numbered as `splitKeepingEnds` numbers them. */
export function splitLines(text: string): string[] {
  return splitKeepingEnds(text).map(stripLineEnd);
}

// ---------------------------------------------------------------------------------------------------------
// BGL_2k: labeled per line

/** A maximal run of consecutive anomalous lines, 1-based and inclusive. */
export interface Episode {
  start: number;
  end: number;
}

export interface BglDataset {
  /** The file the detector reads: the original bytes with each line's label and the space after it removed. */
  text: string;
  /** Lines of `text`, without terminators. */
  lines: string[];
  /** The label of each line: `-` normal, else an alert category such as `KERNDTLB`. */
  labels: string[];
  /** `anomalous[i]` is the truth for line `i + 1`. */
  anomalous: boolean[];
  episodes: Episode[];
}

/** Maximal runs of `true`, as 1-based inclusive line ranges. */
export function findEpisodes(anomalous: readonly boolean[]): Episode[] {
  const episodes: Episode[] = [];
  let start = 0;
  for (let i = 0; i <= anomalous.length; i++) {
    const a = i < anomalous.length && anomalous[i] === true;
    if (a && start === 0) start = i + 1;
    if (!a && start !== 0) {
      episodes.push({ start, end: i });
      start = 0;
    }
  }
  return episodes;
}

const LABEL = /^(\S+) /;

/**
 * Strips the first token (the label) and the one space after it from every line; everything else, line
 * ends included (CRLF), stays byte for byte. Throws on a line that has no label.
 */
export function prepareBgl(raw: string): BglDataset {
  const labels: string[] = [];
  const kept: string[] = [];
  splitKeepingEnds(raw).forEach((line, i) => {
    const m = LABEL.exec(line);
    if (!m) throw new Error(`BGL line ${i + 1} has no label: ${JSON.stringify(line.slice(0, 80))}`);
    labels.push(m[1]!);
    kept.push(line.slice(m[0].length));
  });
  const anomalous = labels.map((l) => l !== '-');
  return { text: kept.join(''), lines: kept.map(stripLineEnd), labels, anomalous, episodes: findEpisodes(anomalous) };
}

// ---------------------------------------------------------------------------------------------------------
// Access logs: combined format in, nginx JSON out

/** One line of the Apache/nginx "combined" access format. */
export interface AccessRecord {
  remoteAddr: string;
  /** Epoch ms of `[time_local]`. */
  time: number;
  request: string;
  status: number;
  /** `-` is 0. */
  bytes: number;
  referer: string;
  userAgent: string;
}

/** The nginx JSON access shape of the datasets README, keys in this order. */
export interface NginxJsonRecord {
  timestamp: string;
  remote_addr: string;
  request: string;
  status: number;
  body_bytes_sent: number;
  http_referer: string;
  http_user_agent: string;
  /** Seconds. The 2015 access log has none: the harness synthesises it (see `syntheticResponseTime`). */
  response_time: number;
}

const COMBINED = /^(\S+) \S+ .*? \[([^\]]+)\] "((?:[^"\\]|\\.)*)" (\d{3}) (\d+|-)(?: "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)")?/;
const TIME_LOCAL = /^(\d{2})\/([A-Za-z]{3})\/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/;
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/** `17/May/2015:10:05:03 +0000` to epoch ms; undefined when it is not that shape. */
export function parseAccessTime(text: string): number | undefined {
  const m = TIME_LOCAL.exec(text);
  if (!m) return undefined;
  const month = MONTHS.indexOf(m[2]!.toLowerCase());
  if (month < 0) return undefined;
  const offset = (Number(m[8]) * 60 + Number(m[9])) * 60_000 * (m[7] === '-' ? -1 : 1);
  return Date.UTC(Number(m[3]), month, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6])) - offset;
}

const unescapeQuoted = (s: string): string => s.replace(/\\(["\\])/g, '$1');

/** Parses one combined-format line; undefined when it does not have that shape. */
export function parseCombinedLine(line: string): AccessRecord | undefined {
  const m = COMBINED.exec(stripLineEnd(line));
  if (!m) return undefined;
  const time = parseAccessTime(m[2]!);
  if (time === undefined) return undefined;
  return {
    remoteAddr: m[1]!,
    time,
    request: unescapeQuoted(m[3]!),
    status: Number(m[4]),
    bytes: m[5] === '-' ? 0 : Number(m[5]),
    referer: unescapeQuoted(m[6] ?? '-'),
    userAgent: unescapeQuoted(m[7] ?? '-'),
  };
}

/** Parses every line; throws naming the first line that is not combined format. */
export function parseAccessLog(lines: readonly string[]): AccessRecord[] {
  return lines.map((line, i) => {
    const r = parseCombinedLine(line);
    if (!r) throw new Error(`access log line ${i + 1} is not combined format: ${JSON.stringify(line.slice(0, 120))}`);
    return r;
  });
}

/** Median of the synthesised response times, seconds. */
export const RESPONSE_TIME_MEDIAN = 0.05;
/** Standard deviation of log(response_time): about ±40% for one sigma, as healthy services look. */
export const RESPONSE_TIME_SIGMA = 0.35;

/** A plausible response time in seconds, log-normal around 50 ms, rounded to the millisecond (>= 1 ms). */
export function syntheticResponseTime(random: Random): number {
  return Math.max(0.001, Math.round(logNormal(random, RESPONSE_TIME_MEDIAN, RESPONSE_TIME_SIGMA) * 1000) / 1000);
}

export function toNginxJson(r: AccessRecord, responseTime: number, timeMs: number = r.time): NginxJsonRecord {
  return {
    timestamp: new Date(timeMs).toISOString(),
    remote_addr: r.remoteAddr,
    request: r.request,
    status: r.status,
    body_bytes_sent: r.bytes,
    http_referer: r.referer,
    http_user_agent: r.userAgent,
    response_time: responseTime,
  };
}

/** One JSON line in the README's key order (JSON escaping makes any payload safe in any field). */
export function serializeNginx(r: NginxJsonRecord): string {
  return JSON.stringify({
    timestamp: r.timestamp,
    remote_addr: r.remote_addr,
    request: r.request,
    status: r.status,
    body_bytes_sent: r.body_bytes_sent,
    http_referer: r.http_referer,
    http_user_agent: r.http_user_agent,
    response_time: r.response_time,
  });
}

// ---------------------------------------------------------------------------------------------------------
// Requests and URL encoding

export interface RequestParts {
  method: string;
  /** The path, without the query string. */
  path: string;
  /** The query string without `?`; undefined when the target has no `?`. */
  query: string | undefined;
  protocol: string;
}

/** `GET /a/b?x=1 HTTP/1.1` into its parts; undefined unless it is exactly method, target and protocol. */
export function splitRequest(request: string): RequestParts | undefined {
  const parts = request.split(' ');
  if (parts.length !== 3 || !/^[A-Z]+$/.test(parts[0]!) || !parts[1]!.startsWith('/') || !parts[2]!.startsWith('HTTP/')) return undefined;
  const target = parts[1]!;
  const q = target.indexOf('?');
  return {
    method: parts[0]!,
    path: q === -1 ? target : target.slice(0, q),
    query: q === -1 ? undefined : target.slice(q + 1),
    protocol: parts[2]!,
  };
}

export function joinRequest(p: RequestParts): string {
  return `${p.method} ${p.path}${p.query === undefined ? '' : `?${p.query}`} ${p.protocol}`;
}

// RFC 3986: unreserved, sub-delims, ':' and '@' may appear raw in a path segment; '/' and '?' too in a query.
const URL_SAFE = /[A-Za-z0-9\-._~!$&'()*+,;=:@/]/;

/**
 * Percent-encodes a payload the way curl, sqlmap or a hand-typed browser request puts it on the wire: the
 * minimal RFC 3986 encoding. Characters not allowed in a URI component (space, `"`, `<`, `>`, `\`, `^`,
 * backtick, `{`, `|`, `}`, `[`, `]`, `#`, controls) and non-ASCII (as UTF-8 bytes) become `%XX`, upper
 * case; RFC 3986 sub-delimiters (`' ( ) ; = & + ! $ * ,`) stay raw, as attack tools send them. A `%`
 * already followed by two hex digits is the payload's own encoding and is kept (never double-encoded); a
 * lone `%` becomes `%25`. In a path, `?` is encoded too (it would start the query); in a query it stays.
 */
export function encodeForUrl(payload: string, context: 'path' | 'query'): string {
  let out = '';
  for (let i = 0; i < payload.length; i++) {
    const ch = payload[i]!;
    if (ch === '%' && /^[0-9A-Fa-f]{2}$/.test(payload.slice(i + 1, i + 3))) {
      out += ch;
    } else if (URL_SAFE.test(ch) || (ch === '?' && context === 'query')) {
      out += ch;
    } else {
      const code = payload.codePointAt(i)!;
      const char = String.fromCodePoint(code);
      if (char.length === 2) i++;
      for (const byte of Buffer.from(char, 'utf8')) out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    }
  }
  return out;
}

/** Decodes `%XX` and `+` where possible, for the probe rule only; undecodable text is returned as is. */
export function lenientDecode(text: string): string {
  const plus = text.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(plus);
  } catch {
    return plus.replace(/%([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
  }
}

/**
 * The transparent rule that finds requests of the original log that are probes already (scanners, attack
 * attempts), for reporting only: they stay labelled normal, and the runner says how many of the flagged
 * false positives they account for. Matched, case-insensitively, on the URL-decoded request.
 */
export const PROBE_MARKERS = [
  '../', '..\\', '<script', 'select ', 'union ', '/etc/passwd', 'wp-login', 'wp-admin', '/administrator',
  'admin.php', 'phpmyadmin', 'fckeditor', '${', '{{', '\u0000', 'cmd=',
] as const;

/** The first probe marker found in the request, or undefined. */
export function probeMarker(request: string): string | undefined {
  const text = lenientDecode(request).toLowerCase();
  return PROBE_MARKERS.find((m) => text.includes(m));
}

// ---------------------------------------------------------------------------------------------------------
// Payloads

export const FAMILIES = ['sqli', 'xss', 'traversal', 'command', 'ssti'] as const;
export type Family = (typeof FAMILIES)[number];
export type Location = 'query' | 'path' | 'user_agent';

/** Which payload files make up each family, and where each family's payloads are placed. */
export const FAMILY_SPEC: Record<Family, { files: readonly string[]; locations: readonly Location[] }> = {
  sqli: { files: ['Generic_ErrorBased.txt', 'Generic_TimeBased.txt', 'Generic_UnionSelect.txt', 'Auth_Bypass.txt'], locations: ['query', 'user_agent'] },
  xss: { files: ['IntrudersXSS.txt', 'JHADDIX_XSS.txt', 'XSS_Polyglots.txt'], locations: ['query', 'user_agent'] },
  traversal: { files: ['directory_traversal.txt', 'JHADDIX_LFI.txt'], locations: ['path', 'query'] },
  command: { files: ['command_exec.txt'], locations: ['query', 'user_agent'] },
  ssti: { files: ['ssti.fuzz'], locations: ['query', 'user_agent'] },
};

/**
 * The payloads of one file: one per line, line end removed, otherwise untouched (leading and trailing
 * spaces are part of many payloads, e.g. ` OR 1=1`). Blank lines and comments are skipped; a comment is `#`
 * followed by a space or the end of the line (`# from wapiti`), so Ruby SSTI payloads such as `#{3*3}` stay.
 */
export function parsePayloadFile(text: string): string[] {
  return splitLines(text).filter((l) => l.trim() !== '' && !/^#(\s|$)/.test(l));
}

export type PayloadSet = Record<Family, string[]>;

/** Reads the payload files of every family; each family's payloads are the union of its files, in order. */
export async function loadPayloads(dir: string): Promise<PayloadSet> {
  const available = new Set(await readdir(dir));
  const out = {} as PayloadSet;
  for (const family of FAMILIES) {
    out[family] = [];
    for (const file of FAMILY_SPEC[family].files) {
      if (!available.has(file)) throw new Error(`payload file ${file} (family ${family}) not found in ${dir}`);
      out[family].push(...parsePayloadFile(await readFile(path.join(dir, file), 'utf8')));
    }
  }
  return out;
}

/** Query parameter names used when the original request has no query string to take a name from. */
export const QUERY_PARAMS = ['id', 'q', 'page', 'search', 'name'] as const;

/**
 * Puts a payload into one field of a record (a new object):
 * - `query`: the query string becomes `name=<payload>`, URL-encoded; `name` is the first parameter of the
 *   original query when there is one, else one of `QUERY_PARAMS`;
 * - `path`: the last segment of the path becomes the payload, URL-encoded (a leading `/` of the payload is
 *   dropped to avoid `//`), the directory and any query string are kept;
 * - `user_agent`: the whole user agent becomes the raw payload (JSON escaping happens when serialised).
 */
export function injectPayload(record: NginxJsonRecord, payload: string, location: Location, random: Random): NginxJsonRecord {
  if (location === 'user_agent') return { ...record, http_user_agent: payload };
  const parts = splitRequest(record.request);
  if (!parts) throw new Error(`cannot inject into request ${JSON.stringify(record.request)}`);
  if (location === 'query') {
    const first = parts.query?.split('&')[0]?.split('=')[0];
    const name = first && /^[A-Za-z0-9_.\-[\]]+$/.test(first) ? first : pick(random, QUERY_PARAMS);
    parts.query = `${name}=${encodeForUrl(payload, 'query')}`;
  } else {
    const dir = parts.path.slice(0, parts.path.lastIndexOf('/') + 1);
    parts.path = dir + encodeForUrl(payload.replace(/^\/+/, ''), 'path');
  }
  return { ...record, request: joinRequest(parts) };
}

// ---------------------------------------------------------------------------------------------------------
// The web injection protocol

export interface Injection {
  line: number;
  family: Family;
  location: Location;
  /** The payload as written in its file. */
  payload: string;
  /** The field's value before injection (request or user agent). */
  before: string;
  /** After injection. */
  after: string;
}

export interface WebDataset {
  /** nginx JSON lines, `\n`-terminated. */
  text: string;
  lines: string[];
  /** `labels[i]` for line `i + 1`: the injected family, or null for a normal line. */
  labels: Array<Family | null>;
  injections: Injection[];
  /** Lines of the original log that the probe rule matches (1-based line to marker). Labelled normal. */
  probes: Map<number, string>;
  seed: number;
  warmupLines: number;
}

export interface WebInjectionOptions {
  seed: number;
  /** Lines kept clean at the start (2,000 in the protocol). */
  warmupLines?: number;
  /** Share of the lines after warm-up that get a payload (1% in the protocol). */
  rate?: number;
}

export const WEB_WARMUP_LINES = 2000;
export const WEB_INJECTION_RATE = 0.01;

/**
 * Converts each access line to nginx JSON and injects payloads, per the datasets README.
 *
 * - `timestamp` is the access time; `response_time` is synthesised (log-normal around 50 ms, own seeded
 *   stream), since the 2015 log has none.
 * - Exactly `round(rate * (lines - warmup))` lines after the warm-up are chosen uniformly without
 *   replacement (seeded). Families are dealt evenly (counts differ by at most one) in a seeded order; the
 *   payload is uniform over the family's pooled files; the location is uniform over the family's locations.
 * - Lines whose request is not `METHOD /target HTTP/x` are never chosen (the 2015 log has none).
 *
 * Separate PRNG streams (derived from `seed`) drive latencies, line choice and payload choice, so that
 * changing one never shifts the others.
 */
export function buildWebInjection(accessLines: readonly string[], payloads: PayloadSet, options: WebInjectionOptions): WebDataset {
  const warmupLines = options.warmupLines ?? WEB_WARMUP_LINES;
  const rate = options.rate ?? WEB_INJECTION_RATE;
  const records = parseAccessLog(accessLines);
  const latency = seededRandom(options.seed);
  const choose = seededRandom(options.seed ^ 0x5bd1e995);
  const craft = seededRandom(options.seed ^ 0x27d4eb2f);

  const nginx = records.map((r) => toNginxJson(r, syntheticResponseTime(latency)));
  const probes = new Map<number, string>();
  records.forEach((r, i) => {
    const marker = probeMarker(r.request);
    if (marker !== undefined) probes.set(i + 1, marker);
  });

  const eligible: number[] = [];
  for (let i = warmupLines; i < records.length; i++) if (splitRequest(records[i]!.request)) eligible.push(i);
  const count = Math.round(rate * Math.max(0, records.length - warmupLines));
  const chosen = sampleWithoutReplacement(choose, eligible, Math.min(count, eligible.length));
  const families = shuffled(choose, chosen.map((_, k) => FAMILIES[k % FAMILIES.length]!));

  const labels: Array<Family | null> = records.map(() => null);
  const injections: Injection[] = [];
  chosen.forEach((index, k) => {
    const family = families[k]!;
    const location = pick(craft, FAMILY_SPEC[family].locations);
    const payload = pick(craft, payloads[family]);
    const before = nginx[index]!;
    const after = injectPayload(before, payload, location, craft);
    nginx[index] = after;
    labels[index] = family;
    const field = location === 'user_agent' ? 'http_user_agent' : 'request';
    injections.push({ line: index + 1, family, location, payload, before: before[field], after: after[field] });
  });

  const lines = nginx.map(serializeNginx);
  return { text: lines.map((l) => `${l}\n`).join(''), lines, labels, injections, probes, seed: options.seed, warmupLines };
}

// ---------------------------------------------------------------------------------------------------------
// The seed scenario

export type IncidentId = '1' | '1b' | '2' | '3' | '4' | '5';

export interface SeedIncident {
  id: IncidentId;
  title: string;
  fileName: string;
  /** `--format` to scan it with. */
  format: 'nginx' | 'text';
  text: string;
  lineCount: number;
  /** The lines that are the incident. */
  incidentLines: number[];
  /**
   * Lines where a flag counts as detecting the incident: the incident lines, plus for the volume spike the
   * lines of the 10 s after it (a rate detector may only be sure when the window closes).
   */
  detectionLines: number[];
  /** The why of the best matching anomaly must match this. */
  expectedWhy: RegExp;
  /** `expectedWhy` for people. */
  expectedWhyText: string;
}

export interface SeedOptions {
  seed: number;
  /** Clean lines before the incident. */
  baselineLines?: number;
  /** Clean lines after it. */
  tailLines?: number;
  /** Normal traffic rate, lines per second of event time. */
  linesPerSecond?: number;
  /** Event time of the first line, ISO. */
  start?: string;
}

export const SEED_DEFAULTS = { baselineLines: 3000, tailLines: 1000, linesPerSecond: 20, start: '2025-01-01T12:00:00Z' } as const;
/** Volume spike: this many times the normal rate, for this many seconds of event time. */
export const SPIKE_FACTOR = 20;
export const SPIKE_SECONDS = 10;
/** The SQL injection of incident 3, sent as the whole user agent. */
export const SEED_SQLI_USER_AGENT = "Mozilla/5.0' UNION SELECT username, password FROM users WHERE '1'='1' -- ";

/** `why` expectations per incident (case-insensitive). */
export const EXPECTED_WHY: Record<IncidentId, { pattern: RegExp; text: string }> = {
  '1': { pattern: /\bstatus\b|\b500\b|POST \/login|\bnew\b.{0,40}\b(pattern|template)/i, text: 'status, 500, POST /login, or "new ... pattern"' },
  '1b': { pattern: /\bnew\b.{0,40}\b(pattern|template)|\bERROR\b|Database connection failed|\bseverity\b|\blevel\b/i, text: '"new ... pattern", ERROR, Database connection failed, severity or level' },
  '2': { pattern: /response_time/i, text: 'response_time' },
  '3': { pattern: /http_user_agent/i, text: 'http_user_agent' },
  '4': { pattern: /volume/i, text: 'volume' },
  '5': { pattern: /response_time has (risen|fallen)/i, text: '"response_time has risen"' },
};

/**
 * The slow drift (incident 5, reported, not a target): `DRIFT_BASELINE_MINUTES` of clean traffic at
 * `DRIFT_LINES_PER_SECOND`, then `response_time` scaled up linearly from its ~50 ms to ten times that over
 * `DRIFT_RAMP_MINUTES`, then `DRIFT_AFTER_MINUTES` at ten times. A drift is judged on minutes of event time
 * and needs hours of them, so this file is slower (2 lines/s) and longer (some 32,000 lines) than the others.
 */
export const DRIFT_LINES_PER_SECOND = 2;
export const DRIFT_BASELINE_MINUTES = 180;
export const DRIFT_RAMP_MINUTES = 60;
export const DRIFT_AFTER_MINUTES = 30;
export const DRIFT_FACTOR = 10;

/**
 * Normal nginx JSON traffic for the seed scenario: the clean records of the 2015 log, cycled in order, with
 * new timestamps (a Poisson process at `linesPerSecond`, millisecond resolution) and synthesised response
 * times (log-normal around 50 ms). The same seed gives the same stream.
 */
export class SeedTraffic {
  private index = 0;
  private timeMs: number;
  private readonly arrivals: Random;
  private readonly latency: Random;

  constructor(
    private readonly records: readonly AccessRecord[],
    seed: number,
    startMs: number,
    private readonly linesPerSecond: number,
  ) {
    if (records.length === 0) throw new Error('no records for the seed baseline');
    this.timeMs = startMs;
    this.arrivals = seededRandom(seed);
    this.latency = seededRandom(seed ^ 0x68e31da4);
  }

  /** Event time of the last line produced, epoch ms. */
  get now(): number {
    return this.timeMs;
  }

  /** The next record; `rateFactor` multiplies the arrival rate (20 for the spike). */
  next(rateFactor = 1): NginxJsonRecord {
    this.timeMs += Math.max(0, Math.round(exponential(this.arrivals, 1000 / (this.linesPerSecond * rateFactor))));
    const r = this.records[this.index++ % this.records.length]!;
    return toNginxJson(r, syntheticResponseTime(this.latency), this.timeMs);
  }
}

/** Records fit for a clean baseline: no pre-existing probe, no server error. */
export function cleanRecords(records: readonly AccessRecord[]): AccessRecord[] {
  return records.filter((r) => r.status < 500 && probeMarker(r.request) === undefined && splitRequest(r.request) !== undefined);
}

const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

/**
 * Builds the seed scenario: one file per incident, each `baselineLines` of clean traffic, the incident, then
 * `tailLines` of clean traffic (so every incident is scored on its own, and its why is unambiguous).
 *
 * 1.  new error pattern: 5 lines `POST /login HTTP/1.1` with status 500, interleaved with normal lines;
 * 1b. the same in an app's text log: `INFO: User logged in user_id=N` lines, then 3 lines
 *     `ERROR: Database connection failed`;
 * 2.  `response_time` about 5.0 s (log-normal, sigma 0.05) on 5 consecutive lines, instead of ~0.05 s;
 * 3.  `SEED_SQLI_USER_AGENT` as the user agent of one line;
 * 4.  volume: `SPIKE_FACTOR` times the normal rate for `SPIKE_SECONDS` of event time (~4,000 lines);
 * 5.  a slow drift (reported, not a target): `response_time` from ~0.05 s to ~0.5 s over an hour, after three
 *     hours of clean traffic at 2 lines/s (see `DRIFT_FACTOR`); found on a flag from the ramp on.
 */
export function buildSeedScenario(accessLines: readonly string[], options: SeedOptions): SeedIncident[] {
  const baselineLines = options.baselineLines ?? SEED_DEFAULTS.baselineLines;
  const tailLines = options.tailLines ?? SEED_DEFAULTS.tailLines;
  const rate = options.linesPerSecond ?? SEED_DEFAULTS.linesPerSecond;
  const startMs = Date.parse(options.start ?? SEED_DEFAULTS.start);
  const records = cleanRecords(parseAccessLog(accessLines));
  const traffic = () => new SeedTraffic(records, options.seed, startMs, rate);

  const nginxFile = (
    id: IncidentId,
    title: string,
    fileName: string,
    incident: (t: SeedTraffic, out: NginxJsonRecord[]) => { lines: number[]; detection?: number[] },
  ): SeedIncident => {
    const t = traffic();
    const out: NginxJsonRecord[] = [];
    for (let i = 0; i < baselineLines; i++) out.push(t.next());
    const { lines, detection } = incident(t, out);
    for (let i = 0; i < tailLines; i++) out.push(t.next());
    return {
      id, title, fileName, format: 'nginx',
      text: out.map((r) => `${serializeNginx(r)}\n`).join(''),
      lineCount: out.length,
      incidentLines: lines,
      detectionLines: detection ?? lines,
      expectedWhy: EXPECTED_WHY[id].pattern,
      expectedWhyText: EXPECTED_WHY[id].text,
    };
  };

  const newError = nginxFile('1', 'new error pattern: status 500 on POST /login', 'seed-1-new-error.jsonl', (t, out) => {
    const lines: number[] = [];
    for (let k = 0; k < 10; k++) {
      const r = t.next();
      if (k % 2 === 0) {
        out.push({ ...r, request: 'POST /login HTTP/1.1', status: 500, body_bytes_sent: 177 });
        lines.push(out.length);
      } else {
        out.push(r);
      }
    }
    return { lines };
  });

  const latency = nginxFile('2', 'response_time from ~0.05 s to ~5 s', 'seed-2-latency.jsonl', (t, out) => {
    const jump = seededRandom(options.seed ^ 0x1b873593);
    const lines: number[] = [];
    for (let k = 0; k < 5; k++) {
      out.push({ ...t.next(), response_time: Math.round(logNormal(jump, 5.0, 0.05) * 1000) / 1000 });
      lines.push(out.length);
    }
    return { lines };
  });

  const sqli = nginxFile('3', 'SQL injection in http_user_agent', 'seed-3-sqli-user-agent.jsonl', (t, out) => {
    out.push({ ...t.next(), http_user_agent: SEED_SQLI_USER_AGENT });
    return { lines: [out.length] };
  });

  const volume = nginxFile('4', `volume spike: ${SPIKE_FACTOR}x for ${SPIKE_SECONDS} s`, 'seed-4-volume.jsonl', (t, out) => {
    const spikeStart = t.now;
    const first = out.length + 1;
    // The spike is every line whose event time falls in the SPIKE_SECONDS after the baseline's last line.
    for (;;) {
      const r = t.next(SPIKE_FACTOR);
      if (Date.parse(r.timestamp) >= spikeStart + SPIKE_SECONDS * 1000) {
        out.push(r); // the first line after the spike: normal again
        break;
      }
      out.push(r);
    }
    const last = out.length - 1;
    // Grace period: the lines of the next SPIKE_SECONDS of normal traffic, generated here so they are known.
    const graceEnd = Date.parse(out[out.length - 1]!.timestamp) + SPIKE_SECONDS * 1000;
    while (t.now < graceEnd) out.push(t.next());
    return { lines: range(first, last), detection: range(first, out.length) };
  });

  const appLog = (): SeedIncident => {
    const random = seededRandom(options.seed ^ 0x2545f491);
    let time = startMs;
    const out: string[] = [];
    const line = (text: string) => {
      time += Math.max(0, Math.round(exponential(random, 1000 / rate)));
      out.push(`${new Date(time).toISOString()} ${text}`);
    };
    for (let i = 0; i < baselineLines; i++) line(`INFO: User logged in user_id=${randomInt(random, 1, 99_999)}`);
    const lines: number[] = [];
    for (let k = 0; k < 3; k++) {
      line('ERROR: Database connection failed');
      lines.push(out.length);
    }
    for (let i = 0; i < tailLines; i++) line(`INFO: User logged in user_id=${randomInt(random, 1, 99_999)}`);
    return {
      id: '1b', title: 'new error pattern in an app text log', fileName: 'seed-1b-app.log', format: 'text',
      text: out.map((l) => `${l}\n`).join(''),
      lineCount: out.length,
      incidentLines: lines,
      detectionLines: lines,
      expectedWhy: EXPECTED_WHY['1b'].pattern,
      expectedWhyText: EXPECTED_WHY['1b'].text,
    };
  };

  const drift = (): SeedIncident => {
    const t = new SeedTraffic(records, options.seed, startMs, DRIFT_LINES_PER_SECOND);
    const out: NginxJsonRecord[] = [];
    const rampStart = startMs + DRIFT_BASELINE_MINUTES * 60_000;
    const rampEnd = rampStart + DRIFT_RAMP_MINUTES * 60_000;
    const end = rampEnd + DRIFT_AFTER_MINUTES * 60_000;
    const lines: number[] = [];
    const detection: number[] = [];
    while (t.now < end) {
      const r = t.next();
      const at = Date.parse(r.timestamp);
      if (at < rampStart) {
        out.push(r);
        continue;
      }
      const scale = at < rampEnd ? 1 + ((DRIFT_FACTOR - 1) * (at - rampStart)) / (rampEnd - rampStart) : DRIFT_FACTOR;
      out.push({ ...r, response_time: Math.max(0.001, Math.round(r.response_time * scale * 1000) / 1000) });
      if (at < rampEnd) lines.push(out.length);
      detection.push(out.length);
    }
    return {
      id: '5', title: `slow drift: response_time ~0.05 s -> ~${RESPONSE_TIME_MEDIAN * DRIFT_FACTOR} s over ${DRIFT_RAMP_MINUTES} min`, fileName: 'seed-5-slow-drift.jsonl', format: 'nginx',
      text: out.map((r) => `${serializeNginx(r)}\n`).join(''),
      lineCount: out.length,
      incidentLines: lines,
      detectionLines: detection,
      expectedWhy: EXPECTED_WHY['5'].pattern,
      expectedWhyText: EXPECTED_WHY['5'].text,
    };
  };

  return [newError, appLog(), latency, sqli, volume, drift()];
}
