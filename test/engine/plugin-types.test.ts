/**
 * A plugin written in TypeScript against driftlock's own types, as a developer would: `import type` from the
 * package name, compiled with tsc (strict, NodeNext) in a folder of its own where driftlock is installed.
 */
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { execFileForTest } from '../helpers/processes.js';
import { tempDir } from '../helpers/temp.js';

describe('plugin types', () => {
  it('a TypeScript plugin compiles against `import type { PluginApi, LogEvent } from "driftlock"`', async () => {
    const dir = await tempDir('dl-plugin-ts-');
    await mkdir(path.join(dir, 'node_modules'));
    await symlink(ROOT, path.join(dir, 'node_modules', 'driftlock'), 'dir');
    await writeFile(path.join(dir, 'package.json'), JSON.stringify({ name: 'driftlock-plugin-ts', type: 'module', main: 'dist/index.js' }));
    await writeFile(path.join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, outDir: 'dist', rootDir: 'src', types: [] },
    }));
    await mkdir(path.join(dir, 'src'));
    await writeFile(path.join(dir, 'src', 'index.ts'), `import type { Batch, LogEvent, PluginApi } from 'driftlock';
export default ({ z, defineTransform, defineOutput, ackBatch }: PluginApi) => [
  defineTransform({
    type: 'ts_tag',
    description: 'Tags events.',
    config: z.object({ tag: z.string() }),
    build: (config) => ({ map: (events: LogEvent[]) => events.map((e) => ({ ...e, attributes: { ...e.attributes, tag: config.tag } })) }),
  }),
  defineOutput({
    type: 'ts_count',
    description: 'Counts events.',
    config: z.object({}),
    build: () => ({
      async consume(batches: AsyncIterable<Batch>) {
        for await (const b of batches) ackBatch(b);
      },
    }),
  }),
];
`);
    const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const result = await execFileForTest(process.execPath, [tsc, '-p', dir]).then(
      () => ({ code: 0, out: '' }),
      (err: { code: number; stdout: string }) => ({ code: err.code, out: err.stdout }),
    );
    expect(result, result.out).toEqual({ code: 0, out: '' });
  }, 60_000);

  it('a plugin\'s own test gets the API with `import { pluginApi } from "driftlock"`, and the README\'s example plugin runs with it', async () => {
    // Before, the package had no main: `import 'driftlock'` failed (ERR_MODULE_NOT_FOUND, .../driftlock/index.js).
    const dir = await tempDir('dl-plugin-test-');
    await mkdir(path.join(dir, 'node_modules'));
    await symlink(ROOT, path.join(dir, 'node_modules', 'driftlock'), 'dir');
    await writeFile(path.join(dir, 'package.json'), JSON.stringify({ name: 'driftlock-plugin-readme', type: 'module', main: 'index.js' }));
    const readme = await readFile(path.join(ROOT, 'README.md'), 'utf8');
    const example = /### Plugins\n[\s\S]*?```js\n([\s\S]*?)```/.exec(readme)![1]!;
    await writeFile(path.join(dir, 'index.js'), example);
    await writeFile(path.join(dir, 'check.js'), `import { pluginApi } from 'driftlock';
import plugin from './index.js';
const [def] = plugin(pluginApi);
const config = def.config.parse({ suffix: '!' });
const stage = await def.build(config, { id: 'up', dataDir: '.', configDir: '.' });
const events = [pluginApi.createEvent('hello', { input: 'in' }), pluginApi.createEvent({ msg: 'hi' }, { input: 'in' })];
process.stdout.write(JSON.stringify(stage.map(events).map((e) => e.body)));
`);
    const { stdout } = await execFileForTest(process.execPath, [path.join(dir, 'check.js')], { cwd: dir });
    expect(JSON.parse(stdout)).toEqual(['HELLO!', '{"MSG":"HI"}!']);
  }, 60_000);
});
