#!/usr/bin/env node
/**
 * `npm start`'s build: builds dist/ from the TypeScript sources (as `npm run build` does) only when they are
 * newer than the last build, and says so first. Before, `npm start` ran the build every time, silently: 15 to
 * 20 s before the first line on a fresh clone (a newcomer took it for a hang), 5 s with nothing to build.
 *
 * Stale when the build's output (dist/src/cli/main.js) or its build info file is missing, or when a file or
 * folder under the build's `include`, a tsconfig it reads, or package.json is newer than the build info file
 * (a folder's time covers a file deleted or renamed in it). An output missing beside a build info file that
 * is there (dist/src deleted by hand) makes a full build: tsc's incremental build trusts the build info file
 * and would not write it again.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, statSync, utimesSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import process from 'node:process';

const root = process.cwd();
const BUILD_CONFIG = 'tsconfig.build.json';
const OUTPUT = 'dist/src/cli/main.js';

/** The tsconfig files the build reads (its `extends` chain) and the `include` and build info of the first. */
function buildSettings() {
  const configs = [];
  let include;
  let buildInfo;
  for (let file = path.join(root, BUILD_CONFIG); file; ) {
    const config = JSON.parse(readFileSync(file, 'utf8'));
    configs.push(file);
    include ??= config.include?.map((p) => path.resolve(path.dirname(file), p));
    buildInfo ??= config.compilerOptions?.tsBuildInfoFile && path.resolve(path.dirname(file), config.compilerOptions.tsBuildInfoFile);
    file = config.extends && path.resolve(path.dirname(file), config.extends);
  }
  return { configs, include: include ?? [], buildInfo };
}

/** The newest modification time (ms) of `target` and, for a folder, of everything under it; 0 when it is not there. */
function newest(target) {
  let stat;
  try {
    stat = statSync(target);
  } catch {
    return 0;
  }
  let time = stat.mtimeMs;
  if (stat.isDirectory()) for (const name of readdirSync(target)) time = Math.max(time, newest(path.join(target, name)));
  return time;
}

const { configs, include, buildInfo } = buildSettings();
if (!buildInfo) throw new Error(`${BUILD_CONFIG} sets no compilerOptions.tsBuildInfoFile: nothing to compare the sources with`);
const output = path.join(root, OUTPUT);
const built = existsSync(output) && existsSync(buildInfo) ? statSync(buildInfo).mtimeMs : 0;
const sources = Math.max(...[...include, ...configs, path.join(root, 'package.json')].map(newest));
if (built > 0 && sources <= built) process.exit(0);

process.stderr.write(`driftlock: building ${path.relative(root, path.dirname(buildInfo)) || '.'}/ from the TypeScript sources (npm run build; about 20 s on a fresh clone, skipped while they are unchanged)\n`);
if (!existsSync(output)) rmSync(buildInfo, { force: true });
const tsc = createRequire(path.join(root, 'package.json')).resolve('typescript/bin/tsc');
const build = spawnSync(process.execPath, [tsc, '-p', BUILD_CONFIG], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);
// tsc leaves the build info file as it is when nothing it compiles changed (a file touched, not edited): it
// is made as new as the sources were when the build began, so that the next start does not build again (and
// one edited during the build still does).
const info = statSync(buildInfo);
if (info.mtimeMs < sources) utimesSync(buildInfo, info.atime, new Date(Math.ceil(sources)));
