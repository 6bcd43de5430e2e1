import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createRegistry } from '../../src/components.js';
import { configReference, spliceReference } from '../../src/config/reference.js';

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

  it('the README carries the current reference (run `npm run docs` after changing a schema)', async () => {
    const readme = await readFile(path.resolve(import.meta.dirname, '../../README.md'), 'utf8');
    expect(spliceReference(readme, configReference(createRegistry()))).toBe(readme);
  });
});
