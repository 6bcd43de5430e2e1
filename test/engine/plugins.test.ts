import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createRegistry } from '../../src/components.js';
import { ConfigError } from '../../src/config/errors.js';
import { loadConfigFile } from '../../src/config/load.js';
import { runCli, startCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

const fixtures = path.resolve(import.meta.dirname, '../fixtures/plugins');

/**
 * A folder holding `login.mjs`: a plugin output that fails its login, quoting its (secret) password, when it
 * is built (`at: build`) or at its first batch (`at: consume`).
 */
async function withLoginPlugin(): Promise<string> {
  const dir = await tempDir('dl-plugin-');
  await writeFile(path.join(dir, 'login.mjs'), `export default ({ z, defineOutput, secret }) => [
  defineOutput({
    type: 'login_output',
    description: 'fails at build or at its first batch, quoting the password',
    config: z.object({ password: secret(z.string()), at: z.enum(['build', 'consume']) }),
    build(config) {
      if (config.at === 'build') throw new Error('login failed: ' + config.password);
      return { async consume() { throw new Error('login failed: ' + config.password); } };
    },
  }),
];
`);
  return dir;
}

describe('plugins', () => {
  it('loads components from a relative path and validates them with their own schema', async () => {
    const dir = await tempDir('dl-plugin-');
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

  it('loads a plugin given as a package folder (its package.json main), as the README shows', async () => {
    const dir = await tempDir('dl-plugin-');
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, `plugins: [${path.relative(dir, path.join(fixtures, 'uppercase'))}]
inputs: { in: { type: stdin } }
transforms: { up: { type: uppercase, inputs: [in] } }
outputs: { out: { type: console, inputs: [up] } }
`);
    const cfg = await loadConfigFile(file, createRegistry());
    expect(cfg.components.find((c) => c.id === 'up')!.type).toBe('uppercase');
  });

  it('a plugin component gets the same config errors as a built-in', async () => {
    const dir = await tempDir('dl-plugin-');
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
    const dir = await tempDir('dl-plugin-');
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, `plugins: [./missing-plugin.js]
inputs: { in: { type: stdin } }
transforms: { up: { type: uppercase, inputs: [in] } }
outputs: { out: { type: console, inputs: [up] } }
`);
    const err = await loadConfigFile(file, createRegistry()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues[0]).toMatchObject({ line: 1, column: 11, path: 'plugins.0' });
    expect((err as ConfigError).issues[0]!.message).toMatch(/^cannot load plugin "\.\/missing-plugin\.js"/);
    // The type it would have brought is unknown: said so, not only the built-ins listed.
    expect((err as ConfigError).issues[1]!.message).toBe('unknown transform type "uppercase"; known transforms: parse, filter, anomaly_detect, redact; plugin "./missing-plugin.js" did not load (above)');
  });

  it('a definition without a zod config schema, or one clashing with a built-in, is a config error; none of the plugin is registered', async () => {
    const dir = await tempDir('dl-plugin-');
    await writeFile(path.join(dir, 'plain.mjs'), `export default ({ z, defineOutput }) => [
  defineOutput({ type: 'good_one', description: 'fine', config: z.object({}), build() { return { async consume() {} }; } }),
  defineOutput({ type: 'plainschema', description: 'x', config: { path: 'string' }, build() { return { async consume() {} }; } }),
];
`);
    await writeFile(path.join(dir, 'clash.mjs'), `export default ({ z, defineInput }) => [defineInput({ type: 'stdin', description: 'x', config: z.object({}), build() { return { async run() {} }; } })];
`);
    await writeFile(path.join(dir, 'clash-output.mjs'), `export default ({ z, defineOutput }) => [defineOutput({ type: 'file', description: 'x', config: z.object({}), build() { return { async consume() {} }; } })];
`);
    for (const [plugin, message] of [
      ['./plain.mjs', /component "plainschema" needs a config schema made with the z it is handed/],
      ['./clash.mjs', /an input named "stdin" is already registered/],
      ['./clash-output.mjs', /an output named "file" is already registered/],
    ] as const) {
      const file = path.join(dir, 'pipeline.yaml');
      await writeFile(file, `plugins: [${plugin}]
inputs: { in: { type: stdin } }
outputs: { out: { type: console, inputs: [in] } }
`);
      const registry = createRegistry();
      const err = await loadConfigFile(file, registry).catch((e: unknown) => e);
      expect(err, plugin).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).issues[0]!.message).toMatch(message);
      expect(registry.get('output', 'good_one')).toBeUndefined();
    }
  });

  it('a plugin that cannot load says where: the file and line of a syntax error or of what its code threw, what it exported instead, who has the type it wants', async () => {
    const dir = await tempDir('dl-plugin-');
    const out = (type: string) => `defineOutput({ type: '${type}', description: 'x', config: z.object({}), build() { return { async consume() {} }; } })`;
    const files: Record<string, string> = {
      'syntax.mjs': `export default ({ z }) => [\n  { kind: 'output', type: 'x', config: z.object({}) build() {} },\n];\n`,
      'throws.mjs': `import { readFileSync } from 'node:fs';\nconst settings = readFileSync('${dir}/missing.json', 'utf8');\nexport default () => [];\n`,
      'calls.mjs': `export default ({ z }) => {\n  const conf = undefined;\n  return [conf.type];\n};\n`,
      'one.mjs': `export default ({ z, defineOutput }) => ${out('single')};\n`,
      'named.mjs': `export const output = {};\n`,
      'first.mjs': `export default ({ z, defineOutput }) => [${out('shared')}];\n`,
      'second.mjs': `export default ({ z, defineOutput }) => [${out('shared')}];\n`,
      'console.mjs': `export default ({ z, defineOutput }) => [${out('console')}];\n`,
    };
    for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, `plugins: [./syntax.mjs, ./throws.mjs, ./calls.mjs, ./one.mjs, ./named.mjs, ./first.mjs, ./second.mjs, ./console.mjs, ./nothere.mjs]
inputs: { in: { type: stdin } }
outputs: { out: { type: console, inputs: [in] } }
`);
    // Through the built CLI: Node's own import(), as the daemon loads plugins (vitest's differs).
    const result = await runCli(['validate', '-c', file]);
    expect(result.code).toBe(78);
    // Before: "Unexpected identifier 'build'" and "ENOENT: ..." alone; "exports no components (expected ...)"
    // for a function that returned one definition; "already registered" without by whom; the plugin named
    // twice in each line, and a missing file "imported from" driftlock's own loader.
    expect(result.stderr.split('\n').filter((l) => l.startsWith('  ')).map((l) => l.replace(/^ {2}\S*pipeline\.yaml:\d+:\d+: key plugins\.\d+: /, ''))).toEqual([
      `cannot load plugin "./syntax.mjs": Unexpected identifier 'build' (at ${dir}/syntax.mjs:2)`,
      `cannot load plugin "./throws.mjs": ENOENT: no such file or directory, open '${dir}/missing.json' (at ${dir}/throws.mjs:2:18)`,
      `cannot load plugin "./calls.mjs": Cannot read properties of undefined (reading 'type') (at ${dir}/calls.mjs:3:16)`,
      'cannot load plugin "./one.mjs": it exports no components: its default export returned one definition ("single"), not an array of them; expected a default export: an array of definitions, or a function returning one',
      'cannot load plugin "./named.mjs": it exports no components: it has no default export (its exports: output); expected a default export: an array of definitions, or a function returning one',
      'cannot load plugin "./second.mjs": an output named "shared" is already registered by plugin "./first.mjs", listed before it',
      'cannot load plugin "./console.mjs": an output named "console" is already registered by a built-in (a plugin cannot replace one: give yours a type name of its own)',
      `cannot load plugin "./nothere.mjs": Cannot find module '${dir}/nothere.mjs'`,
    ]);
  });

  it('a plugin input whose listens() throws, or answers something else than ports, is a config error at its line, not an internal error', async () => {
    // Before, `validate` exited 70 with the plugin's stack trace, naming neither the component nor its line.
    const dir = await tempDir('dl-plugin-');
    await writeFile(path.join(dir, 'listener.mjs'), `export default ({ z, defineInput }) => [defineInput({
  type: 'listener', description: 'x', config: z.object({ address: z.string() }),
  listens(config) {
    const m = /^(.+):(\\d+)$/.exec(config.address);
    if (!m) throw new Error('cannot parse the address ' + JSON.stringify(config.address));
    return m[1] === 'odd' ? { port: 1 } : [{ protocol: 'tcp', host: m[1], port: Number(m[2]), key: 'address' }];
  },
  build() { return { async run() {} }; },
})];
`);
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, `plugins: [./listener.mjs]
inputs:
  a: { type: listener, address: nonsense }
  b: { type: listener, address: "odd:1" }
  c: { type: listener, address: "127.0.0.1:9" }
  d: { type: listener, address: "127.0.0.1:9" }
outputs: { out: { type: console, inputs: [a, b, c, d] } }
`);
    const err = await loadConfigFile(file, createRegistry()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues.map((i) => [i.line, i.component, i.message])).toEqual([
      [3, 'a', 'the input type "listener" cannot say which ports it listens on (its listens() failed): cannot parse the address "nonsense"'],
      [4, 'b', 'the input type "listener" cannot say which ports it listens on (its listens() failed): it returned {"port":1}; expected a list of { protocol: \'tcp\' | \'udp\', host, port, key }'],
      [6, 'd', 'TCP port 9 is also component "c"\'s (inputs.c.address): two listeners cannot share a port'],
    ]);
  });

  it('a duration longer than a timer can wait (24.8 days) is refused, not turned into 1 ms', async () => {
    const dir = await tempDir('dl-plugin-');
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, `shutdown_timeout: 1000h
inputs: { in: { type: stdin } }
outputs: { out: { type: console, inputs: [in] } }
`);
    const err = await loadConfigFile(file, createRegistry()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues[0]!.message).toBe('expected a duration of at most 24 days (576h): a timer cannot wait longer; found "1000h"');
  });

  it('a secret written in the config itself (not through a variable) is masked when a plugin\'s error quotes it', async () => {
    const dir = await withLoginPlugin();
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, `data_dir: ${dir}/data
plugins: [./login.mjs]
inputs: { in: { type: stdin } }
outputs: { out: { type: login_output, inputs: [in], password: "literal-pass-XYZ", at: consume } }
`);
    const cli = startCli(['run', '-c', file]);
    // The output fails and is restarted; its error is logged each time.
    await cli.waitFor(/login failed/);
    cli.child.kill('SIGKILL');
    const result = await cli.exited;
    expect(result.stderr).toContain('login failed: <redacted>');
    expect(result.stderr).not.toContain('literal-pass-XYZ');
  });

  it('secrets stay masked in the one-line stderr summary of a start failure, and after a reload brings new ones', async () => {
    const dir = await withLoginPlugin();
    const file = path.join(dir, 'pipeline.yaml');
    const config = (password: string, at: string) => `data_dir: ${dir}/data
shutdown_timeout: 2s
plugins: [./login.mjs]
inputs: { in: { type: demo, rate: 5 } }
outputs: { out: { type: login_output, inputs: [in], password: "${password}", at: ${at} } }
`;
    await writeFile(file, config('first-pass-XYZ', 'build'));
    const refused = startCli(['run', '-c', file]);
    const result = await refused.exited;
    expect(result.code).toBe(78);
    expect(result.stderr).toContain('driftlock: output "out" cannot start: login failed: <redacted>');
    expect(result.stderr).not.toContain('first-pass-XYZ');

    await writeFile(file, config('first-pass-XYZ', 'consume'));
    const cli = startCli(['run', '-c', file]);
    try {
      await cli.waitFor(/driftlock running/);
      await writeFile(file, config('second-pass-ABC', 'consume'));
      cli.child.kill('SIGHUP');
      await cli.waitFor(/config reloaded/);
      // The new pipeline's output fails quoting the new password.
      await cli.waitFor(/"msg":"config reloaded[\s\S]*login failed/);
    } finally {
      cli.child.kill('SIGKILL');
    }
    const after = await cli.exited;
    expect(after.stderr).not.toContain('second-pass-ABC');
    expect(after.stderr).not.toContain('first-pass-XYZ');
  });

  it('loads an ESM-only package by name (exports with an import condition and no require one), also a scoped one and its subpath', async () => {
    const dir = await tempDir('dl-plugin-');
    const plugin = (type: string) => `export default ({ z, defineTransform }) => [
  defineTransform({ type: '${type}', description: 'x', config: z.object({}), build: () => ({ map: (events) => events }) }),
];
`;
    const esm = path.join(dir, 'node_modules', 'driftlock-plugin-esm-only');
    await mkdir(esm, { recursive: true });
    await writeFile(path.join(esm, 'package.json'), JSON.stringify({ name: 'driftlock-plugin-esm-only', type: 'module', exports: { '.': { types: './index.d.ts', import: './index.js' } } }));
    await writeFile(path.join(esm, 'index.js'), plugin('esm_only'));
    const scoped = path.join(dir, 'node_modules', '@acme', 'driftlock-plugins');
    await mkdir(scoped, { recursive: true });
    await writeFile(path.join(scoped, 'package.json'), JSON.stringify({ name: '@acme/driftlock-plugins', type: 'module', exports: { '.': { import: './main.js' }, './extra': { node: { import: './extra.js' } } } }));
    await writeFile(path.join(scoped, 'main.js'), plugin('acme_main'));
    await writeFile(path.join(scoped, 'extra.js'), plugin('acme_extra'));
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, `plugins: [driftlock-plugin-esm-only, "@acme/driftlock-plugins", "@acme/driftlock-plugins/extra"]
inputs: { in: { type: stdin } }
transforms:
  a: { type: esm_only, inputs: [in] }
  b: { type: acme_main, inputs: [a] }
  c: { type: acme_extra, inputs: [b] }
outputs: { out: { type: console, inputs: [c] } }
`);
    const cfg = await loadConfigFile(file, createRegistry());
    expect(cfg.components.map((c) => c.type)).toEqual(expect.arrayContaining(['esm_only', 'acme_main', 'acme_extra']));
  });

  it('a package name not found from the config\'s folder is looked for beside driftlock (a plugin installed in the image\'s /app, the config in /etc/driftlock)', async () => {
    // A temporary folder has no node_modules: `zod`, one of driftlock's own dependencies, is found beside
    // driftlock only. Not a plugin, it is refused as one; before, it was "Cannot find module 'zod'".
    const dir = await tempDir('dl-plugin-');
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, `plugins: [zod, driftlock-plugin-not-installed]
inputs: { in: { type: stdin } }
outputs: { out: { type: console, inputs: [in] } }
`);
    const err = await loadConfigFile(file, createRegistry()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    const messages = (err as ConfigError).issues.map((i) => i.message);
    expect(messages[0]).toMatch(/^cannot load plugin "zod": it exports no components/);
    expect(messages[1]).toBe(`cannot load plugin "driftlock-plugin-not-installed": Cannot find package 'driftlock-plugin-not-installed' from the config's folder (${dir}) nor beside driftlock`);
  });

  it('loads a package folder given by path whose package.json has exports and no main (a plugin in development, beside the config)', async () => {
    // Before: "Cannot find module '<folder>'": a folder was resolved by its main (or index.js) alone.
    const dir = await tempDir('dl-plugin-');
    const pkg = path.join(dir, 'acme-plugin');
    await mkdir(path.join(pkg, 'dist'), { recursive: true });
    await writeFile(path.join(pkg, 'package.json'), JSON.stringify({ name: 'driftlock-plugin-acme', type: 'module', exports: { '.': { types: './dist/index.d.ts', import: './dist/index.js' } } }));
    await writeFile(path.join(pkg, 'dist', 'index.js'), `export default ({ z, defineTransform }) => [
  defineTransform({ type: 'acme_dev', description: 'x', config: z.object({}), build: () => ({ map: (events) => events }) }),
];
`);
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, `plugins: [./acme-plugin]
inputs: { in: { type: stdin } }
transforms: { a: { type: acme_dev, inputs: [in] } }
outputs: { out: { type: console, inputs: [a] } }
`);
    const cfg = await loadConfigFile(file, createRegistry());
    expect(cfg.components.find((c) => c.id === 'a')!.type).toBe('acme_dev');
  });
});
