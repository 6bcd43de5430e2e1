import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createRegistry } from '../../src/components.js';
import { parse } from 'yaml';
import { interpolate } from '../../src/config/interpolate.js';
import { configReference, exampleYaml, spliceReference } from '../../src/config/reference.js';
import { runCli } from '../helpers/cli.js';
import { z } from 'zod';
import type { AnyComponentDefinition } from '../../src/engine/component.js';

describe('config reference', () => {
  it('documents every built-in component and every key of its schema', () => {
    const registry = createRegistry();
    const reference = configReference(registry);
    for (const def of registry.list()) {
      expect(reference).toContain(`#### \`${def.type}\` (${def.kind})`);
      const shape = (def.config as unknown as { shape: Record<string, unknown> }).shape;
      for (const key of Object.keys(shape)) expect(reference, `${def.type}.${key}`).toContain(`| \`${key}\` |`);
    }
    expect(reference).toContain('| `buffer.when_full` | `block` \\| `drop_newest` | `block` |');
    expect(reference).toContain('| `shutdown_timeout` | duration | `30s` |');
    // Decimal numbers show their upper bound too (a threshold above 1 is refused).
    expect(reference).toContain('| `threshold` | number (>= 0, <= 0.9999) |');
    expect(reference).toContain('| `rate_limit.per_second` | number (> 0, <= 10) |');
  });

  it('prints each example as the YAML of a valid component config (no `[object Object]`)', () => {
    const registry = createRegistry();
    let checked = 0;
    for (const def of registry.list()) {
      if (!def.example) continue;
      const text = exampleYaml(def);
      expect(text, def.type).not.toContain('[object Object]');
      const read = parse(text) as Record<string, Record<string, unknown>>;
      // As the loader does: `${VAR}` taken from the environment (here, the values a deployment would set).
      const env = { SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T0/B0/x', ALERT_WEBHOOK_URL: 'https://alerts.example.com/hook', ALERT_WEBHOOK_SECRET: 'a-long-shared-secret-0123456789' };
      const withEnv = JSON.parse(JSON.stringify(read), (_k, v: unknown) => (typeof v === 'string' ? interpolate(v, env).value : v)) as typeof read;
      expect(read[`my_${def.type}`], def.type).toEqual(def.example);
      const { type: _type, inputs: _inputs, buffer: _buffer, ...options } = withEnv[`my_${def.type}`]!;
      const result = def.config.safeParse(options);
      expect(result.success, `${def.type}: ${result.error?.message}`).toBe(true);
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(8);
    expect(exampleYaml(registry.get('transform', 'filter')!)).toContain('exclude:\n    - field: body.request\n');
  });

  it('`driftlock docs --plugin` documents a plugin\'s components too, naming the plugin; one that cannot load exits 78 naming it', async () => {
    // Before, `docs` knew the built-ins only: a plugin's schema, descriptions and defaults had no reference.
    const fixtures = path.resolve(import.meta.dirname, '../fixtures/plugins');
    const result = await runCli(['docs', '--plugin', './uppercase'], { cwd: fixtures });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('#### `uppercase` (transform, plugin "./uppercase")\n\nUpper-cases string bodies.');
    expect(result.stdout).toContain('| `suffix` | string | `""` | Appended to every body. |');
    expect(result.stdout).toContain('#### `line_count` (output, plugin "./uppercase")');
    expect(result.stdout).toContain('#### `file` (output)\n');
    const missing = await runCli(['docs', '--plugin', './nope.mjs'], { cwd: fixtures });
    expect(missing.code).toBe(78);
    expect(missing.stderr).toBe(`driftlock: cannot load plugin "./nope.mjs": Cannot find module '${fixtures}/nope.mjs'\n`);
  });

  it('a plugin component without a description (JavaScript, no type check) is documented without "undefined"', () => {
    const registry = createRegistry();
    registry.register({ kind: 'output', type: 'nodesc', config: z.object({ a: z.string() }), build: () => ({ consume: async () => undefined }) } as unknown as AnyComponentDefinition, 'plugin "./nodesc.mjs"');
    const section = configReference(registry).split('#### ').find((p) => p.startsWith('`nodesc`'))!;
    expect(section).toMatch(/^`nodesc` \(output, plugin "\.\/nodesc\.mjs"\)\n\n\*\(no description\)\*\n\n\| key/);
  });

  it('the README carries the current reference (run `npm run docs` after changing a schema)', async () => {
    const readme = await readFile(path.resolve(import.meta.dirname, '../../README.md'), 'utf8');
    expect(spliceReference(readme, configReference(createRegistry()))).toBe(readme);
  });
});
