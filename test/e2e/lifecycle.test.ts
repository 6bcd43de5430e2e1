/**
 * The daemon's start and stop as a service manager drives them (systemd, Kubernetes): signals that come
 * while it starts (waiting for the data_dir lock, a slow build, an input not ready yet), the API while it
 * starts, and a second daemon on the same data_dir. The real CLI, real files and sockets.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { logLines, runCli, startCli, type RunningCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';
import { until } from '../helpers/wait.js';

/** A plugin: `slow_out` (an output whose build() takes `build_ms`, or never ends with -1) and `late` (an input ready after `ready_ms`). */
const SLOW_PLUGIN = `export default ({ z, defineOutput, defineInput, ackBatch }) => [
  defineOutput({ type: 'slow_out', description: 'slow build', config: z.object({ build_ms: z.number() }),
    async build(config) {
      await new Promise((r) => { if (config.build_ms >= 0) setTimeout(r, config.build_ms); });
      return { async consume(batches) { for await (const b of batches) ackBatch(b); } };
    } }),
  defineInput({ type: 'late', description: 'ready late', config: z.object({ ready_ms: z.number() }),
    build(config) {
      return {
        ready: new Promise((r) => setTimeout(r, config.ready_ms)),
        async run(ctx) { await new Promise((r) => ctx.signal.addEventListener('abort', r, { once: true })); },
      };
    } }),
];
`;

/** The same plugin, but its `slow_out` never finishes a batch (nor its stop). */
const STUCK_PLUGIN = SLOW_PLUGIN.replace('for await (const b of batches) ackBatch(b);', 'for await (const b of batches) await new Promise(() => {});');

async function pipelineFile(dir: string, body: string): Promise<string> {
  await writeFile(path.join(dir, 'slow.mjs'), SLOW_PLUGIN);
  const file = path.join(dir, 'pipeline.yaml');
  await writeFile(file, `data_dir: ${dir}/data\nplugins: [./slow.mjs]\n${body}`);
  return file;
}

/** A new folder with a pipeline of the demo input (`rate` lines/s) into `out.log` there. */
async function demoToFile(rate: number): Promise<{ dir: string; file: string }> {
  const dir = await tempDir('dl-life-');
  const file = await pipelineFile(dir, `inputs: { demo: { type: demo, rate: ${rate} } }\noutputs: { out: { type: file, inputs: [demo], path: ${dir}/out.log } }\n`);
  return { dir, file };
}

function apiAddress(cli: RunningCli): string {
  return logLines(cli.stderr()).find((l) => String(l.msg).startsWith('API listening'))!.address as string;
}

async function exitsWithin(cli: RunningCli, ms: number) {
  const started = Date.now();
  const result = await cli.exited;
  expect(Date.now() - started, result.stderr.slice(-2000)).toBeLessThan(ms);
  return result;
}

describe('daemon lifecycle', () => {
  it('while it waits for a held data_dir lock, /livez answers 200 and /health 503 starting; a SIGTERM then exits 0 at once', async () => {
    const dir = await tempDir('dl-life-');
    const file = await pipelineFile(dir, `api: { enabled: true, address: "127.0.0.1:0" }
inputs: { demo: { type: demo, rate: 5 } }
outputs: { out: { type: file, inputs: [demo], path: ${dir}/out.log } }
`);
    // A lock held by a daemon whose death cannot be proved (no lock socket): the start waits up to 7 s for it
    // to go stale. Kept fresh meanwhile, as a live holder keeps it: made once, it went stale 5 s after it was
    // made, and on a loaded machine the daemon's start and a tap took longer than that (the daemon took it
    // over and ran; the tap got 0).
    const lock = path.join(dir, 'data', 'driftlock.lock');
    await mkdir(lock, { recursive: true });
    const refresh = setInterval(() => void utimes(lock, new Date(), new Date()).catch(() => undefined), 1000);
    try {
      const cli = startCli(['run', '-c', file]);
      await cli.waitFor(/the data_dir lock is held; waiting/);
      await cli.waitFor(/API listening/);
      // A tap then is told the daemon is starting; before: 'no input or transform matches * (inputs and
      // transforms: )'. Started at once: its process's start is the slow part of the wait.
      const tapped = runCli(['tap', '--api', apiAddress(cli), '-n', '1']);
      const live = await fetch(`http://${apiAddress(cli)}/livez`);
      expect(live.status).toBe(200);
      expect(await live.json()).toEqual({ status: 'alive', state: 'starting' });
      const ready = await fetch(`http://${apiAddress(cli)}/health`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toEqual({ status: 'starting' });
      const tap = await tapped;
      expect(tap.code).toBe(2);
      expect(tap.stderr).toContain('answered 503: the daemon is starting: no pipeline runs yet; try again once /health answers ok');
      cli.child.kill('SIGTERM');
      // Its wait for the lock cut short: not refused when it ran out (78), nor the lock taken. Before, timed
      // (2 s), which a loaded machine can miss.
      const result = await cli.exited;
      expect({ code: result.code, signal: result.signal }).toEqual({ code: 0, signal: null });
      expect(result.stderr).toContain('stopped before the pipeline started');
      expect(existsSync(path.join(dir, 'data', 'driftlock.lock.owner'))).toBe(false);
    } finally {
      clearInterval(refresh);
    }
  }, 20_000);

  it('a SIGTERM during a slow build() exits 0 once it is built, runs nothing, and lets the lock go', async () => {
    const dir = await tempDir('dl-life-');
    const file = await pipelineFile(dir, `inputs: { demo: { type: demo, rate: 50 } }
outputs: { out: { type: slow_out, inputs: [demo], build_ms: 2000 } }
`);
    // At debug, each component's build is said as it begins.
    const cli = startCli(['run', '-c', file, '--log-level', 'debug']);
    await cli.waitFor(/"component":"out".*"msg":"building component"/);
    cli.child.kill('SIGTERM');
    const result = await exitsWithin(cli, 5_000);
    expect({ code: result.code, signal: result.signal }).toEqual({ code: 0, signal: null });
    expect(result.stderr).toContain('while starting: nothing more is started');
    expect(result.stderr).not.toContain('driftlock running');
    // Let go: nothing of the lock is left, and the next daemon on the folder finds it free. (Before, this was
    // timed: running within 4 s, its own 2 s build included, which a loaded machine missed.)
    for (const name of ['driftlock.lock', 'driftlock.lock.owner', 'driftlock.lock.sock']) expect(existsSync(path.join(dir, 'data', name)), name).toBe(false);
    await writeFile(file, (await readFile(file, 'utf8')).replace('build_ms: 2000', 'build_ms: 0'));
    const next = startCli(['run', '-c', file]);
    await next.waitFor(/driftlock running/);
    expect(logLines(next.stderr()).filter((l) => String(l.msg).includes('data_dir lock'))).toEqual([]);
    next.child.kill('SIGTERM');
    expect((await next.exited).code).toBe(0);
  }, 20_000);

  it('a SIGTERM while an input is not ready yet drains what the other inputs sent, and exits 0', async () => {
    const dir = await tempDir('dl-life-');
    const out = path.join(dir, 'out.log');
    const file = await pipelineFile(dir, `inputs:
  demo: { type: demo, rate: 200 }
  late: { type: late, ready_ms: 60000 }
outputs: { out: { type: file, inputs: [demo, late], path: ${out} } }
`);
    const cli = startCli(['run', '-c', file]);
    // The demo input runs while the start waits for the other one.
    await until(async () => (await readFile(out, 'utf8').catch(() => '')).split('\n').length > 20, 'out.log holding over 20 lines from the demo input', { timeoutMs: 10_000, detail: () => cli.stderr().slice(-2000) });
    cli.child.kill('SIGTERM');
    const result = await exitsWithin(cli, 5_000);
    expect({ code: result.code, signal: result.signal }).toEqual({ code: 0, signal: null });
    const stopped = logLines(result.stderr).find((l) => l.msg === 'stopped')!;
    expect(stopped.drained).toBe(true);
    const summary = stopped.components as Record<string, Record<string, number>>;
    // Everything the demo input sent reached the file.
    const lines = (await readFile(out, 'utf8')).split('\n').filter(Boolean).length;
    expect(summary.demo!.sent_events_total).toBeGreaterThan(20);
    expect(lines).toBe(summary.demo!.sent_events_total);
  }, 20_000);

  it('a build() that never ends does not hold a SIGTERM past shutdown_timeout: exit 1, naming it', async () => {
    const dir = await tempDir('dl-life-');
    const file = await pipelineFile(dir, `shutdown_timeout: 1s
inputs: { demo: { type: demo, rate: 5 } }
outputs: { stuck: { type: slow_out, inputs: [demo], build_ms: -1 } }
`);
    // At debug, each component's build is said as it begins: the SIGTERM comes during stuck's.
    const cli = startCli(['run', '-c', file, '--log-level', 'debug']);
    await cli.waitFor(/"component":"stuck".*"msg":"building component"/);
    cli.child.kill('SIGTERM');
    // Well within the default shutdown_timeout (30 s), with room for a loaded machine; the log says which ended it.
    const result = await exitsWithin(cli, 10_000);
    expect({ code: result.code, signal: result.signal }).toEqual({ code: 1, signal: null });
    const line = logLines(result.stderr).find((l) => String(l.msg).startsWith('shutdown timeout reached while starting'))!;
    expect(line).toMatchObject({ component: 'stuck', timeout_ms: 1000 });
    expect(result.stderr).not.toContain('driftlock running');
  }, 20_000);
});

describe('stop during a reload', () => {
  it('a SIGTERM while the reloaded pipeline waits for a build() that never ends exits within shutdown_timeout (1), not never', async () => {
    const dir = await tempDir('dl-life-');
    const config = (buildMs: number) => `shutdown_timeout: 1s
inputs: { demo: { type: demo, rate: 20 } }
outputs: { out: { type: slow_out, inputs: [demo], build_ms: ${buildMs} } }
`;
    const file = await pipelineFile(dir, config(0));
    // At debug, each component's build is said as it begins.
    const cli = startCli(['run', '-c', file, '--log-level', 'debug']);
    await cli.waitFor(/driftlock running/);
    // The demo input is unchanged: kept running through the reload, its events held for the new pipeline.
    await writeFile(file, (await readFile(file, 'utf8')).replace('build_ms: 0', 'build_ms: -1'));
    cli.child.kill('SIGHUP');
    // The SIGTERM comes while the reloaded pipeline builds `out` (before: 500 ms after the reload began).
    await cli.waitFor(/SIGHUP: reloading the config[\s\S]*"component":"out".*"msg":"building component"/);
    cli.child.kill('SIGTERM');
    // Within the default shutdown_timeout (30 s), with room for a loaded machine; the log says which ended it.
    const result = await exitsWithin(cli, 10_000);
    expect({ code: result.code, signal: result.signal }).toEqual({ code: 1, signal: null });
    const line = logLines(result.stderr).find((l) => String(l.msg).startsWith('shutdown timeout reached while starting'))!;
    expect(line).toMatchObject({ component: 'out', timeout_ms: 1000 });
    expect(logLines(result.stderr).find((l) => l.msg === 'stopped')!.drained).toBe(false);
    // Said once, by the stop. Before, three times: the start's own give-up (its timeout, the new config's,
    // passed first) by the component ('the start gave up on it'), then as 'the start cut short by the stop failed'.
    const troubles = logLines(result.stderr).filter((l) => l.level === 'error' || l.level === 'warn').map((l) => l.msg);
    expect(troubles).toEqual(['shutdown timeout reached while starting: its build() had not finished; exiting without it']);
  }, 20_000);
});

describe('one daemon per data_dir', () => {
  it('a second daemon is refused (78) naming the PID that holds the lock; the lock is let go, its owner file too, at a clean exit', async () => {
    const { dir, file } = await demoToFile(5);
    const first = startCli(['run', '-c', file]);
    await first.waitFor(/driftlock running/);
    const second = startCli(['run', '-c', file]);
    const refused = await second.exited;
    expect(refused.code, refused.stderr).toBe(78);
    expect(refused.stderr).toContain(`driftlock: data_dir ${dir}/data (${file}:`);
    expect(refused.stderr).toContain(`is in use by another driftlock (PID ${first.child.pid} on this host, running since `);
    // Logged with the folder once, as the line's data_dir (before, also as the error's dataDir).
    const logged = logLines(refused.stderr).find((l) => l.msg === 'cannot start: data_dir')!;
    expect(logged.data_dir).toBe(`${dir}/data`);
    expect(Object.keys(logged.err as object)).toEqual(['type', 'message']);
    // The first answers on its lock socket, so the second does not wait for a lock that will not go stale.
    expect(logLines(refused.stderr).some((l) => String(l.msg).startsWith('the data_dir lock is held'))).toBe(false);
    first.child.kill('SIGTERM');
    expect((await first.exited).code).toBe(0);
    expect(existsSync(path.join(dir, 'data', 'driftlock.lock'))).toBe(false);
    expect(existsSync(path.join(dir, 'data', 'driftlock.lock.owner'))).toBe(false);
  }, 30_000);

  it('a second signal exits at once (130), and neither the lock nor its owner file nor its socket is left behind', async () => {
    const dir = await tempDir('dl-life-');
    const file = await pipelineFile(dir, `inputs: { demo: { type: demo, rate: 50 } }
outputs: { out: { type: slow_out, inputs: [demo], build_ms: 0 } }
`);
    // An output that never finishes: the first SIGTERM's drain waits for it.
    await writeFile(path.join(dir, 'slow.mjs'), STUCK_PLUGIN);
    const cli = startCli(['run', '-c', file]);
    await cli.waitFor(/driftlock running/);
    expect(existsSync(path.join(dir, 'data', 'driftlock.lock.owner'))).toBe(true);
    cli.child.kill('SIGTERM');
    await cli.waitFor(/stopping: draining/);
    cli.child.kill('SIGINT');
    // Its drain would wait up to the default shutdown_timeout (30 s), and exit 1: 130 says the signal ended it.
    const result = await exitsWithin(cli, 10_000);
    expect({ code: result.code, signal: result.signal }).toEqual({ code: 130, signal: null });
    expect(existsSync(path.join(dir, 'data', 'driftlock.lock'))).toBe(false);
    expect(existsSync(path.join(dir, 'data', 'driftlock.lock.owner'))).toBe(false);
    expect(existsSync(path.join(dir, 'data', 'driftlock.lock.sock'))).toBe(false);
  }, 20_000);

  it('a lock whose owner PID is now another live process is still taken over once stale: only its freshness counts', async () => {
    const { dir, file } = await demoToFile(5);
    // A daemon SIGKILLed just now, whose PID was given since to another process (this test's own).
    await mkdir(path.join(dir, 'data', 'driftlock.lock'), { recursive: true });
    await writeFile(path.join(dir, 'data', 'driftlock.lock.owner'), JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() }));
    const started = Date.now();
    const cli = startCli(['run', '-c', file]);
    await cli.waitFor(/driftlock running/, 'stderr', 15_000);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(JSON.parse(await readFile(path.join(dir, 'data', 'driftlock.lock.owner'), 'utf8')).pid).toBe(cli.child.pid);
    cli.child.kill('SIGTERM');
    expect((await cli.exited).code).toBe(0);
  }, 30_000);
});

describe('restart after a SIGKILL', () => {
  /** A daemon on a new folder, running, then killed with SIGKILL (an OOM kill): its lock is left fresh. */
  async function killedDaemon() {
    const { dir, file } = await demoToFile(5);
    const first = startCli(['run', '-c', file]);
    await first.waitFor(/driftlock running/);
    first.child.kill('SIGKILL');
    await first.exited;
    expect(existsSync(path.join(dir, 'data', 'driftlock.lock'))).toBe(true);
    return { dir, file, pid: first.child.pid! };
  }

  it('takes the lock at once when its holder is provably dead on this host (its lock socket refuses connections), and says so', async () => {
    const { dir, file, pid } = await killedDaemon();
    const started = Date.now();
    const next = startCli(['run', '-c', file]);
    await next.waitFor(/driftlock running/, 'stderr', 15_000);
    // Before: about 5 to 6 s, waiting for the lock to go stale.
    expect(Date.now() - started).toBeLessThan(3_500);
    const took = logLines(next.stderr()).find((l) => String(l.msg).startsWith('the data_dir lock was held by PID'))!;
    expect(took.msg).toContain(`PID ${pid}, which is dead`);
    expect(took.msg).toContain('took the lock over at once');
    expect(took.held_by).toMatchObject({ pid });
    expect(next.stderr()).not.toContain('waiting up to');
    expect(JSON.parse(await readFile(path.join(dir, 'data', 'driftlock.lock.owner'), 'utf8')).pid).toBe(next.child.pid);
    next.child.kill('SIGTERM');
    expect((await next.exited).code).toBe(0);
    // Let go at a clean exit: the lock, its owner file and its socket.
    for (const name of ['driftlock.lock', 'driftlock.lock.owner', 'driftlock.lock.sock', 'driftlock.lock.takeover']) expect(existsSync(path.join(dir, 'data', name))).toBe(false);
  }, 30_000);

  it('of 4 daemons started together after it, exactly one takes the lock over and says so; the others are refused (78), naming it', async () => {
    const { dir, file, pid } = await killedDaemon();
    const daemons = Array.from({ length: 4 }, () => startCli(['run', '-c', file]));
    const tookOver = (cli: RunningCli) => logLines(cli.stderr()).some((l) => String(l.msg).includes(`PID ${pid}, which is dead`));
    // The refused ones exit after waiting up to 7 s for the lock to go stale.
    await until(() => daemons.filter((cli) => cli.child.exitCode !== null).length >= 3, '3 of the 4 daemons exiting', {
      timeoutMs: 20_000,
      detail: () => daemons.map((cli) => `PID ${cli.child.pid}: exit ${cli.child.exitCode}\n${cli.stderr().slice(-1000)}`).join('\n'),
    });
    // Two refreshes of the lock later (every 2.5 s: its mtime moves twice), the one left still runs: its lock
    // was not removed by another (a refresh finds that, and the daemon exits 75).
    const lock = path.join(dir, 'data', 'driftlock.lock');
    const mtimes = new Set<number>();
    await until(async () => {
      const mtime = (await stat(lock).catch(() => undefined))?.mtimeMs;
      if (mtime !== undefined) mtimes.add(mtime);
      return mtimes.size >= 3 || daemons.every((cli) => cli.child.exitCode !== null);
    }, 'two refreshes of the lock by the daemon left', { timeoutMs: 10_000 });
    const running = daemons.filter((cli) => cli.child.exitCode === null);
    const summary = daemons.map((cli) => `PID ${cli.child.pid}: exit ${cli.child.exitCode}, took over: ${tookOver(cli)}\n${cli.stderr().slice(-1500)}`).join('\n');
    expect(running, summary).toHaveLength(1);
    const [winner] = running as [RunningCli];
    expect(tookOver(winner), summary).toBe(true);
    expect(winner.stderr()).toMatch(/driftlock running/);
    for (const cli of daemons.filter((d) => d !== winner)) {
      const result = await cli.exited;
      expect(result.code, summary).toBe(78);
      expect(tookOver(cli), summary).toBe(false);
      expect(result.stderr).toContain(`is in use by another driftlock (PID ${winner.child.pid} on this host`);
    }
    expect(JSON.parse(await readFile(path.join(dir, 'data', 'driftlock.lock.owner'), 'utf8')).pid).toBe(winner.child.pid);
    // The mutex taken while taking the lock is let go.
    expect(existsSync(path.join(dir, 'data', 'driftlock.lock.takeover'))).toBe(false);
    winner.child.kill('SIGTERM');
    expect((await winner.exited).code).toBe(0);
  }, 40_000);

  it('a takeover mutex left by a daemon killed while it took the lock is taken over once 5 s old: at once if it is, after waiting if not', async () => {
    const { dir, file } = await demoToFile(5);
    const mutex = path.join(dir, 'data', 'driftlock.lock.takeover');
    await mkdir(mutex, { recursive: true });
    const old = new Date(Date.now() - 10_000);
    await utimes(mutex, old, old);
    let started = Date.now();
    const first = startCli(['run', '-c', file]);
    await first.waitFor(/driftlock running/, 'stderr', 15_000);
    expect(Date.now() - started).toBeLessThan(3_500);
    expect(first.stderr()).not.toContain('waiting up to');
    first.child.kill('SIGTERM');
    expect((await first.exited).code).toBe(0);
    expect(existsSync(mutex)).toBe(false);
    // Made just now: another daemon may be taking the lock; waited for until it is 5 s old.
    await mkdir(mutex);
    started = Date.now();
    const next = startCli(['run', '-c', file]);
    await next.waitFor(/driftlock running/, 'stderr', 15_000);
    expect(Date.now() - started).toBeGreaterThan(4_000);
    expect(next.stderr()).toContain('the data_dir lock is held; waiting up to 7 s');
    next.child.kill('SIGTERM');
    expect((await next.exited).code).toBe(0);
    expect(existsSync(mutex)).toBe(false);
  }, 40_000);

  it('a data_dir too long for a Unix socket path: runs, leaves no socket anywhere, and a restart after a SIGKILL waits for the lock to go stale', async () => {
    const dir = await tempDir('dl-life-');
    // The socket's path would be 140-odd bytes, past the 107 a Unix socket can have. Before, Node cut it at
    // 107 and listened there: a socket file named like a piece of data_dir, left in one of its parent
    // folders for good (not removed at a clean exit either).
    const parent = path.join(dir, 'p'.repeat(60));
    const dataDir = path.join(parent, 'd'.repeat(140 - parent.length));
    await mkdir(dataDir, { recursive: true });
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, `data_dir: ${dataDir}\ninputs: { demo: { type: demo, rate: 5 } }\noutputs: { out: { type: file, inputs: [demo], path: ${dir}/out.log } }\n`);
    const sockets = async () => {
      const found: string[] = [];
      for (const folder of [dir, parent, dataDir]) {
        for (const name of await readdir(folder)) if ((await lstat(path.join(folder, name))).isSocket()) found.push(path.join(folder, name));
      }
      return found;
    };
    const first = startCli(['run', '-c', file]);
    await first.waitFor(/driftlock running/);
    expect(await sockets()).toEqual([]);
    first.child.kill('SIGKILL');
    await first.exited;
    const started = Date.now();
    const next = startCli(['run', '-c', file]);
    await next.waitFor(/driftlock running/, 'stderr', 15_000);
    expect(Date.now() - started).toBeGreaterThan(2_000);
    expect(next.stderr()).toContain('the data_dir lock is held; waiting up to 7 s');
    next.child.kill('SIGTERM');
    expect((await next.exited).code).toBe(0);
    expect(await sockets()).toEqual([]);
  }, 30_000);

  it('waits for the lock to go stale when the holder\'s death cannot be proved (its record is from another host: another boot id)', async () => {
    const { dir, file } = await killedDaemon();
    const ownerFile = path.join(dir, 'data', 'driftlock.lock.owner');
    const owner = JSON.parse(await readFile(ownerFile, 'utf8')) as { proof: { boot_id: string } };
    owner.proof.boot_id = '00000000-0000-0000-0000-000000000000';
    await writeFile(ownerFile, JSON.stringify(owner));
    const started = Date.now();
    const next = startCli(['run', '-c', file]);
    await next.waitFor(/driftlock running/, 'stderr', 15_000);
    expect(Date.now() - started).toBeGreaterThan(2_000);
    expect(next.stderr()).toContain('the data_dir lock is held; waiting up to 7 s');
    expect(next.stderr()).not.toContain('which is dead');
    next.child.kill('SIGTERM');
    expect((await next.exited).code).toBe(0);
  }, 30_000);
});

describe('reload outcome', () => {
  it('a SIGHUP with a broken config is said on /health (still 200: the previous config runs) and in /metrics, until a reload takes effect (the file fixed back: unchanged, nothing rebuilt)', async () => {
    const dir = await tempDir('dl-life-');
    const good = `data_dir: ${dir}/data
api: { enabled: true, address: "127.0.0.1:0" }
inputs: { demo: { type: demo, rate: 20 } }
outputs: { out: { type: file, inputs: [demo], path: ${dir}/out.log } }
`;
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, good);
    const cli = startCli(['run', '-c', file]);
    await cli.waitFor(/driftlock running/);
    const api = `http://${apiAddress(cli)}`;
    const reloadMetrics = async () => (await (await fetch(`${api}/metrics`)).text()).split('\n').filter((l) => l.startsWith('driftlock_config_'));
    expect(await reloadMetrics()).toEqual(['driftlock_config_reloads_total{result="succeeded"} 0', 'driftlock_config_reloads_total{result="failed"} 0', 'driftlock_config_last_reload_successful 1']);

    await writeFile(file, good.replace('type: file', 'type: fil').replace('rate: 20', 'rate: x'));
    cli.child.kill('SIGHUP');
    await cli.waitFor(/SIGHUP: the config does not load/);
    const health = await fetch(`${api}/health`);
    expect(health.status).toBe(200);
    const body = (await health.json()) as { status: string; reload: { result: string; at: string; error: string; problems: string[] } };
    expect(body.status).toBe('ok');
    expect(body.reload.result).toBe('failed');
    // One line, the problems also a list of one-line items, as the log has them (before: 'the config does
    // not load: invalid configuration (2 problems)\n  <file>:3:...\n  <file>:4:...', with no list).
    expect(body.reload.problems).toEqual([`${file}:3:37: component "demo", key rate: expected a number; found "x"`, expect.stringMatching(new RegExp(`^${file}:4:`))]);
    expect(body.reload.problems[1]).toContain('did you mean "file"?');
    expect(body.reload.error).toBe(`the config does not load: 2 problems: ${body.reload.problems.join('; ')}`);
    expect(await reloadMetrics()).toEqual(['driftlock_config_reloads_total{result="succeeded"} 0', 'driftlock_config_reloads_total{result="failed"} 1', 'driftlock_config_last_reload_successful 0']);

    // The file as the running config again: nothing to rebuild, and the reload has taken effect.
    await writeFile(file, good);
    cli.child.kill('SIGHUP');
    await cli.waitFor(/SIGHUP: config unchanged/);
    expect(cli.stderr()).not.toContain('SIGHUP: reloading the config');
    expect(await (await fetch(`${api}/health`)).json()).toEqual({ status: 'ok' });
    expect(await reloadMetrics()).toEqual(['driftlock_config_reloads_total{result="succeeded"} 1', 'driftlock_config_reloads_total{result="failed"} 1', 'driftlock_config_last_reload_successful 1']);
    cli.child.kill('SIGTERM');
    expect((await cli.exited).code).toBe(0);
  }, 30_000);
});

describe('an empty config file', () => {
  it('is said to be empty by validate, at the start and on a reload (before: inputs and outputs "missing required key")', async () => {
    const dir = await tempDir('dl-life-');
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, '');
    const said = `${file}: the file is empty: a pipeline has inputs and outputs at the top level`;
    const validate = await runCli(['validate', '-c', file]);
    expect(validate.code).toBe(78);
    expect(validate.stderr).toBe(`driftlock: invalid configuration\n  ${said}\n`);
    const start = await runCli(['run', '-c', file]);
    expect(start.code).toBe(78);
    expect(start.stderr).toContain(said);
    await writeFile(file, '# inputs: to come\n\n');
    expect((await runCli(['validate', '-c', file])).stderr).toContain(`${file}: the file holds only comments: a pipeline has`);

    await writeFile(file, `data_dir: ${dir}/data
inputs: { demo: { type: demo, rate: 20 } }
outputs: { out: { type: file, inputs: [demo], path: ${dir}/out.log } }
`);
    const cli = startCli(['run', '-c', file]);
    await cli.waitFor(/driftlock running/);
    // Truncated, as an editor may leave it for a moment, when the SIGHUP comes.
    await writeFile(file, '');
    cli.child.kill('SIGHUP');
    await cli.waitFor(/SIGHUP: the config does not load/);
    const refused = logLines(cli.stderr()).find((l) => String(l.msg).startsWith('SIGHUP: the config does not load'))!;
    expect(refused.problems).toEqual([said]);
    cli.child.kill('SIGTERM');
    expect((await cli.exited).code).toBe(0);
  }, 30_000);
});

describe('a reload that changes only log_level', () => {
  it('sets the level in place: nothing drained or rebuilt, and the components log at the new level', async () => {
    const dir = await tempDir('dl-life-');
    await mkdir(path.join(dir, 'logs'));
    const config = (level: string) => `log_level: ${level}
data_dir: ${dir}/data
inputs: { app: { type: file, include: ["${dir}/logs/*.log"] } }
outputs: { out: { type: file, inputs: [app], path: ${dir}/out.log } }
`;
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, config('info'));
    const cli = startCli(['run', '-c', file]);
    await cli.waitFor(/driftlock running/);

    await writeFile(file, config('debug'));
    cli.child.kill('SIGHUP');
    await cli.waitFor(/SIGHUP: only log_level changed \(info to debug\): applied in place; nothing drained or rebuilt/);
    // The file input, kept running, logs at debug now: a new file is said.
    await writeFile(path.join(dir, 'logs', 'new.log'), 'one\n');
    await cli.waitFor(/"component":"app".*"msg":"reading new file"/);

    await writeFile(file, config('info'));
    cli.child.kill('SIGHUP');
    await cli.waitFor(/SIGHUP: only log_level changed \(debug to info\)/);
    await writeFile(path.join(dir, 'logs', 'other.log'), 'two\n');
    // Read (it reaches the output), and not said at info.
    await until(async () => (await readFile(path.join(dir, 'out.log'), 'utf8').catch(() => '')).includes('two'), 'out.log holding the line "two" of other.log', { timeoutMs: 10_000, detail: () => cli.stderr().slice(-2000) });
    cli.child.kill('SIGTERM');
    const { code, stderr } = await cli.exited;
    expect(code).toBe(0);
    const lines = logLines(stderr);
    expect(lines.filter((l) => l.msg === 'reading new file').map((l) => l.file)).toEqual([path.join(dir, 'logs', 'new.log')]);
    // One pipeline from start to end: never drained, never built again.
    expect(lines.filter((l) => l.msg === 'pipeline started')).toHaveLength(1);
    expect(stderr).not.toContain('SIGHUP: reloading the config');
    expect(await readFile(path.join(dir, 'out.log'), 'utf8')).toMatch(/one[\s\S]*two/);
  }, 30_000);
});

describe('a reload whose new pipeline never finishes starting', () => {
  it('is given up on after shutdown_timeout: the previous config runs again, /health and /metrics say the reload failed, the log names the component', async () => {
    const dir = await tempDir('dl-life-');
    const out = path.join(dir, 'out.log');
    const file = await pipelineFile(dir, `shutdown_timeout: 1s
api: { enabled: true, address: "127.0.0.1:0" }
inputs:
  demo: { type: demo, rate: 50 }
outputs:
  out: { type: file, inputs: [demo], path: ${out} }
  slow: { type: slow_out, inputs: [demo], build_ms: 0 }
`);
    const cli = startCli(['run', '-c', file]);
    await cli.waitFor(/driftlock running/);
    const api = `http://${apiAddress(cli)}`;
    const lines = async () => (await readFile(out, 'utf8').catch(() => '')).split('\n').filter(Boolean).length;
    const reloadMetrics = async () => (await (await fetch(`${api}/metrics`)).text()).split('\n').filter((l) => l.startsWith('driftlock_config_'));

    // An output whose build() never ends. Before: /health said 503 reloading for ever, nothing was written.
    await writeFile(file, (await readFile(file, 'utf8')).replace('build_ms: 0', 'build_ms: -1'));
    cli.child.kill('SIGHUP');
    await cli.waitFor(/SIGHUP: reloading the config/);
    expect((await fetch(`${api}/health`)).status).toBe(503);
    await cli.waitFor(/SIGHUP: the new pipeline cannot start; starting the previous config again/, 'stderr', 6_000);
    const failed = logLines(cli.stderr()).find((l) => l.msg === 'SIGHUP: the new pipeline cannot start; starting the previous config again')!;
    expect((failed.err as { message: string }).message).toBe('output "slow" cannot start: its build() did not finish within shutdown_timeout (1000 ms); given up on');
    // Once the previous config has started again.
    await until(async () => (await fetch(`${api}/health`)).status === 200, 'GET /health answering 200 once the previous config runs again', { timeoutMs: 10_000, detail: () => cli.stderr().slice(-2000) });
    const said = (await (await fetch(`${api}/health`)).json()) as { status: string; reload: { result: string; error: string } };
    expect(said.status).toBe('ok');
    expect(said.reload.result).toBe('failed');
    expect(said.reload.error).toContain('output "slow" cannot start: its build() did not finish within shutdown_timeout');
    expect(await reloadMetrics()).toEqual(['driftlock_config_reloads_total{result="succeeded"} 0', 'driftlock_config_reloads_total{result="failed"} 1', 'driftlock_config_last_reload_successful 0']);
    // The previous config runs: the demo input, kept through the reload, goes on into its file output.
    const before = await lines();
    await until(async () => (await lines()) > before + 10, 'out.log getting 10 more lines after the first failed reload', { timeoutMs: 10_000, detail: () => cli.stderr().slice(-2000) });

    // An input whose \`ready\` never resolves: the same.
    await writeFile(file, (await readFile(file, 'utf8')).replace('build_ms: -1', 'build_ms: 0').replace('outputs:', '  late: { type: late, ready_ms: 600000 }\noutputs:').replace('inputs: [demo], path', 'inputs: [demo, late], path'));
    cli.child.kill('SIGHUP');
    await until(() => logLines(cli.stderr()).filter((l) => l.msg === 'SIGHUP: the new pipeline cannot start; starting the previous config again').length === 2, 'a second "SIGHUP: the new pipeline cannot start" line', { timeoutMs: 6_000, detail: () => cli.stderr().slice(-2000) });
    const second = logLines(cli.stderr()).filter((l) => l.msg === 'SIGHUP: the new pipeline cannot start; starting the previous config again')[1]!;
    expect((second.err as { message: string }).message).toBe('input "late" cannot start: its `ready` did not resolve within shutdown_timeout (1000 ms); given up on');
    await until(async () => (await fetch(`${api}/health`)).status === 200, 'GET /health answering 200 once the previous config runs again', { timeoutMs: 10_000, detail: () => cli.stderr().slice(-2000) });
    expect(await reloadMetrics()).toEqual(['driftlock_config_reloads_total{result="succeeded"} 0', 'driftlock_config_reloads_total{result="failed"} 2', 'driftlock_config_last_reload_successful 0']);
    // Each said once (before, the component first said 'the start gave up on it' with the same words).
    expect(logLines(cli.stderr()).filter((l) => l.level === 'error').map((l) => l.msg)).toEqual(Array(2).fill('SIGHUP: the new pipeline cannot start; starting the previous config again'));
    const after = await lines();
    await until(async () => (await lines()) > after + 10, 'out.log getting 10 more lines after the second failed reload', { timeoutMs: 10_000, detail: () => cli.stderr().slice(-2000) });

    cli.child.kill('SIGTERM');
    const result = await exitsWithin(cli, 4_000);
    expect({ code: result.code, signal: result.signal }).toEqual({ code: 0, signal: null });
  }, 40_000);
});

describe('inputs that end by themselves (stdin at EOF)', () => {
  it('a SIGTERM during that drain lets it go on, and its end is said once', async () => {
    const dir = await tempDir('dl-life-');
    const file = await pipelineFile(dir, `shutdown_timeout: 2s
inputs: { app: { type: stdin } }
outputs:
  stuck: { type: slow_out, inputs: [app], build_ms: 0 }
`);
    await writeFile(path.join(dir, 'slow.mjs'), STUCK_PLUGIN);
    const cli = startCli(['run', '-c', file]);
    await cli.waitFor(/driftlock running/);
    cli.child.stdin!.end('one\ntwo\n');
    await cli.waitFor(/every input has ended: draining/);
    cli.child.kill('SIGTERM');
    const result = await exitsWithin(cli, 5_000);
    expect({ code: result.code, signal: result.signal }).toEqual({ code: 1, signal: null });
    const lines = logLines(result.stderr);
    // Before: 'stopping: draining in-flight events' as if the drain began then, a second stop of the same
    // pipeline, and its end said twice: the timeout, then 'stopped before every event reached its outputs'.
    expect(lines.filter((l) => l.level === 'error').map((l) => l.msg)).toEqual(['shutdown timeout reached before all events drained; unacknowledged events will be read again where the input supports it']);
    expect(lines.some((l) => String(l.msg).startsWith('stopping: draining'))).toBe(false);
    expect(lines.find((l) => l.signal === 'SIGTERM')!.msg).toBe('SIGTERM: the drain under way (every input has ended) goes on, within shutdown_timeout (send the signal again to exit at once)');
    expect(lines.find((l) => l.msg === 'all inputs finished; stopped')!.drained).toBe(false);
  }, 20_000);

  it('the drain that follows has shutdown_timeout too: an output that never finishes does not hold the exit (1)', async () => {
    const dir = await tempDir('dl-life-');
    const file = await pipelineFile(dir, `shutdown_timeout: 1s
inputs: { app: { type: stdin } }
outputs:
  stuck: { type: slow_out, inputs: [app], build_ms: 0 }
  archive: { type: file, inputs: [app], path: ${dir}/out.log }
`);
    await writeFile(path.join(dir, 'slow.mjs'), STUCK_PLUGIN);
    const cli = startCli(['run', '-c', file]);
    await cli.waitFor(/driftlock running/);
    cli.child.stdin!.end('one\ntwo\nthree\n');
    const result = await exitsWithin(cli, 5_000);
    expect({ code: result.code, signal: result.signal }).toEqual({ code: 1, signal: null });
    const lines = logLines(result.stderr);
    expect(lines.some((l) => String(l.msg).startsWith('every input has ended: draining'))).toBe(true);
    expect(lines.some((l) => String(l.msg).startsWith('shutdown timeout reached'))).toBe(true);
    expect(lines.find((l) => l.msg === 'all inputs finished; stopped')!.drained).toBe(false);
    // The other output drained.
    expect((await readFile(path.join(dir, 'out.log'), 'utf8')).split('\n').filter(Boolean)).toHaveLength(3);
  }, 20_000);

  it('with outputs that finish, the drain is clean: every line written, exit 0', async () => {
    const dir = await tempDir('dl-life-');
    const file = await pipelineFile(dir, `inputs: { app: { type: stdin } }
outputs: { archive: { type: file, inputs: [app], path: ${dir}/out.log } }
`);
    const cli = startCli(['run', '-c', file]);
    await cli.waitFor(/driftlock running/);
    cli.child.stdin!.end(Array.from({ length: 5000 }, (_, i) => `line ${i}`).join('\n') + '\n');
    const result = await exitsWithin(cli, 10_000);
    expect({ code: result.code, signal: result.signal }).toEqual({ code: 0, signal: null });
    expect((await readFile(path.join(dir, 'out.log'), 'utf8')).split('\n').filter(Boolean)).toHaveLength(5000);
  }, 20_000);
});

describe('anomaly_detect whose flush() does not return (its state save hangs in data_dir)', () => {
  it('the failed flush says it held back no events, none lost: it did not claim a loss it could not count', async () => {
    // Before: "what it held back is lost (how many events, it does not say ...)": anomaly_detect had no pending(),
    // though it holds back no event of its input. The save hangs here on a FIFO as its temp file (open() waits
    // for a reader that never comes), as on a data_dir whose network mount hangs.
    const dir = await tempDir('dl-lifecycle-');
    await mkdir(path.join(dir, 'data/detect'), { recursive: true });
    execFileSync('mkfifo', [path.join(dir, 'data/detect/detector.json.tmp')]);
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, `data_dir: ${dir}/data
shutdown_timeout: 1s
inputs: { in: { type: stdin } }
transforms: { detect: { type: anomaly_detect, inputs: [in], stream_id: app, emit: all } }
outputs: { out: { type: file, inputs: [detect], path: ${dir}/out.jsonl } }
`);
    const fifo = path.join(dir, 'data/detect/detector.json.tmp');
    const cli = startCli(['run', '-c', file]);
    try {
      cli.child.stdin!.end(Array.from({ length: 20 }, (_, i) => `user ${i % 3} logged in`).join('\n') + '\n');
      await cli.waitFor(/"drained":false/);
    } finally {
      // Node's exit waits for its thread still in open(): it returns once the FIFO has a reader.
      await new Promise((resolve) => execFile('cat', [fifo], resolve));
    }
    const result = await cli.exited;
    expect(result.code, result.stderr.slice(-3000)).toBe(1);
    const failed = logLines(result.stderr).find((l) => l.component === 'detect' && String(l.msg).startsWith("transform's flush() failed"));
    expect(failed).toMatchObject({ msg: "transform's flush() failed: it held back no events, none is lost", lost_events: 0, err: { message: 'it had not returned when shutdown_timeout (1000 ms) passed' } });
    // Every line went through before the flush.
    expect((await readFile(path.join(dir, 'out.jsonl'), 'utf8')).split('\n').filter(Boolean)).toHaveLength(20);
  }, 30_000);
});

describe('other signals', () => {
  it('SIGUSR1 and SIGUSR2 are ignored with a warning: no inspector is opened, no exit without a drain', async () => {
    const { file } = await demoToFile(20);
    const cli = startCli(['run', '-c', file]);
    await cli.waitFor(/driftlock running/);
    cli.child.kill('SIGUSR1');
    await cli.waitFor(/SIGUSR1 ignored/);
    cli.child.kill('SIGUSR2');
    await cli.waitFor(/SIGUSR2 ignored/);
    // Before, SIGUSR1 started Node's inspector ("Debugger listening on ws://127.0.0.1:9229/...", or its
    // failure when the port was taken) and SIGUSR2 killed the daemon.
    expect(cli.stderr()).not.toMatch(/Debugger listening|inspector/i);
    cli.child.kill('SIGTERM');
    const result = await cli.exited;
    expect({ code: result.code, signal: result.signal }).toEqual({ code: 0, signal: null });
  }, 20_000);
});
