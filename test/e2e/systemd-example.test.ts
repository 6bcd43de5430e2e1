/**
 * examples/systemd/driftlock.service: systemd's own check of the unit, then its commands run as systemd
 * runs them (the unit's Environment= and EnvironmentFile=, ExecStartPre=, ExecStart=, ExecReload= (validate,
 * then kill -HUP $MAINPID), SIGTERM within TimeoutStopSec=), with `driftlock` standing for the installed binary.
 */
import { spawnSync } from 'node:child_process';
import { chmod, readFile, writeFile, appendFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, ROOT, startCli } from '../helpers/cli.js';
import { execFileForTest } from '../helpers/processes.js';
import { tempDir } from '../helpers/temp.js';
import { until } from '../helpers/wait.js';

const UNIT = path.join(ROOT, 'examples/systemd/driftlock.service');
const BINARY = '/usr/local/bin/driftlock';
/** EX_CONFIG of sysexits.h: what `driftlock validate` and `run` exit with on a config error. */
const EXIT_CONFIG = 78;

/** The unit's [Service] settings: each key's values in order (Environment= may repeat). */
function service(text: string): Map<string, string[]> {
  const section = /^\[Service\]\n([\s\S]*?)(?=^\[|(?![\s\S]))/m.exec(text)![1]!;
  const settings = new Map<string, string[]>();
  for (const line of section.split('\n')) {
    const m = /^(\w+)=(.*)$/.exec(line);
    if (m) settings.set(m[1]!, [...(settings.get(m[1]!) ?? []), m[2]!]);
  }
  return settings;
}

/** A command line of the unit, with `driftlock` standing for the installed binary and $MAINPID filled in. */
function command(line: string, mainPid?: number): string[] {
  return line.split(/\s+/).map((w) => (w === '$MAINPID' ? String(mainPid) : w));
}

const hasSystemdAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

describe('examples/systemd/driftlock.service', () => {
  it.runIf(hasSystemdAnalyze)('passes systemd-analyze verify without a warning', async () => {
    const dir = await tempDir('dl-systemd-');
    // verify checks that the commands exist: point the unit at a driftlock that does.
    const binary = path.join(dir, 'driftlock');
    await writeFile(binary, `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
    await chmod(binary, 0o755);
    const unit = path.join(dir, 'driftlock.service');
    await writeFile(unit, (await readFile(UNIT, 'utf8')).replaceAll(BINARY, binary));
    const result = await execFileForTest('systemd-analyze', ['verify', unit]).catch((err: { code: number; stderr: string; stdout: string }) => err);
    expect(`${result.stdout}${result.stderr}`).toBe('');
  });

  it('its commands validate, run, reload on SIGHUP, stop on SIGTERM in time; a config error is not restarted', async () => {
    const unit = service(await readFile(UNIT, 'utf8'));
    const dir = await tempDir('dl-systemd-');
    const env: Record<string, string> = {};
    for (const e of unit.get('Environment') ?? []) {
      const [k, ...v] = e.split('=');
      env[k!] = v.join('=');
    }
    // Paths of the host, here in the test's folder; the secrets file as EnvironmentFile= reads it.
    const pipeline = path.join(dir, 'driftlock.yaml');
    const log = path.join(dir, 'app.log');
    env.DRIFTLOCK_CONFIG = pipeline;
    env.DRIFTLOCK_DATA_DIR = path.join(dir, 'state');
    const envFile = unit.get('EnvironmentFile')![0]!;
    expect(envFile.startsWith('-')).toBe(true); // optional: a host without secrets starts too
    await writeFile(pipeline, `data_dir: \${DRIFTLOCK_DATA_DIR:-/var/lib/driftlock}
inputs: { app: { type: file, include: [${log}], start_at: beginning } }
outputs: { out: { type: file, inputs: [app], path: "\${OUT_FILE}" } }
`);
    await writeFile(path.join(dir, 'env'), `OUT_FILE=${path.join(dir, 'out-1.log')}\n`);
    const fileEnv = () => readFile(path.join(dir, 'env'), 'utf8').then((t) => Object.fromEntries(t.trim().split('\n').map((l) => l.split('=') as [string, string])));
    await writeFile(log, 'one\ntwo\n');

    const run = (line: string) => {
      const [bin, ...args] = command(line);
      expect(bin).toBe(BINARY);
      return args;
    };
    const pre = await execFileForTest(process.execPath, [CLI, ...run(unit.get('ExecStartPre')![0]!)], { env: { ...process.env, ...env, ...(await fileEnv()) } });
    expect(pre.stdout).toContain('valid (1 input, 0 transforms, 1 output)');

    const daemon = startCli(run(unit.get('ExecStart')![0]!), { env: { ...env, ...(await fileEnv()) }, cwd: dir });
    try {
      await daemon.waitFor(/driftlock running/);
      // ExecReload= lines, run in turn as systemd runs them: the first that fails fails the reload, and
      // the rest are not run.
      const reload = async () => {
        for (const line of unit.get('ExecReload')!) {
          const [bin, ...args] = command(line, daemon.child.pid);
          const ran = bin === BINARY ? spawnSync(process.execPath, [CLI, ...args], { env: { ...process.env, ...env, ...(await fileEnv()) }, encoding: 'utf8' }) : spawnSync(bin!, args, { encoding: 'utf8' });
          if (ran.status !== 0) return { status: ran.status, stderr: ran.stderr };
        }
        return { status: 0, stderr: '' };
      };
      // A broken edit: `systemctl reload` fails with the config's errors, and the daemon is not signalled.
      const good = await readFile(pipeline, 'utf8');
      await writeFile(pipeline, good.replace('type: file, inputs', 'type: fil, inputs'));
      const refused = await reload();
      expect(refused.status).toBe(EXIT_CONFIG);
      expect(refused.stderr).toContain('driftlock.yaml:3:');
      await new Promise((r) => setTimeout(r, 300));
      expect(daemon.stderr()).not.toContain('SIGHUP');
      // The pipeline's output moves to out-2.log; the lines go on.
      await writeFile(pipeline, good.replace('${OUT_FILE}', path.join(dir, 'out-2.log')));
      expect((await reload()).status).toBe(0);
      await daemon.waitFor(/config reloaded/);
      await appendFile(log, 'three\n');
      await until(async () => (await readFile(path.join(dir, 'out-2.log'), 'utf8').catch(() => '')).includes('three'), 'out-2.log holding the line "three" after the reload', {
        timeoutMs: 5_000,
        detail: () => daemon.stderr().slice(-2000),
      });
    } finally {
      daemon.child.kill('SIGTERM'); // systemd's KillSignal= default
    }
    const stoppedAt = performance.now();
    const result = await daemon.exited;
    expect(result.code, result.stderr.slice(-2000)).toBe(0);
    expect(performance.now() - stoppedAt).toBeLessThan(Number(/^(\d+)$/.exec(unit.get('TimeoutStopSec')![0]!)![1]) * 1000);
    expect(await readFile(path.join(dir, 'out-1.log'), 'utf8')).toMatch(/"one"[\s\S]*"two"/);
    expect(await readFile(path.join(dir, 'out-2.log'), 'utf8')).toContain('"three"');

    // A broken pipeline: ExecStartPre fails with the config exit code, which the unit does not restart.
    await writeFile(pipeline, 'inputs: { app: { type: file, include: [] } }\n');
    const broken = spawnSync(process.execPath, [CLI, ...run(unit.get('ExecStartPre')![0]!)], { env: { ...process.env, ...env }, encoding: 'utf8' });
    expect(broken.status).toBe(EXIT_CONFIG);
    expect(broken.stderr).toContain('outputs');
    expect(unit.get('RestartPreventExitStatus')![0]!.split(/\s+/)).toContain(String(EXIT_CONFIG));
    expect(unit.get('Restart')).toEqual(['on-failure']);
  }, 60_000);
});
