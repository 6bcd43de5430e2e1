import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createRegistry } from '../../src/components.js';
import { ConfigError } from '../../src/config/errors.js';
import { loadConfigFile } from '../../src/config/load.js';

const fixtures = path.resolve(import.meta.dirname, '../fixtures/plugins');

describe('plugins', () => {
  it('loads components from a relative path and validates them with their own schema', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'dl-plugin-'));
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, `plugins: [${path.relative(dir, path.join(fixtures, 'uppercase/index.js'))}]
inputs: { in: { type: stdin } }
transforms: { up: { type: uppercase, inputs: [in], suffix: "!" } }
outputs: { out: { type: console, inputs: [up] } }
`);
    const registry = createRegistry();
    const cfg = await loadConfigFile(file, registry);
    const up = cfg.components.find((c) => c.id === 'up')!;
    expect(up.type).toBe('uppercase');
    expect(up.options).toEqual({ suffix: '!' });
    const stage = await up.definition.build(up.options, { id: 'up', logger: undefined as never, dataDir: dir, configDir: dir });
    const events = [{ observedTimestamp: 0, body: 'hello', attributes: {}, source: { input: 'in' } }];
    expect(await (stage as { map: (e: typeof events) => typeof events }).map(events)).toMatchObject([{ body: 'HELLO!' }]);
  });

  it('a plugin component gets the same config errors as a built-in', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'dl-plugin-'));
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, `plugins: [${path.join(fixtures, 'uppercase')}/index.js]
inputs: { in: { type: stdin } }
transforms:
  up:
    type: uppercase
    inputs: [in]
    sufix: "!"
outputs: { out: { type: console, inputs: [up] } }
`);
    await expect(loadConfigFile(file, createRegistry())).rejects.toThrow(/pipeline.yaml:7:5: component "up", key sufix: unknown key "sufix" \(did you mean "suffix"\?\)/);
  });

  it('a plugin that cannot be loaded is a config error naming it', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'dl-plugin-'));
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, `plugins: [./missing-plugin.js]
inputs: { in: { type: stdin } }
outputs: { out: { type: console, inputs: [in] } }
`);
    const err = await loadConfigFile(file, createRegistry()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues[0]).toMatchObject({ line: 1, column: 11, path: 'plugins.0' });
    expect((err as ConfigError).issues[0]!.message).toMatch(/^cannot load plugin "\.\/missing-plugin\.js"/);
  });
});
