/**
 * The real daemon writing to a full disk: the file output's target is /dev/full (every write fails with
 * ENOSPC), then a regular file once there is "room" again.
 */
import { existsSync } from 'node:fs';
import { readFile, symlink, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { logLines, startCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';
import { until } from '../helpers/wait.js';

describe('driftlock run: file output on a full disk', () => {
  it.skipIf(!existsSync('/dev/full'))('says the failure once however often it retries, shows it on /health, and writes every line once when there is room', async () => {
    const dir = await tempDir('dl-e2e-full-');
    const out = path.join(dir, 'out.log');
    await symlink('/dev/full', out);
    const config = path.join(dir, 'pipeline.yaml');
    await writeFile(config, `data_dir: ${dir}/data
api: { enabled: true, address: "127.0.0.1:0" }
inputs: { in: { type: stdin } }
outputs: { out: { type: file, inputs: [in], path: "${out}", encoding: text } }
`);
    const cli = startCli(['run', '-c', config]);
    await cli.waitFor(/API listening/);
    const address = logLines(cli.stderr()).find((l) => String(l.msg).startsWith('API listening'))!.address as string;
    const lines = Array.from({ length: 1000 }, (_, i) => `line ${i}`);
    // Standard input stays open until there is room: once every input has ended the daemon is stopping
    // (draining), and /health says that rather than what fails.
    cli.child.stdin!.write(lines.join('\n') + '\n');
    // Retries at 100 ms, 200 ms, 400 ms, ... (with jitter): several failed writes.
    const errors = async () => Number(/driftlock_errors_total\{component_id="out"[^}]*\} (\d+)/.exec(await (await fetch(`http://${address}/metrics`)).text())?.[1] ?? 0);
    await until(async () => (await errors()) >= 5, '5 failed writes to /dev/full on driftlock_errors_total', { detail: () => cli.stderr().slice(-2000) });
    const health = await fetch(`http://${address}/health`);
    expect(health.status).toBe(503);
    expect(JSON.stringify(await health.json())).toContain('ENOSPC');
    const said = logLines(cli.stderr()).filter((l) => l.component === 'out' && l.level === 'error');
    expect(said.map((l) => l.msg)).toEqual([expect.stringMatching(/^cannot write .*out\.log; retrying/)]);

    // Room again: the output reopens its path, now a regular file.
    await unlink(out);
    cli.child.stdin!.end();
    const result = await cli.exited;
    expect(result.code, result.stderr).toBe(0);
    expect((await readFile(out, 'utf8')).split('\n').filter(Boolean)).toEqual(lines);
    const outLines = logLines(result.stderr).filter((l) => l.component === 'out');
    expect(outLines.filter((l) => l.level === 'error')).toHaveLength(1);
    expect(outLines.filter((l) => l.msg === 'writing to the output file works again')).toHaveLength(1);
  });
});
