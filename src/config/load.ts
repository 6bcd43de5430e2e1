/**
 * Reads a pipeline YAML file into a checked `PipelineConfig`: YAML syntax, `${VAR}` interpolation, plugins,
 * the top-level keys, each component against its own schema, and the topology (ids, references, cycles).
 * Every problem found is reported at once, each with file, line, column, component id and key.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { closest, distance } from 'fastest-levenshtein';
import YAML, { isMap, isPair, isScalar, isSeq, LineCounter, type Document, type Node as YamlNode } from 'yaml';
import { z } from 'zod';
import { ON_ERROR, type AnyComponentDefinition, type ComponentKind, type ListenPort, type OnError } from '../engine/component.js';
import { loadPlugin, pluginLoadError, type ComponentRegistry } from '../engine/registry.js';
import { ConfigError, type ConfigIssue } from './errors.js';
import { interpolate } from './interpolate.js';
import { byteSize, duration, isSecretSchema } from './schema.js';
import { parseListenAddress } from '../inputs/net/address.js';
import { readProblem } from '../make-folder.js';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

const SECTION_KIND = { inputs: 'input', transforms: 'transform', outputs: 'output' } as const;
type Section = keyof typeof SECTION_KIND;
const SECTIONS = Object.keys(SECTION_KIND) as Section[];

/** The engine's own top-level keys. Component keys are checked by each component's schema. */
export const topLevelSchema = z.strictObject({
  data_dir: z.string().min(1).default('.driftlock-data').describe('Folder for state: checkpoints, queues, detector snapshots. Relative paths resolve against the working directory. Made at the start when missing, with its parents (mode 0700), as `stream`/`scan --state` make the folder of their file; one that cannot be made or written stops the start (exit 78).'),
  log_level: z.enum(LOG_LEVELS).default('info').describe('Minimum level of the daemon\'s own logs (`--log-level` overrides it).'),
  shutdown_timeout: duration().prefault('30s').describe('How long a graceful stop may take to drain in-flight events before the daemon exits anyway; also how long a reload\'s new pipeline may take to start (its builds, its inputs\' `ready`) before the previous config runs again.'),
  plugins: z.array(z.string().min(1)).default([]).describe('Extra components to load: npm package names, or paths relative to this file.'),
  api: z
    .strictObject({
      enabled: z.boolean().default(false).describe('Serve `/health` (`/readyz`), `/livez`, `/metrics` (Prometheus text) and `/tap` (for `driftlock tap`, to local clients only).'),
      // A port alone (`address: 8686`, a number to YAML) is told the form to write, as the inputs' addresses are.
      address: z
        .union([z.string(), z.number()])
        .refine((value) => typeof value === 'string' && parseListenAddress(value) !== undefined, 'expected host:port, such as 127.0.0.1:8686, 0.0.0.0:8686 or [::1]:8686 (port 0: any free port)')
        .transform(String)
        .prefault('127.0.0.1:8686')
        .meta({ format: 'listen_address' })
        .describe('`host:port` to listen on (`:8686` or `0.0.0.0:8686`: every interface, for probes from outside a container).'),
    })
    .default({ enabled: false, address: '127.0.0.1:8686' })
    .describe('The HTTP API for health checks and metrics.'),
  inputs: z.record(z.string(), z.unknown()).describe('Components that produce events, keyed by id.'),
  transforms: z.record(z.string(), z.unknown()).default({}).describe('Components that change events, keyed by id.'),
  outputs: z.record(z.string(), z.unknown()).describe('Components that deliver events, keyed by id.'),
});

/** The buffer in front of each transform and output. */
export const bufferSchema = z
  .strictObject({
    max_events: z.number().int().min(1).default(10_000).describe('Capacity of the buffer, in events (batches are taken whole: an empty buffer takes a larger one).'),
    max_bytes: byteSize().prefault('64MiB').describe('Capacity of the buffer, in bytes of its events, estimated: their text (a character as a byte) and 100 bytes an event, counted where they enter the pipeline and carried through transforms. The buffer is full at `max_events` or `max_bytes`, whichever comes first (an empty buffer still takes a larger batch). The default holds 10,000 events of up to 6.6 KB: it bounds big lines (bounded in events only, 10,000 syslog messages of 64 KiB in front of a file output took the daemon to 1.4 GB), not ordinary ones.'),
    when_full: z.enum(['block', 'drop_newest']).default('block').describe('`block` applies backpressure upstream; `drop_newest` discards new events and counts them.'),
  })
  .prefault({});

/**
 * A transform's `on_error`, defaulting to what its definition says (`redact`: `drop`). The engine's key: it
 * means the same for every transform, built-in or plugin.
 */
export function onErrorSchema(fallback: OnError = 'pass') {
  return z
    .enum(ON_ERROR)
    .default(fallback)
    .describe(
      'What becomes of the events of a batch the transform fails on (throws): `pass` sends them on as the transform left them (what its `map()` changed in them before it threw stays changed: they are not copied before each batch); `drop` drops them, counted in `failed_events_total{outcome="dropped"}` and acknowledged to their input as `dropped` (a file input checkpoints past them and does not read them again). Either way the error is logged (at most every 10 s), counted in `errors_total` and on `/health` for a minute. It applies as well to a transform that runs as a stream (`anomaly_detect`); one whose `stream()` throws out is restarted and fed the batch again, and `on_error` applies to a batch it throws on twice in a row. Not to `flush()` at the stop, which has no batch: what it would have passed on is lost when it throws (counted in `flush_failures_total`, on `/health`, and the stop exits 1).',
    );
}

/** The ids of the components that feed a transform or output. */
const inputsSchema = z.array(z.string().min(1)).min(1);

/** Whether `key` is a key a component of this kind written as `component` (a map with a known `type`) takes. */
function isKeyOf(registry: ComponentRegistry, kind: ComponentKind, component: unknown, key: string): boolean {
  if (component === null || typeof component !== 'object' || Array.isArray(component)) return false;
  const type = (component as Record<string, unknown>).type;
  const definition = typeof type === 'string' ? registry.get(kind, type) : undefined;
  if (!definition) return false;
  return ENGINE_KEYS[kind].includes(key) || (definition.config instanceof z.ZodObject && key in (definition.config.shape as object));
}

const ENGINE_KEYS: Record<ComponentKind, string[]> = {
  input: ['type'],
  transform: ['type', 'inputs', 'buffer', 'on_error'],
  output: ['type', 'inputs', 'buffer'],
};

export interface ComponentConfig {
  id: string;
  kind: ComponentKind;
  type: string;
  definition: AnyComponentDefinition;
  /** Ids of the components that feed this one (empty for inputs). */
  inputs: string[];
  buffer: z.output<typeof bufferSchema>;
  /** A transform's `on_error` (absent: its definition's default, else `pass`). */
  onError?: OnError;
  /** The component's own keys, validated and with defaults applied. */
  options: unknown;
  /** Dotted paths of secret values, for redaction. */
  secretKeys: string[];
}

export interface PipelineConfig {
  file: string;
  dir: string;
  dataDir: string;
  /** Where the file sets `data_dir` (unset when it takes the default), for errors about that folder. */
  dataDirAt?: Position;
  /**
   * Where the file sets the address each listening component listens on, by component id (none for one
   * that takes its default), for an error of a listen that fails at start: the config's errors name
   * positions, the running daemon's otherwise could not.
   */
  listenAt: Record<string, { key: string; line: number; column: number }>;
  /**
   * Where the file writes the value at `at` (`['inputs', 'app', 'include', 0]`), or undefined for one it does
   * not write (a default): for what is said about the config after it loaded (`validate`'s warnings), at a
   * `file:line:column` as its errors are.
   */
  positionOf: (at: PathSegment[]) => Position | undefined;
  logLevel: (typeof LOG_LEVELS)[number];
  shutdownTimeoutMs: number;
  api: { enabled: boolean; address: string };
  plugins: string[];
  components: ComponentConfig[];
  /** Environment variables that were substituted into the config; their values are redacted from logs. */
  secretsFromEnv: string[];
}

export type PathSegment = string | number;

/** A place in the config file (1-based). */
export interface Position {
  line: number;
  column: number;
}

/** Finds where a path points in the YAML, falling back to the deepest part that exists. */
class Locator {
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  locate(segments: PathSegment[], at: 'key' | 'value' = 'value'): { line?: number; column?: number } {
    let node: unknown = this.doc.contents;
    let best: YamlNode | null = (node as YamlNode) ?? null;
    for (let i = 0; i < segments.length; i++) {
      const seg = segments[i]!;
      const last = i === segments.length - 1;
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
        if (!pair) break;
        if (last && at === 'key' && isScalar(pair.key)) {
          best = pair.key;
          break;
        }
        best = isScalar(pair.key) ? pair.key : best;
        node = pair.value;
        if (node && (node as YamlNode).range) best = node as YamlNode;
      } else if (isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg];
        if (!item) break;
        node = item;
        best = item as YamlNode;
      } else {
        break;
      }
    }
    const offset = best?.range?.[0];
    if (offset === undefined) return {};
    const pos = this.lines.linePos(offset);
    return { line: pos.line, column: pos.col };
  }
}

function describeFound(value: unknown, secret: boolean): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  // Hides nothing: most often a variable set to nothing (`SLACK_WEBHOOK_URL=` in an environment file).
  if (value === '') return 'an empty string';
  if (secret) return `a ${typeof value} (value hidden: secret)`;
  if (typeof value === 'string') return `"${value.length > 60 ? value.slice(0, 57) + '...' : value}"`;
  return `${typeof value} ${String(value)}`;
}

const EXPECTED_TYPE: Record<string, string> = {
  string: 'a string', number: 'a number', int: 'a whole number', boolean: 'true or false', array: 'a list',
  object: 'a map', record: 'a map',
};

function valueAt(root: unknown, segments: PathSegment[]): unknown {
  let v: unknown = root;
  for (const s of segments) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[s as string];
  }
  return v;
}

/** The schema at a path inside an object schema, to learn its valid keys and whether it is secret. */
function schemaAt(schema: z.ZodType, segments: PathSegment[]): z.ZodType | undefined {
  let s: z.ZodType | undefined = schema;
  for (const seg of segments) {
    s = unwrap(s);
    if (s instanceof z.ZodObject) s = (s.shape as Record<string, z.ZodType>)[String(seg)];
    else if (s instanceof z.ZodArray) s = s.element as z.ZodType;
    else if (s instanceof z.ZodRecord) s = s.valueType as z.ZodType;
    else return undefined;
    if (!s) return undefined;
  }
  return s;
}

function unwrap(s: z.ZodType | undefined): z.ZodType | undefined {
  let cur = s;
  for (let i = 0; i < 10 && cur; i++) {
    if (cur instanceof z.ZodDefault || cur instanceof z.ZodOptional || cur instanceof z.ZodNullable) {
      cur = cur.unwrap() as z.ZodType;
    } else if (cur instanceof z.ZodPipe) {
      cur = cur.in as z.ZodType;
    } else break;
  }
  return cur;
}

/**
 * Collects the dotted paths of keys marked secret in a schema. `*` stands for any item of a list or any key
 * of a map (`sinks.*.token`).
 */
export function secretPaths(schema: z.ZodType, prefix = ''): string[] {
  const s = unwrap(schema);
  if (isSecretSchema(schema) || (s && isSecretSchema(s))) return [prefix];
  const under = (key: string) => (prefix ? `${prefix}.${key}` : key);
  if (s instanceof z.ZodObject) return Object.entries(s.shape as Record<string, z.ZodType>).flatMap(([k, v]) => secretPaths(v, under(k)));
  if (s instanceof z.ZodArray) return secretPaths(s.element as z.ZodType, under('*'));
  if (s instanceof z.ZodRecord) return secretPaths(s.valueType as z.ZodType, under('*'));
  if (s instanceof z.ZodUnion) return [...new Set((s.options as z.ZodType[]).flatMap((o) => secretPaths(o, prefix)))];
  return [];
}

/** Whether the dotted `path` of a value lies at or under the secret path `secret` (`*` matching any key). */
function underSecret(path: readonly PathSegment[], secret: string): boolean {
  const parts = secret.split('.');
  return parts.length <= path.length && parts.every((p, i) => p === '*' || p === String(path[i]));
}

class IssueCollector {
  readonly issues: ConfigIssue[] = [];
  constructor(private readonly locator: Locator) {}

  add(segments: PathSegment[], message: string, opts: { component?: string; at?: 'key' | 'value'; pathFrom?: number } = {}): void {
    const pos = this.locator.locate(segments, opts.at);
    const shown = segments.slice(opts.pathFrom ?? 0);
    this.issues.push({
      ...pos,
      ...(opts.component !== undefined ? { component: opts.component } : {}),
      ...(shown.length ? { path: shown.join('.') } : {}),
      message,
    });
  }

  /** Turns zod issues into readable ones, anchored under `base` in the document. */
  addZod(error: z.ZodError, base: PathSegment[], data: unknown, schema: z.ZodType, opts: { component?: string; extraKeys?: string[]; pathFrom?: number }): void {
    // A misspelt required key shows up twice (unknown "formt", missing "format"): say it once.
    const suggested = new Set<string>();
    for (const issue of error.issues) {
      if (issue.code !== 'unrecognized_keys') continue;
      const objectSchema = unwrap(schemaAt(schema, issue.path as PathSegment[]));
      const valid = objectSchema instanceof z.ZodObject ? Object.keys(objectSchema.shape as object) : [];
      for (const key of issue.keys) {
        const near = meant(key, valid);
        if (near) suggested.add([...issue.path, near].join('.'));
      }
    }
    const secrets = secretPaths(schema);
    for (const issue of error.issues) {
      const segs = issue.path as PathSegment[];
      if (issue.code !== 'unrecognized_keys' && suggested.has(segs.join('.')) && valueAt(data, segs) === undefined) continue;
      const full = [...base, ...segs];
      const found = valueAt(data, segs);
      // Secret at the key itself or at a map or list it lies in: a value of the secret `headers:` map
      // (`X-Api-Key: 12345678`, a number in YAML) is no less a credential than a value marked secret itself.
      const secret = secrets.some((p) => underSecret(segs, p));
      if (issue.code === 'unrecognized_keys') {
        const objectSchema = unwrap(schemaAt(schema, segs));
        const valid = [
          ...(objectSchema instanceof z.ZodObject ? Object.keys(objectSchema.shape as object) : []),
          ...(segs.length === 0 ? (opts.extraKeys ?? []) : []),
        ];
        for (const key of issue.keys) {
          const near = meant(key, valid);
          const hint = near ? ` (did you mean "${near}"?)` : '';
          this.add([...full, key], `unknown key "${key}"${hint}; valid keys: ${valid.join(', ')}`, { ...opts, at: 'key' });
        }
        continue;
      }
      let message: string;
      switch (issue.code) {
        case 'invalid_type':
          message = found === undefined
            ? `missing required key (expected ${EXPECTED_TYPE[issue.expected] ?? issue.expected})`
            : `expected ${EXPECTED_TYPE[issue.expected] ?? issue.expected}; found ${describeFound(found, secret)}${issue.expected === 'array' && typeof found === 'string' && !secret ? ` (one item is a list too: write [${JSON.stringify(found)}])` : ''}`;
          break;
        case 'invalid_value': {
          const values = issue.values.map(String);
          const near = typeof found === 'string' ? meant(found, values) : undefined;
          const hint = near ? ` (did you mean "${near}"?)` : '';
          message = found === undefined
            ? `missing required key (expected one of ${values.join(', ')})`
            : `expected one of ${values.join(', ')}; found ${describeFound(found, secret)}${hint}`;
          break;
        }
        case 'too_small':
          message = issue.origin === 'array'
            ? `expected at least ${String(issue.minimum)} item(s); found ${Array.isArray(found) ? found.length : 0}`
            : issue.origin === 'string'
              ? Number(issue.minimum) > 1
                ? `expected at least ${String(issue.minimum)} characters; found ${typeof found === 'string' && !secret ? `${found.length}` : describeFound(found, secret)}`
                : `expected a non-empty string; found ${describeFound(found, secret)}`
              : `expected a number ${issue.inclusive ? '>=' : '>'} ${String(issue.minimum)}; found ${describeFound(found, secret)}`;
          break;
        case 'too_big':
          message = `expected a number ${issue.inclusive ? '<=' : '<'} ${String(issue.maximum)}; found ${describeFound(found, secret)}`;
          break;
        case 'invalid_union':
          message = `expected ${describeUnion(schemaAt(schema, segs))}; found ${describeFound(found, secret)}`;
          break;
        default:
          message = `${issue.message}; found ${describeFound(found, secret)}`;
      }
      this.add(full, message, opts);
    }
  }
}

function describeUnion(schema: z.ZodType | undefined): string {
  const meta = (schema as { meta?: () => Record<string, unknown> | undefined } | undefined)?.meta?.();
  if (meta?.format === 'duration') return 'a duration such as 500ms, 30s, 5m or 1h';
  if (meta?.format === 'size') return 'a size such as 512KiB, 10MiB or a whole number of bytes';
  if (typeof meta?.expected === 'string') return meta.expected;
  return 'one of the accepted forms';
}

/**
 * The one of `candidates` that `value` was likely meant as (a typo: the closest, near enough), or undefined:
 * for the "did you mean" of config keys, values and ids, and of the command line's.
 */
export function meant(value: string, candidates: readonly string[]): string | undefined {
  if (candidates.length === 0) return undefined;
  const near = closest(value, candidates as string[]);
  return distance(value, near) <= Math.max(2, Math.floor(Math.max(value.length, near.length) / 3)) ? near : undefined;
}

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  /** Name to show in errors (defaults to the path as given). */
  displayName?: string;
}

export async function loadConfigFile(file: string, registry: ComponentRegistry, options: LoadOptions = {}): Promise<PipelineConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(options.displayName ?? file, [{ message: `cannot read config file: ${readProblem(err)}` }]);
  }
  return parseConfig(text, file, registry, options);
}

export async function parseConfig(text: string, file: string, registry: ComponentRegistry, options: LoadOptions = {}): Promise<PipelineConfig> {
  const env = options.env ?? process.env;
  const shownFile = options.displayName ?? file;
  const lines = new LineCounter();
  const doc = YAML.parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const locator = new Locator(doc, lines);
  const issues = new IssueCollector(locator);

  // After the first syntax error the parser's further complaints are mostly echoes of it: report that one.
  let syntaxReported = false;
  for (const err of doc.errors) {
    const duplicate = err.code === 'DUPLICATE_KEY';
    if (!duplicate && syntaxReported) continue;
    syntaxReported ||= !duplicate;
    const pos = lines.linePos(err.pos[0]);
    // `{ max_events: ${N} }`: inside { } or [ ], YAML reads the `{` of an unquoted ${N} as a new map.
    const lineText = text.split('\n')[pos.line - 1] ?? '';
    const hint = /[{[][^'"]*\$\{/.test(lineText) ? ' (inside { } or [ ], YAML reads the { of an unquoted ${VAR} as a new map: write that map one key per line, or quote a string value)' : '';
    const message = duplicate
      ? 'duplicate key: map keys must be unique (a component id or key is written twice)'
      : `YAML syntax error: ${err.message.split('\n')[0]!.replace(/ at line \d+, column \d+.*$/, '')}${hint}`;
    issues.issues.push({ line: pos.line, column: pos.col, message });
  }
  // A duplicate key alone leaves a document to check (the last value of the key counts): every other
  // problem is reported with it, at once. A syntax error does not.
  if (syntaxReported) throw new ConfigError(shownFile, issues.issues);

  // ${VAR} interpolation, scalar by scalar, so that positions stay right. A variable that is not set is
  // reported, and the rest is still checked (every problem at once); the value it was in is not judged.
  const secretsFromEnv = new Set<string>();
  const substituted: Array<{ at: PathSegment[]; names: readonly string[] }> = [];
  const unresolved = new Set<string>();
  YAML.visit(doc, {
    Scalar(key, node, path) {
      if (key === 'key' || typeof node.value !== 'string' || !node.value.includes('$')) return;
      const result = interpolate(node.value, env);
      // Values substituted where secrets go (a token, a webhook URL, a header) are masked in the daemon's
      // logs; others (a log level, a listen address) are not, or every line that mentions them would be.
      // Where secrets go is what the component's schema marks `secret()`, known once its type is (below);
      // a key named like a secret, or a variable named like one, counts too.
      const secretPlace = secretKeyPath(path);
      for (const name of result.used) if (secretPlace || SECRET_NAME.test(name)) secretsFromEnv.add(name);
      if (result.used.length) substituted.push({ at: keyPath(path, node), names: result.used });
      for (const message of result.errors) {
        const pos = node.range ? lines.linePos(node.range[0]) : undefined;
        issues.issues.push({ ...(pos ? { line: pos.line, column: pos.col } : {}), message });
        if (pos) unresolved.add(`${pos.line}:${pos.col}`);
      }
      let value: unknown = result.value;
      if (node.type === 'PLAIN' && result.value !== node.value) {
        // An unquoted `${PORT}` should become the number 8080, as if it had been written there.
        try {
          const typed: unknown = YAML.parse(result.value);
          if (typeof typed === 'number' || typeof typed === 'boolean') value = typed;
        } catch {
          /* keep the string */
        }
      }
      node.value = value;
    },
  });

  let raw: unknown;
  try {
    raw = doc.toJS();
  } catch (err) {
    // The yaml library refuses aliases that expand to too much (a "billion laughs" file): a config error,
    // at the first alias, not a crash.
    let at: { line: number; col: number } | undefined;
    YAML.visit(doc, {
      Alias(_key, node) {
        if (node.range) at = lines.linePos(node.range[0]);
        return YAML.visit.BREAK;
      },
    });
    throw new ConfigError(shownFile, [{ line: at?.line ?? 1, column: at?.col ?? 1, message: `cannot expand the YAML aliases (*name): ${(err as Error).message}` }]);
  }
  // Nothing in it (a file truncated, or emptied by an editor before it writes): said as such, at start and on
  // a reload alike; before, it was read as a map without keys, and said as inputs and outputs missing.
  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.source === '')) {
    const what = text.trim() === '' ? 'the file is empty' : text.split('\n').every((line) => /^\s*(#.*)?$/.test(line)) ? 'the file holds only comments' : 'the file holds an empty YAML document';
    throw new ConfigError(shownFile, [{ message: `${what}: a pipeline has inputs and outputs at the top level` }]);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(shownFile, [{ line: 1, column: 1, message: 'expected a map with inputs, transforms and outputs at the top level' }]);
  }

  let top = topLevelSchema.safeParse(raw);
  if (!top.success) {
    issues.addZod(top.error, [], raw, topLevelSchema, {});
    // An unknown or wrong top-level key must not hide the components' problems: they are checked with
    // the keys that are fine (defaults for the others). Without usable inputs and outputs there is nothing
    // more to check.
    const bad = new Set(top.error.issues.filter((i) => i.path.length > 0).map((i) => String(i.path[0])));
    const known = Object.keys(topLevelSchema.shape);
    top = topLevelSchema.safeParse(Object.fromEntries(Object.entries(raw).filter(([k]) => known.includes(k) && !bad.has(k))));
    if (!top.success) throw new ConfigError(shownFile, dropUnresolved(issues.issues, unresolved));
  }
  const cfg = top.data;
  const dir = path.dirname(path.resolve(file));

  // Plugins first: their component types must be known before components are checked.
  const unloaded: string[] = [];
  for (const [i, spec] of cfg.plugins.entries()) {
    try {
      await loadPlugin(registry, spec, dir);
    } catch (err) {
      issues.add(['plugins', i], pluginLoadError(spec, err));
      unloaded.push(spec);
    }
  }

  const components: ComponentConfig[] = [];
  // Every component whose id is known, with the references that could be read, also of those that failed
  // their own checks: their references are checked in the same run, not once the rest is fixed.
  const nodes: TopologyNode[] = [];
  const seen = new Map<string, Section>();
  for (const section of SECTIONS) {
    const kind = SECTION_KIND[section];
    const entries = Object.entries(cfg[section] as Record<string, unknown>);
    if (section !== 'transforms' && entries.length === 0) {
      issues.add([section], `at least one ${kind} is required`, { at: 'key' });
    }
    let previous: [string, unknown] | undefined;
    for (const [id, value] of entries) {
      const above = previous;
      previous = [id, value];
      const base: PathSegment[] = [section, id];
      // A key of the component above, indented one level too little (`format: json` level with `parse_app:`),
      // reads as a component of its own: said so where it is, as well as the key missing above.
      const indentHint = above !== undefined && isKeyOf(registry, kind, above[1], id) ? ` (if ${id} is a key of "${above[0]}", indent it as far as that component's type:)` : '';
      const at = { component: id, pathFrom: 2 };
      if (seen.has(id)) {
        issues.add(base, `duplicate component id: "${id}" is also defined under ${seen.get(id)}`, { ...at, at: 'key' });
        continue;
      }
      seen.set(id, section);
      if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(id)) {
        issues.add(base, `invalid component id "${id}": use letters, digits, "_", "-" and "."`, { ...at, at: 'key' });
      }
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        issues.add(base, `expected a map with a "type" key; found ${describeFound(value, false)}${indentHint}`, at);
        continue;
      }
      const record = value as Record<string, unknown>;
      // What `inputs` names is checked whatever else is wrong with the component: a valid list is enough.
      nodes.push({ id, kind, inputs: kind === 'input' ? [] : (inputsSchema.safeParse(record.inputs).data ?? []) });
      const type = record.type;
      if (typeof type !== 'string') {
        issues.add([...base, 'type'], type === undefined ? `missing required key "type" (one of: ${typeNames(registry, kind)})${indentHint}` : `expected a component type name; found ${describeFound(type, false)}`, at);
        continue;
      }
      const definition = registry.get(kind, type);
      if (!definition) {
        const kinds = registry.kindsOf(type);
        const names = registry.list(kind).map((d) => d.type);
        const near = meant(type, names);
        const message = kinds.length
          ? `"${type}" is ${kinds[0] === 'transform' ? 'a' : 'an'} ${kinds.join('/')}, not ${kind === 'transform' ? 'a' : 'an'} ${kind}: move it under ${kinds.map((k) => `${k}s`).join(' or ')}`
          : `unknown ${kind} type "${type}"${near ? ` (did you mean "${near}"?)` : ''}; known ${kind}s: ${names.join(', ')}${unloaded.length ? `; ${unloaded.length === 1 ? 'plugin' : 'plugins'} ${unloaded.map((p) => `"${p}"`).join(', ')} did not load (above)` : ''}`;
        issues.add([...base, 'type'], message, at);
        continue;
      }

      const engineKeys = ENGINE_KEYS[kind];
      let inputs: string[] = [];
      let buffer = bufferSchema.parse(undefined);
      let onError: OnError | undefined;
      if (kind !== 'input') {
        const engineSchema = z.object({
          inputs: inputsSchema,
          buffer: bufferSchema,
          ...(kind === 'transform' ? { on_error: onErrorSchema(definition.onError) } : {}),
        });
        const parsed = engineSchema.safeParse({ inputs: record.inputs, buffer: record.buffer, ...(kind === 'transform' ? { on_error: record.on_error } : {}) });
        if (parsed.success) {
          inputs = parsed.data.inputs;
          buffer = parsed.data.buffer;
          onError = (parsed.data as { on_error?: OnError }).on_error;
        } else {
          issues.addZod(parsed.error, base, record, engineSchema, at);
        }
      }
      const own: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(record)) if (!engineKeys.includes(k)) own[k] = v;
      const schema = definition.config instanceof z.ZodObject ? (definition.config as z.ZodObject).strict() : definition.config;
      const parsed = schema.safeParse(own);
      if (!parsed.success) {
        issues.addZod(parsed.error, base, own, schema, { ...at, extraKeys: engineKeys });
        continue;
      }
      components.push({ id, kind, type, definition, inputs, buffer, ...(onError ? { onError } : {}), options: parsed.data, secretKeys: secretPaths(schema) });
    }
  }

  for (const { at, names } of substituted) {
    const c = components.find((c) => at[0] === `${c.kind}s` && at[1] === c.id);
    if (c?.secretKeys.some((k) => underSecret(at.slice(2), k))) for (const name of names) secretsFromEnv.add(name);
  }

  const listening = checkPorts(components, cfg.api, issues);
  // "Feeds nothing" is only meaningful once every component was understood.
  checkTopology(nodes, seen, issues, issues.issues.length === 0);
  if (issues.issues.length) throw new ConfigError(shownFile, dropUnresolved(issues.issues, unresolved));

  return {
    file: path.resolve(file),
    dir,
    dataDir: path.resolve(cfg.data_dir),
    ...dataDirAt(raw, locator),
    listenAt: listenAt(listening, raw, locator),
    positionOf: (at) => positionOf(raw, locator, at),
    logLevel: cfg.log_level,
    shutdownTimeoutMs: cfg.shutdown_timeout,
    api: cfg.api,
    plugins: cfg.plugins,
    components,
    secretsFromEnv: [...secretsFromEnv],
  };
}

/**
 * Two listeners on one port (of one protocol) cannot both start: refused here, where `validate` sees it,
 * rather than by `run` (exit 78 at start). A wildcard host (`0.0.0.0`, `::`) takes the port on every address.
 * Port 0 is any free port, never a clash.
 */
function checkPorts(components: ComponentConfig[], api: { enabled: boolean; address: string }, issues: IssueCollector): Array<{ id: string; at: PathSegment[] }> {
  const listening: Array<{ id: string; at: PathSegment[] }> = [];
  const taken: Array<ListenPort & { who: string; at: Array<string | number> }> = [];
  const apiAddress = api.enabled ? parseListenAddress(api.address) : undefined;
  if (apiAddress) taken.push({ protocol: 'tcp', ...apiAddress, key: 'address', who: 'the API', at: ['api', 'address'] });
  const wildcard = (host: string) => host === '0.0.0.0' || host === '::' || host === '';
  for (const c of components) {
    let ports: ListenPort[];
    try {
      ports = c.definition.listens?.(c.options) ?? [];
      const bad = Array.isArray(ports) ? ports.find((p) => !isListenPort(p)) : ports;
      if (bad !== undefined) throw new Error(`it returned ${JSON.stringify(bad) ?? String(bad)}; expected a list of { protocol: 'tcp' | 'udp', host, port, key }`);
    } catch (err) {
      // A plugin's listens() that throws (an address it cannot parse) was an internal error: exit 70 and a
      // stack trace, from `validate` too, naming neither the component nor its line.
      issues.add([`${c.kind}s`, c.id, 'type'], `the ${c.kind} type "${c.type}" cannot say which ports it listens on (its listens() failed): ${(err as Error).message}`, { component: c.id, pathFrom: 2 });
      continue;
    }
    for (const p of ports) {
      const at = [`${c.kind}s`, c.id, p.key];
      listening.push({ id: c.id, at });
      const clash = p.port !== 0 && taken.find((t) => t.protocol === p.protocol && t.port === p.port && (t.host === p.host || wildcard(t.host) || wildcard(p.host)));
      if (clash) issues.add(at, `${p.protocol.toUpperCase()} port ${p.port} is also ${clash.who}'s (${clash.at.join('.')}): two listeners cannot share a port`, { component: c.id, pathFrom: 2 });
      else taken.push({ ...p, who: `component "${c.id}"`, at });
    }
  }
  return listening;
}

/** Where the file writes the value at `at`: none for one it does not write (a default). */
function positionOf(raw: object, locator: Locator, at: PathSegment[]): Position | undefined {
  if (valueAt(raw, at) === undefined) return undefined;
  const { line, column } = locator.locate(at);
  return line !== undefined && column !== undefined ? { line, column } : undefined;
}

/** `PipelineConfig.listenAt`: the listen keys the file writes (a default has no position). */
function listenAt(listening: Array<{ id: string; at: PathSegment[] }>, raw: object, locator: Locator): PipelineConfig['listenAt'] {
  const found: PipelineConfig['listenAt'] = {};
  for (const { id, at } of listening) {
    const pos = positionOf(raw, locator, at);
    if (pos) found[id] ??= { key: String(at.at(-1)), ...pos };
  }
  return found;
}

function isListenPort(p: unknown): p is ListenPort {
  const q = p as Partial<ListenPort> | null;
  return typeof q === 'object' && q !== null && (q.protocol === 'tcp' || q.protocol === 'udp') && typeof q.host === 'string' && Number.isInteger(q.port) && typeof q.key === 'string';
}

function dataDirAt(raw: object, locator: Locator): Pick<PipelineConfig, 'dataDirAt'> {
  const at = positionOf(raw, locator, ['data_dir']);
  return at ? { dataDirAt: at } : {};
}

function typeNames(registry: ComponentRegistry, kind: ComponentKind): string {
  return registry.list(kind).map((d) => d.type).join(', ');
}

/** What the topology check needs of a component: it is known also of one that failed its own checks. */
type TopologyNode = Pick<ComponentConfig, 'id' | 'kind' | 'inputs'>;

function checkTopology(components: TopologyNode[], seen: Map<string, Section>, issues: IssueCollector, checkUnconsumed: boolean): void {
  const byId = new Map(components.map((c) => [c.id, c]));
  const producers = [...seen].filter(([, s]) => s !== 'outputs').map(([id]) => id);
  const consumed = new Set<string>();
  for (const c of components) {
    const section = `${c.kind}s`;
    c.inputs.forEach((ref, i) => {
      const where: PathSegment[] = [section, c.id, 'inputs', i];
      const at = { component: c.id, pathFrom: 2 };
      if (c.inputs.indexOf(ref) < i) {
        issues.add(where, `"${ref}" is listed twice in inputs: each of its events would arrive twice`, at);
        return;
      }
      if (ref === c.id) {
        issues.add(where, `"${c.id}" lists itself as an input`, at);
        return;
      }
      const refSection = seen.get(ref);
      if (refSection === undefined) {
        const near = meant(ref, producers);
        issues.add(where, `unknown input "${ref}"${near ? ` (did you mean "${near}"?)` : ''}; known inputs and transforms: ${producers.join(', ') || 'none'}`, at);
        return;
      }
      if (refSection === 'outputs') {
        issues.add(where, `"${ref}" is an output; outputs deliver events and cannot feed other components`, at);
        return;
      }
      consumed.add(ref);
    });
  }
  for (const c of checkUnconsumed ? components : []) {
    if (c.kind !== 'output' && !consumed.has(c.id)) {
      issues.add([`${c.kind}s`, c.id], `${c.kind} "${c.id}" feeds nothing: list it in the inputs of a transform or output, or remove it`, { component: c.id, at: 'key' });
    }
  }
  // Cycles among transforms (inputs and outputs cannot be part of one).
  const state = new Map<string, 'visiting' | 'done'>();
  const reported = new Set<string>();
  const visit = (id: string, trail: string[]): void => {
    const c = byId.get(id);
    if (!c || c.kind !== 'transform') return;
    const s = state.get(id);
    if (s === 'done') return;
    if (s === 'visiting') {
      const cycle = [...trail.slice(trail.indexOf(id)), id];
      const key = [...cycle].sort().join(',');
      if (!reported.has(key)) {
        reported.add(key);
        issues.add(['transforms', id, 'inputs'], `cycle: ${cycle.join(' -> ')} (events would loop forever)`, { component: id, pathFrom: 2 });
      }
      return;
    }
    state.set(id, 'visiting');
    for (const ref of c.inputs) visit(ref, [...trail, id]);
    state.set(id, 'done');
  };
  for (const c of components) visit(c.id, []);
}

/** A copy of a component's options with secret values replaced, for logging. */
/**
 * The values a component's options hold at its secret keys (written in the config itself, not through a
 * variable), and those it derives from them to send (`derivedSecrets`: a basic auth header): masked in the
 * logs and /health like variables substituted there, so that an error message that quotes one (a plugin's
 * "login failed: <password>", a receiver quoting the Authorization header it got) does not show it.
 */
export function secretValuesOf(component: ComponentConfig): string[] {
  const out: string[] = [];
  // A value written in the config is masked wherever it appears in a log line: a short or common one
  // ("true", "info") would mask words of every line and break the JSON. In a map marked secret as a whole
  // (webhook `headers`) only values under a name that says credential (Authorization, X-Api-Key), not
  // X-Source or Content-Type, and of 8 characters or more.
  const collect = (v: unknown, name?: string): void => {
    if (typeof v === 'string') {
      // A value at a key marked secret itself (password, token) is masked whatever its length (from 4
      // characters, as every secret); one picked out of a map by its name only from 8.
      if (name === undefined || (v.length >= MIN_LITERAL_SECRET && CREDENTIAL_NAME.test(name))) out.push(v);
    } else if (Array.isArray(v)) {
      for (const x of v) collect(x, name);
    } else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) collect(x, k);
    }
  };
  forEachSecret(component.options, component.secretKeys, (o, key) => collect(o[key]));
  return [...out, ...(component.definition.derivedSecrets?.(component.options) ?? [])];
}

export function redactOptions(component: ComponentConfig): unknown {
  const copy = structuredClone(component.options) as Record<string, unknown>;
  forEachSecret(copy, component.secretKeys, (o, key) => (o[key] = '<redacted>'));
  return copy;
}

/**
 * Calls `visit(parent, key)` for every value of `options` at one of the dotted secret paths (`*` matching
 * any key), so that the value can be read or replaced.
 */
function forEachSecret(options: unknown, paths: readonly string[], visit: (parent: Record<string, unknown>, key: string) => void): void {
  const walk = (obj: unknown, parts: string[]): void => {
    if (obj === null || typeof obj !== 'object') return;
    const o = obj as Record<string, unknown>;
    const [part, ...rest] = parts;
    for (const key of part === '*' ? Object.keys(o) : [part!]) {
      if (o[key] === undefined) continue;
      if (rest.length) walk(o[key], rest);
      else visit(o, key);
    }
  };
  for (const p of paths) walk(options, p.split('.'));
}

/** Secrets written in the config are masked only from this length (see secretValuesOf). */
const MIN_LITERAL_SECRET = 8;
/** Names (of headers, of map keys) that say their value is a credential. */
const CREDENTIAL_NAME = /auth|token|secret|passw|credential|api_?key|apikey|cookie|signature|session|private|key$/i;

/** Config keys whose values are secret, and the variable names that say they hold one. */
const SECRET_KEY = /secret|token|password|passwd|credential|auth|api_?key|url$|^headers$/i;
const SECRET_NAME = /secret|token|passw|credential|auth|api_?key|webhook/i;

/** Whether a scalar sits under a key that holds secrets (its own key, or a map such as `headers:`). */
function secretKeyPath(path: readonly unknown[]): boolean {
  for (const node of path) {
    if (YAML.isPair(node) && YAML.isScalar(node.key) && typeof node.key.value === 'string' && SECRET_KEY.test(node.key.value)) return true;
  }
  return false;
}

/** The keys (and sequence indexes) from the document's root down to `node`, as `YAML.visit` reached it. */
function keyPath(ancestors: readonly unknown[], node: unknown): PathSegment[] {
  const out: PathSegment[] = [];
  for (let i = 0; i < ancestors.length; i++) {
    const a = ancestors[i];
    if (YAML.isPair(a) && YAML.isScalar(a.key)) out.push(a.key.value as PathSegment);
    else if (YAML.isSeq(a)) out.push(a.items.indexOf((ancestors[i + 1] ?? node) as never));
  }
  return out;
}

/**
 * Leaves out what was found wrong with a value whose variable was not set (its `${NAME}` is still there,
 * so "expected a number" would only repeat the real problem), keeping the message that names the variable.
 */
function dropUnresolved(list: ConfigIssue[], unresolved: Set<string>): ConfigIssue[] {
  if (unresolved.size === 0) return list;
  return list.filter((i) => i.line === undefined || !unresolved.has(`${i.line}:${i.column}`) || /^environment variable |^invalid variable reference/.test(i.message));
}

/** Values substituted from variables where secrets go (or named like secrets), and secrets written in the config itself. */
export function secretsOf(config: PipelineConfig): string[] {
  return [...config.secretsFromEnv.map((name) => process.env[name] ?? ''), ...config.components.flatMap(secretValuesOf)].filter(Boolean);
}
