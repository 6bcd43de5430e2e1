/**
 * The HTTP API (`api.enabled: true`): `GET /health` (also `/readyz`) for readiness probes (200 while running, 503
 * while starting, reloading or stopping, or while a component crashed within the last minute, listing it, as Fluent Bit's
 * health check does), `GET /livez` for liveness probes (200 whenever the daemon answers at all) and `GET /metrics` in
 * Prometheus text format. Plain node:http: four routes need no framework.
 */
import http from 'node:http';
import type { Logger } from 'pino';
import { renderPrometheus, type ComponentMetrics } from '../engine/metrics.js';
import { parseListenAddress } from '../inputs/net/address.js';

export interface ApiServerOptions {
  address: string;
  logger: Logger;
  metrics: () => ComponentMetrics[];
  state: () => 'starting' | 'running' | 'reloading' | 'stopping';
  /** Components in trouble (crashed recently); none when healthy. */
  trouble?: () => unknown[];
  /** Masks secret values in what `/health` says (an error message can quote a substituted secret). */
  mask?: (text: string) => string;
}

/** `api.address` as the network inputs read theirs (`:8686` is every interface); the config checked it. */
function parseAddress(address: string): { host: string; port: number } {
  const parsed = parseListenAddress(address);
  if (!parsed) throw new Error(`invalid address "${address}": expected host:port`);
  return parsed;
}

export async function startApiServer(options: ApiServerOptions): Promise<http.Server> {
  const { host, port } = parseAddress(options.address);
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
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
      const failing = state === 'running' ? (options.trouble?.() ?? []) : [];
      const status = state !== 'running' ? state : failing.length ? 'degraded' : 'ok';
      res.writeHead(status === 'ok' ? 200 : 503, { 'content-type': 'application/json' });
      const body = JSON.stringify(failing.length ? { status, failing } : { status });
      res.end(options.mask ? options.mask(body) : body);
      return;
    }
    if (url === '/metrics') {
      const samples = options.metrics().flatMap((m) => m.samples());
      const mem = process.memoryUsage();
      const body = renderPrometheus(samples) +
        `# HELP driftlock_process_resident_memory_bytes Resident set size.\n# TYPE driftlock_process_resident_memory_bytes gauge\ndriftlock_process_resident_memory_bytes ${mem.rss}\n` +
        `# HELP driftlock_process_uptime_seconds Seconds since the daemon started.\n# TYPE driftlock_process_uptime_seconds gauge\ndriftlock_process_uptime_seconds ${process.uptime().toFixed(1)}\n`;
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(body);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /health, /livez, /readyz or /metrics\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  options.logger.info({ address: `${host}:${(server.address() as { port: number }).port}` }, 'API listening (/health, /livez, /readyz, /metrics)');
  return server;
}
