import { createRequire } from 'node:module';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { resolve as resolveImport } from 'import-meta-resolve';
import type { AnyComponentDefinition, ComponentKind } from './component.js';
import { pluginApi } from '../plugin-api.js';

/** The registry's key of a component type: a type name is unique per kind. */
function keyOf(kind: ComponentKind, type: string): string {
  return `${kind}:${type}`;
}

/** Every component type the daemon knows, built-in or loaded from a plugin, registered the same way. */
export class ComponentRegistry {
  private readonly byKey = new Map<string, AnyComponentDefinition>();

  register(def: AnyComponentDefinition, origin = 'built-in'): void {
    this.check(def, origin);
    this.byKey.set(keyOf(def.kind, def.type), def);
  }

  /** Throws what is wrong with a definition (for `register`, and to check a plugin's all before any). */
  check(def: AnyComponentDefinition, origin = 'built-in'): void {
    if (!def || typeof def !== 'object' || typeof def.type !== 'string' || typeof def.build !== 'function') {
      throw new Error(`${origin}: a component definition needs a type name, a config schema and a build() function`);
    }
    if (!['input', 'transform', 'output'].includes(def.kind)) {
      throw new Error(`${origin}: component "${def.type}" has kind "${String(def.kind)}"; expected input, transform or output`);
    }
    if (typeof (def.config as { safeParse?: unknown } | undefined)?.safeParse !== 'function') {
      throw new Error(`${origin}: component "${def.type}" needs a config schema made with the z it is handed (z.object({...})); found ${def.config === undefined ? 'none' : typeof def.config}`);
    }
    if (this.byKey.has(keyOf(def.kind, def.type))) {
      throw new Error(`${origin}: ${def.kind === 'transform' ? 'a' : 'an'} ${def.kind} named "${def.type}" is already registered`);
    }
  }

  get(kind: ComponentKind, type: string): AnyComponentDefinition | undefined {
    return this.byKey.get(keyOf(kind, type));
  }

  /** Kinds under which a type name is registered (to say "stdin is an input, not a transform"). */
  kindsOf(type: string): ComponentKind[] {
    return (['input', 'transform', 'output'] as const).filter((k) => this.byKey.has(keyOf(k, type)));
  }

  list(kind?: ComponentKind): AnyComponentDefinition[] {
    return [...this.byKey.values()].filter((d) => kind === undefined || d.kind === kind);
  }
}

/**
 * Loads a plugin: an npm package name, or a path relative to the config file. A plugin module exports, as
 * default, either an array of component definitions or a function that receives driftlock's plugin API
 * (`z`, `defineInput`, ...) and returns that array; so a plugin uses the host's zod and helpers, whatever
 * versions it was written against.
 */
export async function loadPlugin(registry: ComponentRegistry, spec: string, configDir: string): Promise<number> {
  let url: string;
  if (spec.startsWith('.') || path.isAbsolute(spec)) {
    const target = path.resolve(configDir, spec);
    // A folder is a package: its package.json `main`, or its index.js (ESM imports take no folders).
    const folder = await stat(target).then((st) => st.isDirectory(), () => false);
    url = pathToFileURL(folder ? createRequire(path.join(configDir, 'noop.js')).resolve(target) : target).href;
  } else {
    url = pathToFileURL(resolvePackage(spec, configDir)).href;
  }
  const mod = (await import(url)) as { default?: unknown; components?: unknown };
  let exported: unknown = mod.default ?? mod.components;
  if (typeof exported === 'function') exported = await (exported as (api: typeof pluginApi) => unknown)(pluginApi);
  if (exported && typeof exported === 'object' && 'components' in exported) exported = (exported as { components: unknown }).components;
  if (!Array.isArray(exported)) {
    throw new Error(`plugin "${spec}" exports no components (expected a default export: an array of definitions, or a function returning one)`);
  }
  // All or nothing: a plugin with one bad definition registers none of them.
  const seen = new Set<string>();
  for (const def of exported) {
    const d = def as AnyComponentDefinition;
    registry.check(d, `plugin "${spec}"`);
    const key = keyOf(d.kind, d.type);
    if (seen.has(key)) throw new Error(`plugin "${spec}": it defines ${d.kind} "${d.type}" twice`);
    seen.add(key);
  }
  for (const def of exported) registry.register(def as AnyComponentDefinition, `plugin "${spec}"`);
  return exported.length;
}

/**
 * Resolves a plugin's package name from the config's folder. `require.resolve` alone refuses an ESM-only
 * package, whose `exports` has an `import` condition and no `require` one (the usual form for `"type":
 * "module"` packages): "No "exports" main defined". Such a package is then resolved as `import` resolves it
 * from there (import-meta-resolve: Node's own ESM resolution, `exports` conditions and all).
 */
function resolvePackage(spec: string, configDir: string): string {
  const parent = path.join(configDir, 'noop.js');
  try {
    return createRequire(parent).resolve(spec);
  } catch (err) {
    if ((err as { code?: string }).code !== 'ERR_PACKAGE_PATH_NOT_EXPORTED') throw err;
    try {
      return fileURLToPath(resolveImport(spec, pathToFileURL(parent).href));
    } catch {
      throw err;
    }
  }
}
