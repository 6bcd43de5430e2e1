/**
 * The one contract every stage follows, built-in or plugin.
 *
 * A component definition is a type name, a config schema (zod: defaults, descriptions, validation) and a
 * `build()` that turns the checked config into a running stage. The engine knows nothing about any particular
 * component: it validates the config against the schema, calls `build()`, and wires stages with buffers.
 *
 * - An **input** produces batches: `run(ctx)` calls `ctx.emit(events)` until `ctx.signal` aborts or its
 *   source ends. `emit` resolves once the batch is queued downstream, so a full pipeline slows the input.
 * - A **transform** maps batches: `map(events)` returns the events to pass on (the engine carries the
 *   acknowledgements), or `stream(batches)` takes full control for transforms that hold events across batches.
 * - An **output** consumes batches: `consume(batches)` reads until the iterable ends and calls `ackBatch()`
 *   for each batch once it is written (or rejected for good).
 *
 * A `stream()` or `consume()` that returns before its batches end (while its input goes on) is taken for a
 * crash: logged, counted and restarted, as one that throws.
 */
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { AckStatus, Batch } from './acknowledgement.js';
import type { LogEvent } from './event.js';
import type { ComponentMetrics } from './metrics.js';

export type ComponentKind = 'input' | 'transform' | 'output';

/** What the engine does with the events of a batch a transform fails on (see `ComponentDefinition.onError`). */
export const ON_ERROR = ['pass', 'drop'] as const;
export type OnError = (typeof ON_ERROR)[number];

export interface ComponentContext {
  /** The component id from the config (the key under `inputs:`, `transforms:` or `outputs:`). */
  id: string;
  logger: Logger;
  /** A folder reserved for this component's state (checkpoints, queues), created on first use by the component. */
  dataDir: string;
  metrics: ComponentMetrics;
  /** Aborted when the daemon stops (inputs stop reading) or the component is being torn down. */
  signal: AbortSignal;
  /**
   * Optional: aborted when a graceful stop begins (the inputs stop), while outputs still drain. An output
   * waiting on something only time could free (room in a full queue) stops waiting then; for outputs
   * `signal` aborts only at the hard stop.
   */
  stopping?: AbortSignal;
  /**
   * Optional: once a graceful stop has begun, when it gives up (`performance.now()` time; the shutdown
   * timeout). An output that could drain for longer (a backlog on disk, a slow receiver) stops in time to
   * finish cleanly, leaving the rest for the next start.
   */
  stopDeadline?: () => number | undefined;
  /**
   * Optional: tells `/health` the component cannot do its job (a file it cannot write, retried meanwhile)
   * until `ok()`; the daemon's own failure, not a peer's (a receiver that is down is not one).
   */
  health?: { failing(reason: string): void; ok(): void };
  /**
   * Optional: whether the stop under way is a reload whose new pipeline has this component too (same id
   * and type), which takes over its state in `dataDir` (true), a reload whose new pipeline has no such
   * component (false: what it leaves in `dataDir` nothing takes over), or no reload (undefined). An output
   * with an on-disk queue leaves its backlog there for its successor instead of draining it while the reload
   * waits, and says where what it could not deliver goes. Read once the stop began.
   */
  succeeded?: () => boolean | undefined;
}

export interface InputContext extends ComponentContext {
  /**
   * Sends events downstream as one batch. Resolves once every downstream buffer has queued it (waiting while
   * they are full). `onAck` runs once when every output the events reached has finished with them.
   */
  emit(events: LogEvent[], onAck?: (status: AckStatus) => void): Promise<void>;
}

export interface InputStage {
  run(ctx: InputContext): Promise<void>;
  /**
   * Optional: resolves once the input receives (a network input listens on its port); rejects when it
   * cannot start (the port is taken, the address does not resolve). The daemon waits for it at start, and
   * a rejection stops the start with a configuration error instead of restarting the input forever. An
   * input rebuilt after a crash is not waited for: its `ready` rejecting is a crash of that run (restarted).
   */
  readonly ready?: Promise<unknown>;
}

export interface TransformStage {
  /** Maps the events of one batch. May return the same array, a filtered one, or a new one. */
  map?(events: LogEvent[]): LogEvent[] | Promise<LogEvent[]>;
  /** Full control of the stream; the transform must carry each batch's finalizers to what it emits. */
  stream?(batches: AsyncIterable<Batch>): AsyncIterable<Batch>;
  /**
   * Called once after the last batch (a stop, a reload, the end of its input); may return final events to
   * pass on (those it held back: a merge waiting for its next line). Their input was told they were
   * delivered when they went in: if it throws, they are lost (counted in `flush_failures_total`, logged, on
   * `/health`; the stop is not a clean one), whatever `on_error` says.
   */
  flush?(): LogEvent[] | Promise<LogEvent[]>;
  /**
   * Optional: how many events it holds back for `flush()` now. Read just before `flush()`: if that fails,
   * the log says how many were lost, and `abandoned_events_total` counts them.
   */
  pending?(): number;
}

/**
 * The batches an output consumes. The engine's also offer `takeQueued()`: the next batch if one is already
 * queued, taken at once without waiting (undefined if none is), so that an output can handle what has piled
 * up together (the file output writes it with one write). Such a batch is the output's to acknowledge, as
 * one from the iteration is; the iteration goes on after it.
 */
export interface Batches extends AsyncIterable<Batch> {
  takeQueued?(): Batch | undefined;
}

export interface OutputStage {
  consume(batches: Batches, ctx: ComponentContext): Promise<void>;
}

export interface StageByKind {
  input: InputStage;
  transform: TransformStage;
  output: OutputStage;
}

export interface BuildContext {
  id: string;
  logger: Logger;
  dataDir: string;
  /** Folder of the config file, to resolve relative paths in the component's config. */
  configDir: string;
  /** The component's metrics, for counters and gauges of its own (absent when built outside a pipeline). */
  metrics?: ComponentMetrics;
  /**
   * Whether a component upstream of this one (what it lists in `inputs`, theirs, ...) is waiting for room
   * to send: held up by a full buffer, its own or another component's it also feeds (absent outside a
   * pipeline). Then this one's input is quiet because the pipeline is, not because its sources are.
   */
  upstreamBlocked?: () => boolean;
  /**
   * Aborted when a graceful stop (or a reload) begins: the inputs stop, so what follows is quiet because
   * the daemon is stopping (absent outside a pipeline).
   */
  stopping?: AbortSignal;
  /**
   * Tells `/health` the component cannot do its job (a transform's state it cannot save) until `ok()`, as
   * `ComponentContext.health` (absent outside a pipeline).
   */
  health?: ComponentContext['health'];
  /**
   * Transforms that run as a `stream()`: a batch it failed on (threw while handling it), told here rather
   * than thrown out of `stream()`, which ends the stream and restarts the transform. The engine applies its
   * `on_error` as to a batch a `map()` throws on (logged, counted, on `/health`) and returns the batch to
   * yield (`pass`: its events as they are) or undefined (`drop`: answered `dropped` already). Absent outside
   * a pipeline.
   */
  failedBatch?(batch: Batch, err: unknown): Batch | undefined;
}

export interface ComponentDefinition<K extends ComponentKind = ComponentKind, S extends z.ZodType = z.ZodType> {
  kind: K;
  /** The `type:` name in the YAML. */
  type: string;
  /** One or two sentences for the config reference. */
  description: string;
  /** The component's own keys (without `type`, `inputs` and `buffer`, which the engine owns). */
  config: S;
  /** Example config, shown in the config reference. */
  example?: Record<string, unknown>;
  build(config: z.output<S>, ctx: BuildContext): StageByKind[K] | Promise<StageByKind[K]>;
  /**
   * Transforms: what becomes of the events of a batch it fails on when the config does not say (`on_error`,
   * validated by the engine for every transform): a batch its `map()` throws on, one a `stream()` tells
   * (`BuildContext.failedBatch`) or throws on twice in a row. `pass` (the default) sends them on, `drop`
   * drops them. `drop` for a transform whose events must not go on unchanged (`redact`).
   */
  onError?: OnError;
  /**
   * The ports the component will listen on, from its parsed config, so that `validate` can refuse two
   * components (or one and the API) on one port before `run` finds it taken. `key`: the config key that
   * sets it, for the error's position.
   */
  listens?(config: z.output<S>): ListenPort[];
  /**
   * Inputs: whether a reload (SIGHUP) that leaves its settings unchanged keeps it running (default true):
   * what it receives meanwhile waits until the new pipeline runs. `false` for an input whose clients give up
   * on an answer that waits (a gRPC deadline) and send again, so that what waited would be delivered twice:
   * it is stopped and built anew, as a changed input is.
   */
  keepOnReload?: boolean;
  /**
   * Secrets the component makes of its options and sends (a basic auth header: the base64 of user and
   * password), which a receiver may quote back: masked in the logs, /health and `driftlock test-alert` as
   * the options marked secret are. Those are masked as written; these as sent.
   */
  derivedSecrets?(config: z.output<S>): string[];
  /**
   * Outputs: sends `event` (a sample alert) to the receiver now, once: no queue, no retry, no grouping, no
   * mention, nothing saved. For `driftlock test-alert`, which tells whether the receiver is reached and takes
   * what it is sent. `id` is the component's, as `build()` gets it. Resolves with what the receiver answered
   * (`HTTP 200`); rejects with why it did not take it. `signal` aborts when the test gives up waiting
   * (`driftlock test-alert --timeout`, 30 s by default): the test then fails, saying so. `resolved`, when
   * given, is the notice that closes the incident `event` opens (its anomaly `resolved: true`, same stream,
   * kind and field): an output whose receiver keeps incidents open until told (a webhook with
   * `resolved_payload`: PagerDuty) sends it after the alert, so that a test leaves no incident open.
   */
  sendTest?(config: z.output<S>, event: LogEvent, ctx: { id: string; signal: AbortSignal; resolved?: LogEvent }): Promise<string>;
}

export interface ListenPort {
  protocol: 'tcp' | 'udp';
  host: string;
  port: number;
  key: string;
}

export type AnyComponentDefinition = ComponentDefinition<ComponentKind, z.ZodType>;

export function defineInput<S extends z.ZodType>(def: Omit<ComponentDefinition<'input', S>, 'kind'>): ComponentDefinition<'input', S> {
  return { kind: 'input', ...def };
}

export function defineTransform<S extends z.ZodType>(def: Omit<ComponentDefinition<'transform', S>, 'kind'>): ComponentDefinition<'transform', S> {
  return { kind: 'transform', ...def };
}

export function defineOutput<S extends z.ZodType>(def: Omit<ComponentDefinition<'output', S>, 'kind'>): ComponentDefinition<'output', S> {
  return { kind: 'output', ...def };
}
