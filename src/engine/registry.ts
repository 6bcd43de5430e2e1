import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { resolve as resolveImport } from 'import-meta-resolve';
import { ON_ERROR, type AnyComponentDefinition, type ComponentKind } from './component.js';
import { pluginApi } from '../plugin-api.js';

/** The registry's key of a component type: a type name is unique per kind. */
function keyOf(kind: ComponentKind, type: string): string {
  return `${kind}:${type}`;
}

/** Every component type the daemon knows, built-in or loaded from a plugin, registered the same way. */
export class ComponentRegistry {
  private readonly byKey = new Map<string, AnyComponentDefinition>();
  /** Where each type came from: `built-in`, or `plugin "<spec>"`. */
  private readonly originOf = new Map<string, string>();

  register(def: AnyComponentDefinition, origin = 'built-in'): void {
    this.check(def, origin);
    this.byKey.set(keyOf(def.kind, def.type), def);
    this.originOf.set(keyOf(def.kind, def.type), origin);
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
    if (def.kind === 'transform' && def.onError !== undefined && !(ON_ERROR as readonly unknown[]).includes(def.onError)) {
      throw new Error(`${origin}: transform "${def.type}" has onError ${JSON.stringify(def.onError)}; expected ${ON_ERROR.map((v) => `"${v}"`).join(' or ')}`);
    }
    const first = this.originOf.get(keyOf(def.kind, def.type));
    if (first !== undefined) {
      // Said who has it: a built-in cannot be replaced, and of two plugins the first listed keeps it.
      const by = first === 'built-in' ? 'by a built-in (a plugin cannot replace one: give yours a type name of its own)' : `by ${first}, listed before it`;
      throw new Error(`${origin}: ${def.kind === 'transform' ? 'a' : 'an'} ${def.kind} named "${def.type}" is already registered ${by}`);
    }
  }

  /** Where a type came from: `built-in`, or `plugin "<spec>"`. */
  origin(kind: ComponentKind, type: string): string | undefined {
    return this.originOf.get(keyOf(kind, type));
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
 * Why plugin `spec` could not load, in one line that names it once: `cannot load plugin "x": ...` (the
 * loader's own messages name the plugin too).
 */
export function pluginLoadError(spec: string, err: unknown): string {
  const why = (err as Error).message.split('\n')[0]!.replace(`plugin "${spec}": `, '').replace(`plugin "${spec}" `, 'it ');
  return `cannot load plugin "${spec}": ${why}`;
}

/** Plugin modules whose import failed, by URL, and how often: the next try imports them anew. */
const failedImports = new Map<string, number>();

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
    // A folder is a package: its package.json `exports` (as its name would resolve), `main`, or its index.js
    // (ESM imports take no folders).
    const folder = await stat(target).then((st) => st.isDirectory(), () => false);
    url = pathToFileURL(folder ? await resolveFolder(target, configDir) : target).href;
  } else {
    url = pathToFileURL(resolvePackage(spec, configDir)).href;
  }
  // Node keeps a module that failed (its error, for its URL) for the life of the process: imported under
  // the same URL, a plugin fixed after a SIGHUP refused it would fail again at every SIGHUP until a restart.
  const retry = failedImports.get(url);
  const mod = (await import(retry === undefined ? url : `${url}?retry=${retry}`).catch((err: unknown) => {
    failedImports.set(url, (retry ?? 0) + 1);
    if (err instanceof SyntaxError) throw new SyntaxError(`${err.message} (${syntaxErrorAt(fileURLToPath(url))})`);
    // A missing file is not "imported from" driftlock's own loader, as Node says it is.
    throw thrownAt(err, fileURLToPath(url), (m) => m.replace(` imported from ${fileURLToPath(import.meta.url)}`, ''));
  })) as { default?: unknown; components?: unknown };
  let exported: unknown = mod.default ?? mod.components;
  const called = typeof exported === 'function';
  if (called) {
    try {
      exported = await (exported as (api: typeof pluginApi) => unknown)(pluginApi);
    } catch (err) {
      throw thrownAt(err, fileURLToPath(url));
    }
  }
  if (exported && typeof exported === 'object' && 'components' in exported) exported = (exported as { components: unknown }).components;
  if (!Array.isArray(exported)) {
    const what = exported === undefined && !called ? `it has no default export${Object.keys(mod).length ? ` (its exports: ${Object.keys(mod).join(', ')})` : ''}` : `its default export ${called ? 'returned' : 'is'} ${describeExport(exported)}`;
    throw new Error(`plugin "${spec}" exports no components: ${what}; expected a default export: an array of definitions, or a function returning one`);
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
 * Where a plugin's syntax error is: Node's import() says only what (`Unexpected identifier 'build'`), not
 * in which file or line. `node --check` on the plugin's file says both, when the error is in that file.
 */
function syntaxErrorAt(file: string): string {
  const check = spawnSync(process.execPath, ['--check', file], { encoding: 'utf8', timeout: 10_000 });
  const at = /^(.+:\d+)$/m.exec(check.stderr ?? '')?.[1];
  if (check.status !== 0 && at) return `at ${at}`;
  return `in a module ${path.basename(file)} imports: \`node --check\` on each finds which`;
}

/**
 * What the plugin's code threw (at import, or its default function), with where: the first frame of its
 * stack in the plugin's own folder, else the first outside Node itself (`ENOENT: no such file or
 * directory` alone does not say which line of the plugin read the file).
 */
function thrownAt(err: unknown, entry: string, edit: (message: string) => string = (m) => m): unknown {
  if (!(err instanceof Error)) return err;
  const frames: string[] = [];
  for (const line of (err.stack ?? '').split('\n').slice(1)) {
    const at = /^\s+at (?:.*\()?((?:file:\/\/|\/)[^()]+?):(\d+):(\d+)\)?$/.exec(line);
    if (at) frames.push(`${at[1]!.startsWith('file:') ? fileURLToPath(at[1]!) : at[1]!}:${at[2]}:${at[3]}`);
  }
  const own = frames.find((f) => f.startsWith(path.dirname(entry) + path.sep)) ?? frames[0];
  // A new error: the one thrown may be kept and thrown again (a module's), and must not grow at each telling.
  return new Error(`${edit(err.message)}${own ? ` (at ${own})` : ''}`, { cause: err });
}

function describeExport(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  const v = value as { type?: unknown; build?: unknown };
  if (typeof value === 'object' && typeof v.type === 'string' && typeof v.build === 'function') return `one definition ("${v.type}"), not an array of them`;
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/**
 * The module a package folder given by path stands for. `require.resolve` of a folder reads `main` (or
 * index.js) only: a package whose package.json has `exports` alone (the usual form for an ESM package),
 * which loads by its name, was "Cannot find module" by its path. Its `exports` are read as its own name
 * resolves from inside it (Node's self-reference).
 */
async function resolveFolder(folder: string, configDir: string): Promise<string> {
  const pkg = await readFile(path.join(folder, 'package.json'), 'utf8').then((text) => JSON.parse(text) as { name?: unknown; exports?: unknown }, () => undefined);
  if (pkg?.exports !== undefined && typeof pkg.name === 'string') {
    return fileURLToPath(resolveImport(pkg.name, pathToFileURL(path.join(folder, 'noop.js')).href));
  }
  return createRequire(path.join(configDir, 'noop.js')).resolve(folder);
}

/**
 * Resolves a plugin's package name from the config's folder, else from driftlock's own place: a plugin
 * installed beside driftlock (`npm install` in the container image's /app, or `npm install -g` beside a
 * global driftlock) was "Cannot find module" for a config in /etc/driftlock, which has no node_modules.
 */
function resolvePackage(spec: string, configDir: string): string {
  try {
    return resolveFrom(spec, path.join(configDir, 'noop.js'));
  } catch (err) {
    if ((err as { code?: string }).code !== 'MODULE_NOT_FOUND') throw err;
    try {
      return resolveFrom(spec, fileURLToPath(import.meta.url));
    } catch {
      throw Object.assign(new Error(`Cannot find package '${spec}' from the config's folder (${configDir}) nor beside driftlock`), { code: 'MODULE_NOT_FOUND' });
    }
  }
}

/**
 * Resolves a package name as a module in `parent`'s folder would. `require.resolve` alone refuses an
 * ESM-only package, whose `exports` has an `import` condition and no `require` one (the usual form for
 * `"type": "module"` packages): "No "exports" main defined". Such a package is then resolved as `import`
 * resolves it from there (import-meta-resolve: Node's own ESM resolution, `exports` conditions and all).
 */
function resolveFrom(spec: string, parent: string): string {
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
