/**
 * Heap measurements in a child process: `node --expose-gc` on the built code (dist/), so that a test can
 * run a full GC before and after and read what a piece of code left held.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from './cli.js';

/** The URL of a built module (`dist/src/...`), quoted for use in a child's script. */
export function builtModule(file: string): string {
  return JSON.stringify(pathToFileURL(path.join(ROOT, file)).href);
}

/** Runs an ES module script in a child `node --expose-gc` (it may call `globalThis.gc()`); its stdout. */
export function runWithGc(script: string): string {
  return execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8' });
}
