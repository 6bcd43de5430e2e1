/**
 * The npm package (`npm pack`, as `npm install driftlock` would get it): what the daemon and a plugin author
 * need is in it. Read from `npm pack --dry-run`'s list of files, without running the build again.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { execFileForTest } from '../helpers/processes.js';

async function packedFiles(): Promise<Set<string>> {
  const { stdout } = await execFileForTest('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, maxBuffer: 16 << 20 });
  const [pack] = JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>;
  return new Set(pack!.files.map((f) => f.path));
}

describe('the npm package', () => {
  it('holds the CLI, the plugin API, the default pipeline, the protos, and the sources its source maps name', async () => {
    const files = await packedFiles();
    const manifest = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { main: string; types: string; bin: Record<string, string> };
    for (const f of [manifest.main, manifest.types, manifest.bin['driftlock']!, 'config/driftlock.yaml', 'package.json', 'README.md']) expect(files, f).toContain(f);
    expect([...files].some((f) => f.startsWith('proto/') && f.endsWith('.proto'))).toBe(true);
    // A stack trace run through a source map (node --enable-source-maps, an editor) lands on a .ts file
    // that the package has: before, the maps named src/*.ts files that were left out.
    const maps = [...files].filter((f) => f.endsWith('.js.map'));
    expect(maps.length).toBeGreaterThan(50);
    const missing: string[] = [];
    for (const map of maps) {
      const { sources } = JSON.parse(await readFile(path.join(ROOT, map), 'utf8')) as { sources: string[] };
      for (const s of sources) {
        const source = path.posix.normalize(path.posix.join(path.posix.dirname(map), s));
        if (!files.has(source)) missing.push(`${map} -> ${source}`);
      }
    }
    expect(missing).toEqual([]);
    // Tests, benches and the eval stay out.
    expect([...files].filter((f) => /^(test|bench|eval|dist\/(bench|eval))\//.test(f))).toEqual([]);
  });
});
