/**
 * Temporary folders for the tests: each is removed when the test that made it ends, passed, failed or
 * timed out (after its afterEach hooks, and after the children the test started are killed: see
 * processes.ts). Call these inside a test, not at a file's top level or in a hook.
 *
 * DRIFTLOCK_KEEP_TEST_DIRS=1 keeps the folders of the tests that failed, and prints where they are.
 */
import { mkdtempSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { onTestFinished } from 'vitest';

/** A new folder under the system's temp folder, named `prefix` and six random characters. */
export async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  removeWhenTestEnds(dir);
  return dir;
}

/** The same, made synchronously (for helpers that are not async). */
export function tempDirSync(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  removeWhenTestEnds(dir);
  return dir;
}

/** Removes a file or folder (and all under it) when the current test ends. */
export function removeWhenTestEnds(target: string): void {
  onTestFinished(async ({ task }) => {
    if (process.env.DRIFTLOCK_KEEP_TEST_DIRS && task.result?.state === 'fail') {
      console.log(`DRIFTLOCK_KEEP_TEST_DIRS: kept ${target} (${task.name})`);
      return;
    }
    // Retries: a child killed a moment ago may not be quite gone (its last write racing the removal).
    await rm(target, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  });
}
