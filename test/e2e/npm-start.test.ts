/**
 * `npm start`'s build (scripts/build-if-stale.mjs): it says it builds before the 15 to 20 s a fresh build
 * takes, and builds only when the sources are newer than the last build. Run on a small TypeScript project
 * of the same layout (tsconfig.build.json, src/cli/main.ts, dist/) with the real script and the real tsc,
 * not on this repository's own dist/, which the other end-to-end tests run.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { execFileForTest } from '../helpers/processes.js';
import { tempDir } from '../helpers/temp.js';

const SCRIPT = path.join(ROOT, 'scripts/build-if-stale.mjs');
const SAYS = /^driftlock: building dist\/ from the TypeScript sources/;

async function project(): Promise<string> {
  const dir = await tempDir('dl-start-');
  await mkdir(path.join(dir, 'src/cli'), { recursive: true });
  await symlink(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  await writeFile(path.join(dir, 'package.json'), '{ "type": "module" }\n');
  await writeFile(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { target: 'ES2023', module: 'NodeNext', types: [], outDir: 'dist', rootDir: '.' } }));
  await writeFile(path.join(dir, 'tsconfig.build.json'), JSON.stringify({ extends: './tsconfig.json', compilerOptions: { incremental: true, tsBuildInfoFile: 'dist/.tsbuildinfo' }, include: ['src'] }));
  await writeFile(path.join(dir, 'src/cli/main.ts'), 'export const said: string = "one";\n');
  return dir;
}

/** Runs the script in `dir`: what it wrote on stderr, and whether it built (main.js written again). */
async function start(dir: string): Promise<{ stderr: string; built: boolean }> {
  const main = path.join(dir, 'dist/src/cli/main.js');
  const before = existsSync(main) ? (await stat(main)).mtimeMs : undefined;
  const { stderr } = await execFileForTest(process.execPath, [SCRIPT], { cwd: dir });
  const after = existsSync(main) ? (await stat(main)).mtimeMs : undefined;
  return { stderr, built: after !== undefined && after !== before };
}

describe('npm start', () => {
  it('says it builds before building, and builds only when a source is newer than the last build', async () => {
    const dir = await project();
    // A fresh clone: built, said first (before: nothing said for the 15 to 20 s of the build).
    const fresh = await start(dir);
    expect(fresh.stderr).toMatch(SAYS);
    expect(fresh.built).toBe(true);
    expect(await readFile(path.join(dir, 'dist/src/cli/main.js'), 'utf8')).toContain('"one"');
    // Nothing changed: not built, nothing said (before: the build every time, 5 s here with nothing to do).
    expect(await start(dir)).toEqual({ stderr: '', built: false });
    // A source edited: built again.
    await writeFile(path.join(dir, 'src/cli/main.ts'), 'export const said: string = "two";\n');
    const later = new Date(Date.now() + 2_000);
    await utimes(path.join(dir, 'src/cli/main.ts'), later, later);
    const edited = await start(dir);
    expect(edited.stderr).toMatch(SAYS);
    expect(await readFile(path.join(dir, 'dist/src/cli/main.js'), 'utf8')).toContain('"two"');
    expect(await start(dir)).toEqual({ stderr: '', built: false });
    // A source touched, not changed (tsc then leaves its build info as it was): built once, not at every start.
    const touched = new Date(Date.now() + 4_000);
    await utimes(path.join(dir, 'src/cli/main.ts'), touched, touched);
    expect((await start(dir)).stderr).toMatch(SAYS);
    expect(await start(dir)).toEqual({ stderr: '', built: false });
    // The output gone, its build info still there (tsc's incremental build alone would not write it again).
    await rm(path.join(dir, 'dist/src'), { recursive: true });
    const gone = await start(dir);
    expect(gone.stderr).toMatch(SAYS);
    expect(gone.built).toBe(true);
  }, 60_000);

  it('a build that fails stops npm start with tsc\'s errors and its exit code', async () => {
    const dir = await project();
    await writeFile(path.join(dir, 'src/cli/main.ts'), 'export const said: number = "one";\n');
    const failed = await execFileForTest(process.execPath, [SCRIPT], { cwd: dir }).then(() => undefined, (err: { code: number; stdout: string; stderr: string }) => err);
    expect(failed?.code).toBe(2);
    expect(failed?.stderr).toMatch(SAYS);
    expect(failed?.stdout).toContain("Type 'string' is not assignable to type 'number'");
  }, 30_000);

  it('is what package.json\'s start script runs before the daemon', async () => {
    const manifest = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(manifest.scripts.start).toBe('node scripts/build-if-stale.mjs && node dist/src/cli/main.js run');
  });
});
