/**
 * The HTTP API (`api.enabled: true`): `GET /health` (also `/readyz`) for readiness probes (200 while running, 503
 * while starting, reloading or stopping, or while a component crashed within the last minute, listing it in every
 * state, as Fluent Bit's health check does), `GET /livez` for liveness probes (200 whenever the daemon answers at all) and `GET /metrics` in
 * Prometheus text format, and `GET /tap` (see `serveTap`) for `driftlock tap`. Plain node:http: five routes need
 * no framework.
 */
import http from 'node:http';
import net from 'node:net';
import type { Logger } from 'pino';
import type { LogEvent } from '../engine/event.js';
import { acceptWatch } from '../engine/descriptors.js';
import { errorMessage } from '../engine/failure-report.js';
import { renderPrometheus, type ComponentMetrics } from '../engine/metrics.js';
import { tapPattern, type Taps } from '../engine/tap.js';
import { parseListenAddress } from '../inputs/net/address.js';
import { encodeEvents } from '../outputs/encoding.js';

/** The config reloads (SIGHUP) so far: how many took effect, how many did not, and why the last one did not (while no later one took effect). */
export interface ReloadStatus {
  succeeded: number;
  failed: number;
  /** `error` is one line; `problems`, when there are several things wrong (a config's), each of them, one line each. */
  lastFailure?: { at: string; error: string; problems?: string[] };
}

export interface ApiServerOptions {
  address: string;
  logger: Logger;
  metrics: () => ComponentMetrics[];
  state: () => 'starting' | 'running' | 'reloading' | 'stopping';
  /** Components in trouble (crashed recently, failing, ...: each with every problem it has); none when healthy. */
  trouble?: () => unknown[];
  reloads?: () => ReloadStatus;
  /** Masks secret values in what `/health` says (an error message can quote a substituted secret). */
  mask?: (text: string) => string;
  /** The daemon's taps, and the ids of the components that send events on (inputs and transforms). */
  tap?: { taps: Taps; producers: () => string[] };
  /** How long a client may take to send a request's headers (default API_HEADERS_TIMEOUT_MS); tests shorten it. */
  headersTimeoutMs?: number;
}

/**
 * Connections the API keeps open at once, and from one address: a probe, a scrape or a tap is one or two.
 * Without a bound, clients that open connections and send nothing (or headers a byte at a time) held one file
 * descriptor each for 90 s (Node's 60 s header timeout, checked every 30 s): 8,000 of them from one address
 * held 8,000 of the daemon's descriptors, which its inputs and outputs share. One address cannot take
 * the places of the others (the kubelet's probes, Prometheus).
 */
export const API_MAX_CONNECTIONS = 1024;
export const API_MAX_CONNECTIONS_PER_ADDRESS = 64;
/** A client's request headers must be in within this long (a probe's take a millisecond). */
export const API_HEADERS_TIMEOUT_MS = 10_000;

/** Events a tap shows when the request names no `limit`. */
const TAP_DEFAULT_LIMIT = 100;
/** Bytes a tap's reader may fall behind by before events are left out for it (and counted). */
const TAP_MAX_BEHIND = 1 << 20;
/**
 * Taps open at once, at most: each may hold TAP_MAX_BEHIND for a reader that does not read (and costs an
 * encoding of every event it watches), so without a bound a local client opening taps by the hundred
 * takes the daemon's memory (300 that never read: 1.7 GB). People debugging need a few.
 */
export const TAP_MAX_OPEN = 16;

/** A peer on this machine (or in this pod): 127.0.0.0/8 or ::1, also as IPv4-mapped IPv6. */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return address === '::1' || (net.isIPv4(v4) && v4.startsWith('127.'));
}

/**
 * Whether a connection is one from this machine to this machine: both its ends on loopback. The peer's
 * address alone is not enough where a proxy beside the daemon forwards outside clients from a loopback
 * address (Istio's sidecar connects to the pod's own address from 127.0.0.6): such a connection arrives
 * at the address the daemon has on the network, while `driftlock tap` connects to loopback.
 */
export function isLocalConnection(remoteAddress: string | undefined, localAddress: string | undefined): boolean {
  return isLoopback(remoteAddress) && isLoopback(localAddress);
}

/**
 * `GET /tap?components=parse_access,detect_*&limit=100`: the events the named inputs and transforms send on,
 * as they go by, one JSON line each (`{"component": id, "event": {...}}`), until `limit` events (default 100;
 * 0: until the client goes). Only for clients on the machine itself: events are the logs, whatever `address`
 * the API listens on for probes. A reader that falls behind by more than 1 MiB misses events: a line
 * `{"missed": n}` says how many, and the pipeline never waits for a tap. A reload after which no producer
 * matches the patterns any more, and one that brings one back, are said in a line `{"notice": "..."}`.
 */
function serveTap(req: http.IncomingMessage, res: http.ServerResponse, tap: NonNullable<ApiServerOptions['tap']>, open: Set<http.ServerResponse>, state: string): void {
  const json = (status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body) + '\n');
  };
  if (!isLocalConnection(req.socket.remoteAddress, req.socket.localAddress)) return json(403, { error: 'the tap is served to clients on this machine only (run driftlock tap beside the daemon, e.g. with kubectl exec)' });
  const query = new URL(req.url ?? '/', 'http://localhost').searchParams;
  const patterns = (query.get('components') ?? '*').split(',').map((p) => p.trim()).filter(Boolean);
  const limitText = query.get('limit');
  const limit = limitText === null ? TAP_DEFAULT_LIMIT : Number(limitText);
  if (!Number.isInteger(limit) || limit < 0) return json(400, { error: `limit must be a whole number of events, 0 for no limit, not ${JSON.stringify(limitText)}` });
  const matches = tapPattern(patterns.length ? patterns : ['*']);
  const producers = tap.producers();
  // No pipeline yet (the daemon waits for its data_dir lock): not that nothing
  // matches, which it said before, listing no components at all.
  if (producers.length === 0) return json(503, { error: `the daemon is ${state}: no pipeline runs yet; try again once /health answers ok` });
  const watched = producers.filter(matches);
  if (watched.length === 0) return json(404, { error: `no input or transform matches ${patterns.join(', ')}`, components: producers });
  if (open.size >= TAP_MAX_OPEN) return json(429, { error: `${open.size} taps are open already, the most the daemon serves at once; close one (or wait for one to end) and try again` });
  open.add(res);
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store', 'x-driftlock-tap-components': watched.join(',') });
  res.flushHeaders();
  let shown = 0;
  let missed = 0;
  let watching: readonly string[] = watched;
  // After a reload that removed or renamed every component it watched, the tap is told (before, it stayed
  // open and silent for ever), and waits, as `vector tap` does, for a reload that brings one back.
  const producersNow = (now: readonly string[]): void => {
    if (res.destroyed || res.writableEnded) return;
    const notice = now.length === 0 && watching.length > 0
      ? `the daemon reloaded its config: no input or transform matches ${patterns.join(', ')} any more (inputs and transforms now: ${tap.producers().join(', ')}); the tap stays open and shows their events again if a reload brings one back`
      : now.length > 0 && watching.length === 0 ? `the daemon reloaded its config: watching ${now.join(', ')} again` : undefined;
    watching = now;
    if (notice !== undefined) res.write(`${JSON.stringify({ notice })}\n`);
  };
  const close = tap.taps.watch(matches, (component: string, events: readonly LogEvent[]) => {
    // A reader gone whose 'close' has not come yet: nothing more is written (a write after the end is an error).
    if (res.destroyed || res.writableEnded) {
      close();
      return;
    }
    for (const event of events) {
      if (res.writableLength > TAP_MAX_BEHIND) {
        missed += 1;
        continue;
      }
      let line = '';
      if (missed > 0) {
        line = `{"missed":${missed}}\n`;
        missed = 0;
      }
      res.write(`${line}{"component":${JSON.stringify(component)},"event":${encodeEvents([event], 'json').trimEnd()}}\n`);
      shown += 1;
      if (limit > 0 && shown >= limit) {
        close();
        res.end();
        return;
      }
    }
  }, producersNow);
  res.on('close', () => {
    open.delete(res);
    close();
  });
  res.on('error', close);
}

/** `api.address` as the network inputs read theirs (`:8686` is every interface); the config checked it. */
function parseAddress(address: string): { host: string; port: number } {
  const parsed = parseListenAddress(address);
  if (!parsed) throw new Error(`invalid address "${address}": expected host:port`);
  return parsed;
}

/**
 * The process's resident set size, or why it cannot be read: Node reads it from /proc, and out of file
 * descriptors (EMFILE) `process.memoryUsage()` throws. Thrown in a request's handler, that was an uncaught
 * exception and the daemon exited (seen in CI: 1,000 files under `ulimit -n 128`, /metrics scraped).
 */
function residentMemory(): { rss: number } | { error: unknown } {
  try {
    return { rss: process.memoryUsage().rss };
  } catch (error) {
    return { error };
  }
}

/**
 * `/metrics` in Prometheus text. What cannot be read (the resident memory, or a component's gauge, out of
 * file descriptors) is left out and said in a comment line (`# driftlock could not read ...`), which
 * Prometheus ignores: the rest of the scrape is served.
 */
function metricsText(options: ApiServerOptions): string {
  const unreadable: string[] = [];
  const samples = options.metrics().flatMap((m) => m.samples((name, err) => unreadable.push(`${name}{component_id="${m.id}"}: ${errorMessage(err)}`)));
  const memory = residentMemory();
  if ('error' in memory) unreadable.push(`driftlock_process_resident_memory_bytes: ${errorMessage(memory.error)}`);
  return renderPrometheus(samples) +
    ('rss' in memory ? `# HELP driftlock_process_resident_memory_bytes Resident set size.\n# TYPE driftlock_process_resident_memory_bytes gauge\ndriftlock_process_resident_memory_bytes ${memory.rss}\n` : '') +
    `# HELP driftlock_process_uptime_seconds Seconds since the daemon started.\n# TYPE driftlock_process_uptime_seconds gauge\ndriftlock_process_uptime_seconds ${process.uptime().toFixed(1)}\n` +
    `# HELP driftlock_process_too_many_open_files_total Times the process was out of file descriptors (EMFILE, ENFILE) while it listened: the API and the network inputs could not accept connections (once each time, however long).\n# TYPE driftlock_process_too_many_open_files_total counter\ndriftlock_process_too_many_open_files_total ${acceptWatch.episodes}\n` +
    reloadMetrics(options.reloads?.()) +
    unreadable.map((what) => `# driftlock could not read ${what.replace(/\s+/g, ' ')}\n`).join('');
}

export async function startApiServer(options: ApiServerOptions): Promise<http.Server> {
  const { host, port } = parseAddress(options.address);
  const openTaps = new Set<http.ServerResponse>();
  const headersTimeout = options.headersTimeoutMs ?? API_HEADERS_TIMEOUT_MS;
  // A request the API cannot answer (something it reads throws) is answered 500, saying what it could not do,
  // and said in the log, once until a request is answered again; before, the throw was an uncaught
  // exception: the daemon exited.
  let unanswered = false;
  const serve = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    try {
      answer(req, res);
      if (unanswered) options.logger.info('the API answers requests again');
      unanswered = false;
    } catch (err) {
      const what = `${req.method ?? 'GET'} ${(req.url ?? '/').split('?')[0]}`;
      if (!unanswered) options.logger.error({ err, request: what }, `the API could not answer ${what}: answered 500, saying why; the daemon goes on (said once until a request is answered again)`);
      unanswered = true;
      if (res.headersSent) res.destroy();
      else {
        const text = `could not answer ${what}: ${errorMessage(err)}\n`;
        res.writeHead(500, { 'content-type': 'text/plain' }).end(options.mask ? options.mask(text) : text);
      }
    }
  };
  const answer = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const url = (req.url ?? '/').split('?')[0];
    if (url === '/tap' && options.tap && req.method === 'GET') {
      serveTap(req, res, options.tap, openTaps, options.state());
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (url === '/livez') {
      // Liveness: the event loop answers. Starting, reloading, stopping or degraded are not reasons to be killed.
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'alive', state: options.state() }));
      return;
    }
    if (url === '/health' || url === '/readyz') {
      const state = options.state();
      // Listed in every state: while stopping (or reloading) the drain can fail too (a flush, a crash), and
      // said in the log alone it was not seen where the probes look. The status stays the state's, and 503.
      const failing = options.trouble?.() ?? [];
      const status = state !== 'running' ? state : failing.length ? 'degraded' : 'ok';
      // A reload that did not take effect leaves the previous config running: still ready (200 when all
      // else is), but said, so that `systemctl reload` or a config rollout that changed nothing is seen.
      const lastFailure = options.reloads?.().lastFailure;
      const body = JSON.stringify({ status, ...(failing.length ? { failing } : {}), ...(lastFailure ? { reload: { result: 'failed', ...lastFailure } } : {}) });
      res.writeHead(status === 'ok' ? 200 : 503, { 'content-type': 'application/json' }).end(options.mask ? options.mask(body) : body);
      return;
    }
    if (url === '/metrics') {
      const body = metricsText(options);
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(body);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /health, /livez, /readyz, /metrics or /tap\n');
  };
  // The timeouts are checked every connectionsCheckingInterval: at a tenth of it, a slow client is closed on time.
  const server = http.createServer({ headersTimeout, requestTimeout: headersTimeout * 3, connectionsCheckingInterval: Math.max(100, Math.round(headersTimeout / 10)) }, serve);
  server.maxConnections = API_MAX_CONNECTIONS;
  const perAddress = new Map<string, number>();
  let connections = 0;
  server.on('connection', (socket: net.Socket) => {
    const address = socket.remoteAddress ?? '';
    const open = perAddress.get(address) ?? 0;
    if (open >= API_MAX_CONNECTIONS_PER_ADDRESS) {
      socket.destroy();
      return;
    }
    perAddress.set(address, open + 1);
    connections += 1;
    socket.once('close', () => {
      connections -= 1;
      const left = (perAddress.get(address) ?? 1) - 1;
      if (left > 0) perAddress.set(address, left);
      else perAddress.delete(address);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // Out of file descriptors, probes' connections are closed as they come: told once by the watch. An accept
  // that fails with EMFILE reaches here as an 'error' (libuv could not keep its spare descriptor), which,
  // without this listener, was an uncaught exception: the daemon exited 70.
  server.on('error', (err) => acceptWatch.acceptFailed(err) || options.logger.warn({ err }, 'API server error'));
  const unwatch = acceptWatch.listen({ name: 'the API', connections: () => connections }, options.logger);
  server.once('close', unwatch);
  options.logger.info({ address: `${host}:${(server.address() as { port: number }).port}` }, 'API listening (/health, /livez, /readyz, /metrics)');
  return server;
}

/** Config reloads in Prometheus text, named as Prometheus names its own (`..._config_last_reload_successful`). */
function reloadMetrics(reloads: ReloadStatus | undefined): string {
  if (!reloads) return '';
  return '# HELP driftlock_config_reloads_total Config reloads (SIGHUP), by result: failed ones left the previous config running.\n# TYPE driftlock_config_reloads_total counter\n' +
    `driftlock_config_reloads_total{result="succeeded"} ${reloads.succeeded}\ndriftlock_config_reloads_total{result="failed"} ${reloads.failed}\n` +
    '# HELP driftlock_config_last_reload_successful 0 when the last config reload failed (the previous config runs), 1 otherwise.\n# TYPE driftlock_config_last_reload_successful gauge\n' +
    `driftlock_config_last_reload_successful ${reloads.lastFailure ? 0 : 1}\n`;
}
