/**
 * The daemon out of file descriptors while it listens, on the real daemon under `ulimit -n 128`: fluent
 * forward clients take every descriptor. Before, libuv closed each new connection as it came (the API's
 * probes read 'connection reset by peer') and the daemon said nothing and counted nothing. Now it says so once, in
 * words (the limit, what holds the descriptors), counts it, says when descriptors are free again, and accepts
 * again by itself; it neither exits nor spins meanwhile.
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listeningPort, logLines, startCli } from '../helpers/cli.js';
import { freePort, scrape } from '../helpers/metrics.js';
import { tempDir } from '../helpers/temp.js';

const LIMIT = 128;
const CLIENTS = 200;

/** GET `path` of the API: its status and body, or the error that ended the request; on a connection of its own unless `agent` says. */
function get(port: number, urlPath: string, agent: http.Agent | false = false): Promise<{ status?: number; body?: string; error?: string }> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
  });
}

/** CPU time (user and system) the process has used, in ms, from /proc. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime are fields 14 and 15 of stat (11 and 12 after the command), in clock ticks (100 a second).
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

describe('out of file descriptors while listening', () => {
  it('says so once with the limit and what holds them, counts it, and accepts again once they are free', async () => {
    const dir = await tempDir('dl-fd-');
    const api = await freePort();
    const config = path.join(dir, 'pipeline.yaml');
    await writeFile(config, `data_dir: ${dir}/data
api: { enabled: true, address: "127.0.0.1:${api}" }
inputs:
  fwd: { type: fluent_forward, address: "127.0.0.1:0" }
  sys: { type: syslog, mode: tcp, address: "127.0.0.1:0" }
outputs: { out: { type: file, inputs: [fwd, sys], path: "${dir}/out.log" } }
`);
    const daemon = startCli(['run', '-c', config], { openFilesLimit: LIMIT });
    await daemon.waitFor(/driftlock running/);
    const forward = listeningPort(daemon.stderr(), 'fwd');
    expect((await get(api, '/health')).status).toBe(200);

    const clients: net.Socket[] = [];
    for (let i = 0; i < CLIENTS; i++) clients.push(net.connect(forward, '127.0.0.1').on('error', () => undefined));
    await daemon.waitFor(/cannot accept connections/, 'stderr', 10_000);
    const told = logLines(daemon.stderr()).find((l) => String(l.msg).startsWith('cannot accept connections'))!;
    expect(told.level).toBe('error');
    expect(told.msg).toContain(`EMFILE: ${LIMIT}, ulimit -n`);
    expect(told.msg).toMatch(/connections to the API, fluent_forward "fwd", syslog "sys" are closed as soon as they come/);
    expect(told.msg).toMatch(/fluent_forward "fwd": \d{2,3} connections/);
    expect(told.msg).toContain('Raise the limit (ulimit -n, LimitNOFILE=');

    // Meanwhile: the probes' connections are closed, the daemon neither exits nor spins, and says it no more.
    const before = cpuMs(daemon.child.pid!);
    const started = Date.now();
    for (let i = 0; i < 5; i++) {
      expect((await get(api, '/health')).status).toBeUndefined();
      await new Promise((r) => setTimeout(r, 400));
    }
    const busy = (cpuMs(daemon.child.pid!) - before) / (Date.now() - started);
    expect(busy).toBeLessThan(0.5);
    expect(daemon.child.exitCode).toBeNull();
    expect(daemon.stderr().match(/cannot accept connections/g)).toHaveLength(1);

    for (const c of clients) c.destroy();
    await daemon.waitFor(/file descriptors are free again: connections are accepted again/, 'stderr', 10_000);
    expect((await get(api, '/health')).status).toBe(200);
    const metrics = await scrape(api);
    expect(metrics.get('too_many_open_files_total/fwd')).toBe(1);
    expect(metrics.get('too_many_open_files_total/sys')).toBe(1);
    const text = await (await fetch(`http://127.0.0.1:${api}/metrics`)).text();
    expect(text).toMatch(/^driftlock_process_too_many_open_files_total 1$/m);

    daemon.child.kill('SIGTERM');
    expect((await daemon.exited).code).toBe(0);
  }, 60_000);

  it('a scrape on a connection opened before: /metrics leaves out what it cannot read (a plugin gauge that reads /proc) and says so; the daemon goes on', async () => {
    const dir = await tempDir('dl-fd-');
    const api = await freePort();
    // A plugin output whose gauge counts the process's descriptors, as a plugin might: listing /proc/self/fd
    // takes a descriptor, and throws EMFILE when there is none (as process.memoryUsage() does).
    await writeFile(path.join(dir, 'fds.mjs'), `import { readdirSync } from 'node:fs';
export default ({ z, defineOutput, ackBatch }) => [defineOutput({ type: 'fd_count', description: 'counts descriptors', config: z.object({}),
  build(config, ctx) {
    ctx.metrics?.gauge('open_descriptors', () => readdirSync('/proc/self/fd').length);
    return { async consume(batches) { for await (const b of batches) ackBatch(b); } };
  } })];
`);
    const config = path.join(dir, 'pipeline.yaml');
    await writeFile(config, `data_dir: ${dir}/data
plugins: [./fds.mjs]
api: { enabled: true, address: "127.0.0.1:${api}" }
inputs:
  fwd: { type: fluent_forward, address: "127.0.0.1:0" }
outputs: { fds: { type: fd_count, inputs: [fwd] } }
`);
    const daemon = startCli(['run', '-c', config], { openFilesLimit: LIMIT });
    await daemon.waitFor(/driftlock running/);
    const forward = listeningPort(daemon.stderr(), 'fwd');
    // Prometheus keeps its connection open between scrapes: it is served when no new one can be accepted.
    const scraper = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const before = await get(api, '/metrics', scraper);
    expect(before.body).toMatch(/^driftlock_open_descriptors\{component_id="fds",component_kind="output",component_type="fd_count"\} \d+$/m);

    const clients: net.Socket[] = [];
    for (let i = 0; i < CLIENTS; i++) clients.push(net.connect(forward, '127.0.0.1').on('error', () => undefined));
    await daemon.waitFor(/cannot accept connections/, 'stderr', 10_000);
    // Before: the gauge's EMFILE was an uncaught exception in the handler: the daemon exited 70.
    const scraped = await get(api, '/metrics', scraper);
    expect(scraped.status, `${scraped.error}\n${daemon.stderr().slice(-2000)}`).toBe(200);
    expect(scraped.body).not.toMatch(/^driftlock_open_descriptors/m);
    expect(scraped.body).toMatch(/^# driftlock could not read driftlock_open_descriptors\{component_id="fds"\}: EMFILE: too many open files, scandir '\/proc\/self\/fd'$/m);
    expect(scraped.body).toMatch(/^driftlock_received_events_total\{component_id="fwd"/m);
    // /health says the daemon is not doing its job (senders' connections are closed as they come); before, 200 ok.
    const health = await get(api, '/health', scraper);
    expect(health.status).toBe(503);
    expect(JSON.parse(health.body!)).toMatchObject({
      status: 'degraded',
      failing: [{ component: 'process', kind: 'process', last_error: `cannot accept connections to the API, fluent_forward "fwd": the process has every file descriptor it may open in use (EMFILE: ${LIMIT}, ulimit -n)` }],
    });
    await new Promise((r) => setTimeout(r, 500));
    expect(daemon.child.exitCode).toBeNull();

    for (const c of clients) c.destroy();
    await daemon.waitFor(/file descriptors are free again/, 'stderr', 10_000);
    expect((await get(api, '/metrics', scraper)).body).toMatch(/^driftlock_open_descriptors\{component_id="fds"/m);
    expect((await get(api, '/health', scraper)).status).toBe(200);
    scraper.destroy();
    daemon.child.kill('SIGTERM');
    expect((await daemon.exited).code).toBe(0);
  }, 60_000);
});
