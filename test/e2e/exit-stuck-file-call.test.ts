/**
 * A file system call that never returns (here a FIFO that nothing reads, opened where a file was expected;
 * in production a hung NFS mount) and the daemon's exit. Node's exit waits for such a call (libuv joins its
 * threads), so before, a daemon that had stopped stayed alive for ever, ignoring signals, until a service
 * manager killed it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { logLines, startCli, type CliResult, type RunningCli } from '../helpers/cli.js';
import { freePort, scrape } from '../helpers/metrics.js';
import { tempDir } from '../helpers/temp.js';
import { until } from '../helpers/wait.js';

/** The daemon's end, or null when it has not ended within `ms` (it is then killed). */
async function endWithin(cli: RunningCli, ms: number): Promise<CliResult | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), ms)));
  const result = await Promise.race([cli.exited, late]);
  clearTimeout(timer);
  if (result === null) cli.child.kill('SIGKILL');
  return result;
}

describe('daemon exit with a file system call that does not return', () => {
  it('a file output stuck opening a FIFO: after shutdown_timeout the daemon says why and kills itself instead of staying alive', async () => {
    const dir = await tempDir('dl-stuck-');
    const log = path.join(dir, 'app.log');
    await writeFile(log, 'one\ntwo\n');
    const fifo = path.join(dir, 'out.fifo');
    execFileSync('mkfifo', [fifo]);
    const port = await freePort();
    const config = path.join(dir, 'pipeline.yaml');
    await writeFile(config, `data_dir: ${dir}/data
shutdown_timeout: 1s
api: { enabled: true, address: '127.0.0.1:${port}' }
inputs: { tail: { type: file, include: ['${log}'], start_at: beginning } }
outputs: { out: { type: file, inputs: [tail], path: '${fifo}' } }
`);
    const cli = startCli(['run', '-c', config]);
    await cli.waitFor(/driftlock running/);
    // The lines have reached the output, which is opening the FIFO (and stuck there): a stop before that
    // has nothing to write, opens nothing, and exits 0.
    await until(async () => (await scrape(port)).get('received_events_total/out') === 2, 'both lines at the output');
    cli.child.kill('SIGTERM');
    // shutdown_timeout (1 s), then at most 2 s for the stuck call: 3 s and start-up; before, never.
    const result = await endWithin(cli, 15_000);
    expect(result, `still running 15 s after SIGTERM:\n${cli.stderr().slice(-3000)}`).not.toBeNull();
    expect(result!.signal).toBe('SIGKILL');
    const said = logLines(result!.stderr).find((l) => String(l.msg).startsWith('exiting by SIGKILL instead of with 1'));
    expect(said, result!.stderr.slice(-3000)).toMatchObject({ level: 'error', exit_code: 1, file_calls: 1 });
    // The lock was let go before: the next start needs no wait for a stale lock.
    expect(existsSync(path.join(dir, 'data', 'driftlock.lock'))).toBe(false);
  }, 30_000);

  it('a checkpoint save stuck on a FIFO in data_dir: the daemon says why and kills itself after shutdown_timeout', async () => {
    const dir = await tempDir('dl-stuck-');
    const log = path.join(dir, 'app.log');
    await writeFile(log, 'one\ntwo\n');
    const config = path.join(dir, 'pipeline.yaml');
    await writeFile(config, `data_dir: ${dir}/data
shutdown_timeout: 1s
inputs: { tail: { type: file, include: ['${log}'], start_at: beginning } }
outputs: { out: { type: file, inputs: [tail], path: '${dir}/out.log' } }
`);
    await mkdir(path.join(dir, 'data', 'tail'), { recursive: true });
    // The checkpoints' temp file: open() waits for a reader that never comes, as on a hung mount.
    execFileSync('mkfifo', [path.join(dir, 'data', 'tail', 'checkpoints.json.tmp')]);
    const cli = startCli(['run', '-c', config]);
    await cli.waitFor(/driftlock running/);
    // The input's first save of its checkpoints is under way by then, and stuck.
    await new Promise((resolve) => setTimeout(resolve, 500));
    cli.child.kill('SIGTERM');
    const result = await endWithin(cli, 15_000);
    expect(result, `still running 15 s after SIGTERM:\n${cli.stderr().slice(-3000)}`).not.toBeNull();
    expect(result!.signal).toBe('SIGKILL');
    expect(logLines(result!.stderr).find((l) => String(l.msg).startsWith('exiting by SIGKILL instead of with 1'))).toMatchObject({ level: 'error', exit_code: 1 });
  }, 30_000);
});
