/**
 * Prints one plain closing line, `tests: N passed, N failed, N skipped`, after vitest's own summary, so
 * that CI logs state the count in a form any tool can read; before it, the slowest test files, so that a
 * suite that creeps towards CI's 15 minutes shows where the time goes.
 */
import path from 'node:path';
import type { Reporter, TestModule } from 'vitest/node';

export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const mod of testModules) {
      for (const test of mod.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        else skipped++;
      }
      if (mod.state() === 'failed' && [...mod.children.allTests()].length === 0) failed++;
    }
    const slowest = testModules
      .map((mod) => ({ file: path.relative(process.cwd(), mod.moduleId), seconds: mod.diagnostic().duration / 1000 }))
      .sort((a, b) => b.seconds - a.seconds)
      .slice(0, 10);
    if (testModules.length > 10) {
      process.stdout.write(`\nslowest test files (seconds of tests and hooks; files run in parallel):\n`);
      for (const s of slowest) process.stdout.write(`  ${s.seconds.toFixed(1).padStart(6)}  ${s.file}\n`);
    }
    process.stdout.write(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
