/**
 * `driftlock tap` and `driftlock top` against a running daemon, all the real CLI: what a parse made of the
 * lines, live, through a reload; and the components' rates.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { logLines, runCli, startCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';
import { until } from '../helpers/wait.js';

const pipeline = (dir: string, keepOriginal: boolean) => `data_dir: ${dir}/data
api: { enabled: true, address: "127.0.0.1:0" }
inputs: { web: { type: demo, rate: 50 } }
transforms:
  parse_access: { type: parse, inputs: [web], format: nginx, keep_original: ${keepOriginal} }
outputs: { out: { type: file, inputs: [parse_access], path: "${dir}/out.log" } }
`;

/** A daemon running `pipeline` (the API on), with its folder, config file and API address. */
async function startDaemon() {
  const dir = await tempDir('dl-tap-');
  const file = path.join(dir, 'pipeline.yaml');
  await writeFile(file, pipeline(dir, false));
  const daemon = startCli(['run', '-c', file]);
  await daemon.waitFor(/driftlock running/);
  const api = logLines(daemon.stderr()).find((l) => String(l.msg).startsWith('API listening'))!.address as string;
  return { dir, file, daemon, api };
}

describe('driftlock tap and top', () => {
  it('prints what a transform sends on, goes on through a reload, and says clearly when it cannot tap', async () => {
    const { dir, file, daemon, api } = await startDaemon();

    const three = await runCli(['tap', '--api', api, 'parse_*', '-n', '3', '--format', 'json']);
    expect(three.code).toBe(0);
    const lines = three.stdout.trim().split('\n').map((l) => JSON.parse(l) as { component: string; event: { body: Record<string, unknown>; attributes: Record<string, unknown> } });
    expect(lines).toHaveLength(3);
    for (const l of lines) {
      expect(l.component).toBe('parse_access');
      // The parsed record, as the next stage gets it: fields of the nginx JSON line, and the request split.
      expect(l.event.body).toMatchObject({ status: expect.any(Number) as number, method: expect.any(String) as string, path: expect.any(String) as string });
      expect(l.event.attributes['log.original']).toBeUndefined();
    }
    expect(three.stderr).toContain('watching parse_access');
    // More than one: listed as the 404 lists them, a comma and a space apart (before: 'web,parse_access');
    // one event is '1 event' (before: '1 events').
    const both = await runCli(['tap', '--api', api, '-n', '1', '--format', 'json']);
    expect(both.stderr).toContain(`driftlock tap: watching web, parse_access at ${api} (the next 1 event);`);

    // A tap with no limit, open through a reload that changes the transform: it shows the new pipeline's events.
    const live = startCli(['tap', '--api', api, 'parse_access', '-n', '0', '--format', 'json']);
    await live.waitFor(/"component":"parse_access"/, 'stdout');
    await writeFile(file, pipeline(dir, true));
    daemon.child.kill('SIGHUP');
    await live.waitFor(/"log\.original"/, 'stdout', 20_000);
    live.child.kill('SIGINT');

    // top: two readings 300 ms apart; the second has rates. The demo makes 50 lines a second.
    const top = await runCli(['top', '--api', api, '-n', '2', '-i', '300ms']);
    expect(top.code, top.stderr).toBe(0);
    const tables = top.stdout.split(/^driftlock at /m).filter(Boolean);
    expect(tables).toHaveLength(2);
    expect(tables[0]).toMatch(/^127\.0\.0\.1:\d+ {2}ok {2}up \d+ s {2}RSS \d+ MiB/);
    const rows = (t: string) => Object.fromEntries(t.split('\n').filter((l) => /^(web|parse_access|out) /.test(l)).map((l) => [l.split(/\s+/)[0]!, l.split(/\s+/)]));
    const second = rows(tables[1]!);
    expect(Object.keys(second)).toEqual(['web', 'parse_access', 'out']);
    expect(second['web']!.slice(1, 3)).toEqual(['input', 'demo']);
    expect(second['out']!.slice(1, 3)).toEqual(['output', 'file']);
    // IN/S of the parse: about 50 a second (the demo's rate), read from its counters 300 ms apart.
    const parseRate = Number(second['parse_access']![3]!.replace(/,/g, ''));
    expect(parseRate).toBeGreaterThan(10);
    expect(parseRate).toBeLessThan(500);
    expect(rows(tables[0]!)['parse_access']![3]).toBe('…');

    const none = await runCli(['tap', '--api', api, 'detect']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('no input or transform matches detect (inputs and transforms: web, parse_access)');

    // A tap open while the daemon stops: its reader is told, not left with a silent exit.
    const open = startCli(['tap', '--api', api, 'parse_access', '-n', '0', '--format', 'json']);
    await open.waitFor(/"component":"parse_access"/, 'stdout');
    daemon.child.kill('SIGTERM');
    expect((await daemon.exited).code).toBe(0);
    const ended = await open.exited;
    expect(ended.code).toBe(0);
    expect(ended.stderr).toMatch(/the daemon ended the tap after [1-9]\d* events/);
    const gone = await runCli(['tap', '--api', api]);
    expect(gone.code).toBe(2);
    expect(gone.stderr).toMatch(/cannot reach the API at 127\.0\.0\.1:\d+ \(ECONNREFUSED\): is the daemon running with api\.enabled: true/);
  });

  it('tells a tap whose component a reload removed, keeps it open, and shows the events again when a reload brings it back', async () => {
    const { dir, file, daemon, api } = await startDaemon();
    const json = startCli(['tap', '--api', api, 'parse_access', '-n', '0', '--format', 'json']);
    const pretty = startCli(['tap', '--api', api, 'parse_access', '-n', '0', '--format', 'pretty']);
    await json.waitFor(/"component":"parse_access"/, 'stdout');
    await pretty.waitFor(/^parse_access {2}/m, 'stdout');

    // Renamed: the taps are told, in words on stderr, and stay open.
    await writeFile(file, pipeline(dir, false).replaceAll('parse_access', 'parse_web'));
    daemon.child.kill('SIGHUP');
    await daemon.waitFor(/config reloaded/);
    const gone = /driftlock tap: the daemon reloaded its config: no input or transform matches parse_access any more \(inputs and transforms now: web, parse_web\); the tap stays open/;
    await json.waitFor(gone, 'stderr');
    await pretty.waitFor(gone, 'stderr');
    await new Promise((r) => setTimeout(r, 300));
    expect(json.child.exitCode).toBeNull();
    expect(pretty.child.exitCode).toBeNull();

    // Back under its name: said, and its events flow again.
    const before = json.stdout().length;
    await writeFile(file, pipeline(dir, false));
    daemon.child.kill('SIGHUP');
    await json.waitFor(/driftlock tap: the daemon reloaded its config: watching parse_access again/, 'stderr');
    await pretty.waitFor(/driftlock tap: the daemon reloaded its config: watching parse_access again/, 'stderr');
    await until(() => json.stdout().slice(before).includes('"component":"parse_access"'), 'driftlock tap showing a parse_access event after the reload', { timeoutMs: 5_000, detail: () => json.stderr().slice(-2000) });
    expect(json.stdout().slice(before)).toContain('"component":"parse_access"');
    // Standard output holds the events alone: each line is one.
    for (const line of json.stdout().trim().split('\n')) expect(JSON.parse(line)).toMatchObject({ component: 'parse_access' });

    json.child.kill('SIGINT');
    pretty.child.kill('SIGINT');
    daemon.child.kill('SIGTERM');
    expect((await daemon.exited).code).toBe(0);
  }, 60_000);

  it('takes --api as the API\'s URL (http://host:port) as well as host:port, and says that https is not served', async () => {
    const { daemon, api } = await startDaemon();
    // Before: '--api "http://127.0.0.1:PORT" is not host:port', exit 2.
    const tap = await runCli(['tap', '--api', `http://${api}/`, 'web', '-n', '1', '--format', 'json']);
    expect(tap.code, tap.stderr).toBe(0);
    expect(tap.stderr).toContain(`driftlock tap: watching web at ${api} (the next 1 event);`);
    expect(JSON.parse(tap.stdout.trim())).toMatchObject({ component: 'web' });
    const top = await runCli(['top', '--api', `http://${api}`, '-n', '1']);
    expect(top.code, top.stderr).toBe(0);
    expect(top.stdout).toMatch(/^driftlock at 127\.0\.0\.1:\d+ {2}ok/);
    const https = await runCli(['tap', '--api', `https://${api}`]);
    expect(https.code).toBe(2);
    expect(https.stderr).toBe(`driftlock tap: --api "https://${api}" is https, which the API does not serve (it serves plain HTTP): use http:// or host:port\n`);
    const withPath = await runCli(['top', '--api', `http://${api}/metrics`]);
    expect(withPath.code).toBe(2);
    expect(withPath.stderr).toBe(`driftlock top: --api "http://${api}/metrics" has a path (/metrics): --api is the API's address alone, such as http://${api}\n`);
    daemon.child.kill('SIGTERM');
    expect((await daemon.exited).code).toBe(0);
  }, 60_000);

  it('reads the API address from --config, and refuses a config without the API', async () => {
    const dir = await tempDir('dl-tap-');
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, pipeline(dir, false).replace(/^api: .*\n/m, ''));
    const off = await runCli(['tap', '-c', file]);
    expect(off.code).toBe(2);
    expect(off.stderr).toContain('does not enable the API (api.enabled: true)');
  });
});
