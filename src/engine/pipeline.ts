/**
 * The running pipeline: builds every component from its checked config, connects them with bounded
 * buffers, starts them consumers-first, and stops them producers-first so that in-flight events drain.
 *
 * Data flow: an input's `emit()` sends a batch to the buffer of every component that lists it in `inputs`
 * (fan-out retains the batch's finalizers once per extra branch and clones the events, so branches cannot
 * see each other's changes). Several producers may feed one buffer (fan-in). A buffer closes when all of its
 * producers have finished; a transform then flushes and closes its own downstream buffers; an output returns
 * when its buffer is drained. That cascade is the graceful shutdown.
 */
import type { Logger } from 'pino';
import { ackBatch, Finalizer, releaseAll, type AckStatus, type Batch } from './acknowledgement.js';
import { BatchBuffer, carriedBytes } from './buffer.js';
import type { Batches, ComponentContext, ComponentKind, InputStage, OnError, OutputStage, TransformStage } from './component.js';
import type { LogEvent } from './event.js';
import { COMMON_COUNTERS, ComponentMetrics } from './metrics.js';
import type { Taps } from './tap.js';
import type { ComponentConfig, PipelineConfig } from '../config/load.js';
import { redactOptions } from '../config/load.js';
import { setMaxListeners } from 'node:events';
import { Fanout } from './fanout.js';
import { checkEmitted, checkMapped, checkStage, checkYielded } from './stage-contract.js';
import path from 'node:path';

interface RunningComponent {
  config: ComponentConfig;
  metrics: ComponentMetrics;
  logger: Logger;
  /** The pipeline it belongs to: an input kept through a reload moves to the new one. */
  owner: Pipeline;
  /** An input's own stop: aborted when its pipeline stops, but not for a reload that keeps it running. */
  stopper?: AbortController;
  /** An input handed over to the next pipeline by a reload (`handOver`): its old pipeline leaves it be. */
  handedOver?: boolean;
  /**
   * An input's end, told to the pipeline that owns it now only (`untilEnded`). Its `done` lives as long as it
   * runs: the pipelines a reload replaced must not wait on it, or each stays reachable (with its detector's
   * state) for as long as the input runs: 137 MB a reload, measured.
   */
  tellEnded?: (err?: unknown) => void;
  /**
   * An input's end, once its run is over (it ended, or stopped; not kept through a reload): `null` when it
   * ended well, the error when it failed; undefined while it runs.
   */
  endedWith?: { err: unknown } | null;
  /** Acknowledgements answered `abandoned` so far (an input that attaches them). */
  abandonedAcks: number;
  /** The buffer in front of a transform or output. */
  buffer?: BatchBuffer;
  /** Events it held or had queued when it was given up on (or the shutdown timeout passed). */
  abandoned: number;
  fanout: Fanout;
  done?: Promise<void>;
  /** When it last crashed (ms), and why: `health()` reports it for `HEALTH_WINDOW_MS`. */
  lastCrashAt?: number;
  lastError?: string;
  /**
   * Set while an input that says when it receives (`ready`: a network input listens) has not yet: a failure
   * then is a start failure, handed to `start()` through `fail`, not a crash to restart.
   */
  starting?: { fail: (err: unknown) => void };
  /** Since when it says it cannot do its job (`ctx.health.failing`), until it says `ok()`. */
  failingSince?: number;
  failingReason?: string;
  /**
   * When a transform last failed on a batch (its events passed on as it left them, or dropped: `on_error`), and
   * why: `health()` reports it for `HEALTH_WINDOW_MS`, as a crash.
   */
  lastFailedBatchAt?: number;
  lastBatchError?: string;
  /** Events lost when its `flush()` failed, as many as it said it held back (`TransformStage.pending`). */
  flushLost: number;
  /**
   * Set while a transform's `flush()` runs: what it said it held back then (`pending`), and whether the
   * shutdown timeout passed first (`given up`: counted as failed, and what it returns after is not sent on).
   */
  flushing?: { pending: number | undefined; givenUp: boolean };
  /** When a failed batch was last logged, and the failures since that were not (see `BATCH_ERROR_LOG_MS`). */
  batchErrorLoggedAt?: number;
  batchErrorsUnlogged?: number;
}

/** How a component tells `/health` it cannot do its job, and that it can again (see ComponentContext.health). */
function healthOf(c: RunningComponent): NonNullable<ComponentContext['health']> {
  return {
    failing(reason: string) {
      c.failingSince ??= Date.now();
      c.failingReason = reason;
    },
    ok() {
      c.failingSince = undefined;
      c.failingReason = undefined;
    },
  };
}

/**
 * A transform that fails on batch after batch logs the first failure, then at most one line this often
 * (saying how many went unlogged): each is counted still. Before, every batch wrote a line.
 */
const BATCH_ERROR_LOG_MS = 10_000;

/** What `on_error` a transform runs with: its config's, else its definition's default, else `pass`. */
function onErrorOf(config: ComponentConfig): OnError {
  return config.onError ?? config.definition.onError ?? 'pass';
}

/** A component that crashed within this long is reported by `health()` (longer than the longest backoff). */
export const HEALTH_WINDOW_MS = 60_000;

/** Whether something that happened `at` (ms) is still said on `/health` `now`. */
const recent = (at: number | undefined, now: number): at is number => at !== undefined && now - at <= HEALTH_WINDOW_MS;

/**
 * A component in trouble, as `/health` lists it. `last_error` and `seconds_ago` are those of the first of its
 * `problems` (a crash before what it says it cannot do, before a failed batch), as they were before the list:
 * `problems` says every trouble it is in (an output that crashed while it cannot write, say).
 */
export interface ComponentTrouble {
  component: string;
  kind: string;
  last_error: string;
  seconds_ago: number;
  restarts: number;
  problems: ComponentProblem[];
}

export interface ComponentProblem {
  /**
   * `crashed` (within `HEALTH_WINDOW_MS`; seconds since the last crash), `failing` (it says it cannot do its
   * job; seconds since it began), `failed_batch` (a transform failed on a batch within `HEALTH_WINDOW_MS`;
   * seconds since the last), `flush_failed` (a transform's `flush()` failed within `HEALTH_WINDOW_MS`, what it
   * held back lost: at a reload, said by the pipeline that replaced it).
   */
  problem: 'crashed' | 'failing' | 'failed_batch' | 'flush_failed';
  last_error: string;
  seconds_ago: number;
}

/**
 * A component's crash and failed batch within `HEALTH_WINDOW_MS` (see `Pipeline.recentTrouble`), handed to the
 * pipeline a reload builds next (`PipelineOptions.troubleBefore`).
 */
export interface RecentTrouble {
  component: string;
  kind: ComponentKind;
  crashedAt?: number;
  crashError?: string;
  failedBatchAt?: number;
  batchError?: string;
}

/** A transform's `flush()` that failed (see `Pipeline.flushFailed`): at a stop, the end of its input, or a reload. */
export interface FlushFailure {
  component: string;
  kind: string;
  at: number;
  error: string;
}

const RESTART_BACKOFF_MS = [250, 1000, 5000, 15000, 30000];
/** A component that ran this long before it crashed is restarted as after a first crash. */
const HEALTHY_RUN_MS = 60_000;
/**
 * Crashes in a row, once a transform's or output's input has ended, after which it is given up on: what it
 * holds is abandoned and the run exits 1. Restarted for ever, one that crashes on its last batches every time
 * kept `driftlock run` on standard input from ever exiting.
 */
export const RESTARTS_AFTER_END = RESTART_BACKOFF_MS.length;
/** While the start waits for a build() or an input's `ready`, it says so this often. */
const READY_WARN_MS = 10_000;

export interface PipelineOptions {
  logger: Logger;
  /** The waits before restarts, crash after crash (the last repeats); tests shorten them. */
  restartBackoffMs?: readonly number[];
  /** How often the start names the component whose build() or the inputs whose `ready` it still waits for (default 10 s); tests shorten it. */
  readyWarnMs?: number;
  /** The metrics of the pipeline this one replaces (a reload): its components' counters go on from there. */
  carryMetricsFrom?: ComponentMetrics[];
  /**
   * Inputs of the pipeline this one replaces, kept running through the reload (`handOver`): this one feeds
   * their events on once it has started, instead of building and starting them anew.
   */
  adopt?: HeldInputs;
  /** The daemon's taps (`GET /tap`): what each producer sends is offered to them. */
  taps?: Taps;
  /**
   * The flushes that failed in the pipeline this one replaces (a reload: see `recentFlushFailures`), said on
   * this one's `/health` for the rest of `HEALTH_WINDOW_MS`: they failed at the reload, while /health said reloading.
   */
  flushFailuresBefore?: readonly FlushFailure[];
  /**
   * The recent crashes and failed batches of the pipeline this one replaces (a reload: see `recentTrouble`):
   * its component of the same id and kind takes them on, said on `/health` for the rest of `HEALTH_WINDOW_MS`,
   * whether its config changed or not (the trouble was real, and a reload during an incident must not hide
   * it). Those of a component the new config removes (or makes of another kind) are not: it is gone.
   */
  troubleBefore?: readonly RecentTrouble[];
}

/** Tells a held input to stop reading, and answers what it holds or sends from now on `abandoned`. */
function halt(c: RunningComponent): void {
  c.stopper!.abort();
  c.fanout.discard();
}

/**
 * Stops inputs held by a reload: they stop reading, what they hold or emit is answered `abandoned`. Waits for
 * them up to `timeoutMs`; true when all stopped and none discarded anything.
 */
async function stopInputsNow(inputs: readonly RunningComponent[], timeoutMs: number, what: string): Promise<boolean> {
  for (const c of inputs) halt(c);
  let timer: NodeJS.Timeout | undefined;
  const stopped = await Promise.race([
    Promise.all(inputs.map((c) => c.done?.catch(() => undefined))).then(() => true),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
  ]);
  clearTimeout(timer);
  for (const c of inputs) {
    if (c.fanout.discarded > 0) c.logger.error({ discarded_events: c.fanout.discarded }, `${what}: events it received since the reload began were not delivered (a file input reads them again at the next start)`);
    if (c.endedWith === undefined) c.logger.error({ timeout_ms: timeoutMs }, `${what}: the input did not stop within the shutdown timeout; given up on`);
  }
  return stopped && inputs.every((c) => c.fanout.discarded === 0);
}

/**
 * Inputs a reload keeps running (unchanged in the new config): between the old pipeline's drain and the new
 * one's start their events wait (backpressure on the input: a TCP client is slowed, a file is read later).
 */
export class HeldInputs {
  /** @internal */
  constructor(readonly components: readonly RunningComponent[]) {}

  get ids(): string[] {
    return this.components.map((c) => c.config.id);
  }

  /**
   * Stops them without a pipeline to go on to (the daemon stops during a reload): they stop reading at
   * once, and what they emit from now on is answered `abandoned` (a file input reads it again at the next
   * start; counted in the input's `discarded_events_total`). Resolves when they have stopped, or
   * `timeoutMs` passed first (an input that never returns from its stop must not hold the exit): true when
   * nothing was discarded and every one stopped, false (not drained) else.
   */
  async stop(timeoutMs: number): Promise<boolean> {
    return stopInputsNow(this.components, timeoutMs, 'stopped during a reload');
  }
}

export class Pipeline {
  readonly config: PipelineConfig;
  private readonly logger: Logger;
  private readonly components = new Map<string, RunningComponent>();
  private readonly stopInputs = new AbortController();
  /** Aborted when the shutdown timeout passes: outputs give up on retries. */
  private readonly hardStop = new AbortController();
  /** When a graceful stop gives up (performance.now()), once one has begun. */
  private stopDeadline: number | undefined;
  /**
   * Components the pipeline a reload builds next has too (same id and type), taking over their state in
   * data_dir (see `ComponentContext.succeeded`); set by `handOver`, undefined for a stop that is no reload.
   */
  private successors: ReadonlySet<string> | undefined;
  /** A stop (SIGTERM) came during the reload's hand-off: no new pipeline starts (see `stopHandingOver`). */
  private handOverStopped = false;
  private started = false;
  /** `start()`'s work while it is under way (a stop during the start waits for it, within the timeout). */
  private startup: Promise<void> | undefined;
  private startSettled = false;
  /** The component whose build() the start waits for, if any. */
  private building: RunningComponent | undefined;
  private finished: Promise<void> | null = null;
  /** Resolves once every input has ended (by itself, or stopped), once started; rejects as `done` does when one failed. */
  inputsEnded: Promise<void> = new Promise(() => undefined);
  private readonly restartBackoffMs: readonly number[];
  private readonly readyWarnMs: number;
  /** Components given up on after crashing `RESTARTS_AFTER_END` times in a row once their input had ended. */
  readonly gaveUp: string[] = [];
  /** Inputs running already, kept from the pipeline this one replaces. */
  private readonly adopted: RunningComponent[] = [];
  /** It replaces a running pipeline (a reload): its metrics go on from that one's. */
  private readonly replacing: boolean;
  /** Its transforms' flushes that failed (see `flushFailed`): a stop after one is not a clean one. */
  readonly flushFailures: FlushFailure[] = [];
  /** Those of the pipelines a reload replaced, for /health (see `PipelineOptions.flushFailuresBefore`). */
  private readonly flushFailuresBefore: readonly FlushFailure[];

  constructor(config: PipelineConfig, options: PipelineOptions) {
    this.config = config;
    this.logger = options.logger;
    this.restartBackoffMs = options.restartBackoffMs?.length ? options.restartBackoffMs : RESTART_BACKOFF_MS;
    this.readyWarnMs = options.readyWarnMs ?? READY_WARN_MS;
    this.replacing = options.carryMetricsFrom !== undefined || options.adopt !== undefined;
    this.flushFailuresBefore = options.flushFailuresBefore ?? [];
    // Every component listens on these (a pipeline of 7 inputs passed Node's 10 and it warned of a leak).
    setMaxListeners(0, this.stopInputs.signal, this.hardStop.signal);
    for (const c of config.components) {
      const kept = options.adopt?.components.find((k) => k.config.id === c.id && c.kind === 'input');
      if (kept) {
        // Running already: its metrics, logger, fan-out and run go on; its events go into this pipeline.
        Object.assign(kept, { config: c, owner: this, handedOver: false });
        this.adopted.push(kept);
        this.components.set(c.id, kept);
        continue;
      }
      const metrics = new ComponentMetrics(c.id, c.kind, c.type).declare(...COMMON_COUNTERS);
      const before = options.troubleBefore?.find((t) => t.component === c.id && t.kind === c.kind);
      const running: RunningComponent = {
        config: c,
        metrics,
        logger: this.logger.child({ component: c.id, component_type: c.type }),
        owner: this,
        ...(c.kind === 'input' ? { stopper: unlimited(new AbortController()) } : {}),
        fanout: new Fanout(c.id, options.taps),
        abandoned: 0,
        abandonedAcks: 0,
        flushLost: 0,
        ...(before?.crashedAt !== undefined ? { lastCrashAt: before.crashedAt, lastError: before.crashError } : {}),
        ...(before?.failedBatchAt !== undefined ? { lastFailedBatchAt: before.failedBatchAt, lastBatchError: before.batchError } : {}),
      };
      if (c.kind !== 'input') {
        const buffer = new BatchBuffer({ maxEvents: c.buffer.max_events, maxBytes: c.buffer.max_bytes, whenFull: c.buffer.when_full });
        running.buffer = buffer;
        // What the component gave up on (`abandoned`), plus what was sent to its sealed buffer.
        metrics.counter('abandoned_events_total', () => running.abandoned + running.flushLost + buffer.stats.abandonedEvents);
        metrics.gauge('buffer_events', () => buffer.stats.queuedEvents);
        metrics.gauge('buffer_bytes', () => buffer.stats.queuedBytes);
        metrics.counter('discarded_events_total', () => buffer.stats.droppedEvents);
        // From 0, by what its `on_error` does with them: alertable before the first failure.
        if (c.kind === 'transform') {
          metrics.add('failed_events_total', 0, { outcome: onErrorOf(c) === 'drop' ? 'dropped' : 'passed' });
          metrics.declare('flush_failures_total');
        }
      }
      const previous = options.carryMetricsFrom?.find((m) => m.id === c.id);
      if (previous) metrics.carryOver(previous);
      this.components.set(c.id, running);
    }
    for (const c of this.components.values()) {
      for (const ref of c.config.inputs) this.components.get(ref)!.fanout.add(c.buffer!);
    }
  }

  /**
   * The components' metrics. With `handedOver: false`, without those of inputs a reload handed over to the
   * next pipeline, which carries them on itself (so that they are not counted twice).
   */
  metrics(options: { handedOver?: boolean } = {}): ComponentMetrics[] {
    return [...this.components.values()].filter((c) => options.handedOver !== false || !c.handedOver).map((c) => c.metrics);
  }

  /** Resolves when every component has finished (all inputs ended and everything drained). */
  get done(): Promise<void> {
    if (!this.finished) throw new Error('pipeline not started');
    return this.finished;
  }

  private buildContext(c: RunningComponent, signal: AbortSignal): ComponentContext {
    return {
      id: c.config.id,
      logger: c.logger,
      dataDir: path.join(this.config.dataDir, c.config.id),
      metrics: c.metrics,
      signal,
      stopping: c.stopper?.signal ?? this.stopInputs.signal,
      // The pipeline's it belongs to now: an input kept through a reload hears the new one's stop.
      stopDeadline: () => c.owner.stopDeadline,
      health: healthOf(c),
      succeeded: () => c.owner.succeeded(c.config.id),
    };
  }

  private async build<T>(c: RunningComponent): Promise<T> {
    const upstream = this.upstreamOf(c);
    return checkStage(c.config.kind, await c.config.definition.build(c.config.options, {
      id: c.config.id,
      logger: c.logger,
      dataDir: path.join(this.config.dataDir, c.config.id),
      configDir: this.config.dir,
      metrics: c.metrics,
      upstreamBlocked: () => upstream.some((u) => u.fanout.blocked),
      stopping: c.stopper?.signal ?? this.stopInputs.signal,
      health: healthOf(c),
      ...(c.config.kind === 'transform' ? { failedBatch: (batch: Batch, err: unknown) => this.failedOn(c, batch, err) } : {}),
    })) as T;
  }

  /** The components whose events reach `c`: those it lists in `inputs`, theirs, and so on. */
  private upstreamOf(c: RunningComponent): RunningComponent[] {
    const found = new Set<RunningComponent>();
    const todo = [...c.config.inputs];
    for (let id = todo.pop(); id !== undefined; id = todo.pop()) {
      const u = this.components.get(id);
      if (!u || found.has(u)) continue;
      found.add(u);
      todo.push(...u.config.inputs);
    }
    return [...found];
  }

  /**
   * Builds all components (so that a bad port or path fails before anything runs), then starts them. With
   * `timeoutMs` (a reload's new pipeline: its shutdown_timeout), a start that has not finished by then (a build() or an input's
   * `ready` that never settles) is given up on: nothing more is built or run, what runs drains, the inputs
   * adopted from a reload are held again (for the pipeline started instead), and it throws a `StartError`
   * naming the component it waited for.
   */
  async start(options: { timeoutMs?: number } = {}): Promise<void> {
    if (this.started) throw new Error('pipeline already started');
    this.started = true;
    const order = [...this.components.values()].sort((a, b) => rank(a) - rank(b));
    // A component whose build() or whose `ready` does not settle (a plugin's) is named while the start waits
    // for it. The timer also keeps Node running meanwhile: one that holds no handle (a promise alone) let
    // the process end at once, exit 0, without a word.
    const notReady = new Set<RunningComponent>();
    const waitingSince = Date.now();
    // What /health answers meanwhile: a pipeline that replaces another (a reload) is started while it says `reloading`.
    const health = this.replacing ? 'reloading' : 'starting';
    const waiting = setInterval(() => {
      const waited_ms = Date.now() - waitingSince;
      this.building?.logger.warn({ waited_ms }, `build() has not finished yet: the start waits for it, /health says ${health}`);
      for (const c of notReady) c.logger.warn({ waited_ms }, `input not ready yet (its \`ready\` has not resolved): the start waits for it, /health says ${health}`);
    }, this.readyWarnMs);
    this.startup = this.startStages(order, notReady, (c) => (this.building = c));
    let timer: NodeJS.Timeout | undefined;
    try {
      const timedOut = options.timeoutMs === undefined ? undefined : new Promise<'timed out'>((resolve) => (timer = setTimeout(() => resolve('timed out'), options.timeoutMs)));
      if ((await (timedOut ? Promise.race([this.startup, timedOut]) : this.startup)) === 'timed out') {
        throw await this.giveUpStart(options.timeoutMs!, notReady);
      }
    } finally {
      this.startSettled = true;
      clearTimeout(timer);
      clearInterval(waiting);
    }
    // Stopped while it started (a SIGTERM during a slow build or ready): what was built is not run, and
    // what runs already is drained by that stop, with what the inputs kept through a reload held for it.
    if (this.stopInputs.signal.aborted) {
      if (this.finished) for (const c of this.adopted) c.fanout.open();
      return;
    }
    // Everything downstream runs: the events an adopted input held through the reload go on, into this one.
    for (const c of this.adopted) c.fanout.open();
    this.logger.info(
      { inputs: count(order, 'input'), transforms: count(order, 'transform'), outputs: count(order, 'output'), ...(this.adopted.length ? { kept_running: this.adopted.map((c) => c.config.id) } : {}) },
      'pipeline started',
    );
  }

  /**
   * A start that did not finish within `timeoutMs`: nothing more is built or run (a build() under way
   * cannot be cut short: what it builds, if it ever ends, is not run), the inputs not ready stop, what runs
   * drains (within the timeout again), and the inputs adopted from a reload are held again. Returns the
   * error naming what the start waited for.
   */
  private async giveUpStart(timeoutMs: number, notReady: ReadonlySet<RunningComponent>): Promise<StartError> {
    const stuck = this.building ? [this.building] : [...notReady];
    const what = `${this.building ? 'its build() did not finish' : 'its `ready` did not resolve'} within shutdown_timeout (${timeoutMs} ms)`;
    this.stopInputs.abort();
    await this.handOver(new Set(this.adopted.map((c) => c.config.id)), timeoutMs);
    const first = stuck[0];
    const others = stuck.length > 1 ? ` (nor did that of ${stuck.slice(1).map((c) => JSON.stringify(c.config.id)).join(', ')})` : '';
    // Not logged here: the error names them, and is logged once by what started the pipeline (before, each
    // component was also said here, with the same words; a stop under way says it once more itself).
    return new StartError(first?.config.id ?? '?', `${what}${others}; given up on`, first?.config.kind ?? 'component', { timedOut: true });
  }

  /** `start()`'s work: builds (`building` says which it waits for), runs, and waits for the inputs' `ready`. */
  private async startStages(order: RunningComponent[], notReady: Set<RunningComponent>, building: (c: RunningComponent | undefined) => void): Promise<void> {
    const stages = new Map<string, unknown>();
    for (const c of order) {
      if (this.adopted.includes(c)) continue;
      c.logger.debug({ options: redactOptions(c.config) }, 'building component');
      building(c);
      try {
        stages.set(c.config.id, await this.build(c));
        // A stop during the build: nothing runs yet, and nothing more is built or run.
        if (this.stopInputs.signal.aborted) return;
      } catch (err) {
        // Nothing runs yet but the inputs adopted from a reload: held again, for the pipeline started instead.
        await this.handOver(new Set(this.adopted.map((a) => a.config.id)));
        throw new StartError(c.config.id, err, c.config.kind);
      } finally {
        building(undefined);
      }
    }
    // Inputs that can tell when they receive (network inputs listen) are waited for: a port that is taken
    // or an address that does not resolve is a start failure (exit 78), not a crash restarted forever
    // behind a healthy /health. Set up before they run, so that a run failing at once is known as one.
    const waits: Promise<void>[] = [];
    for (const c of order) {
      const ready = c.config.kind === 'input' && !this.adopted.includes(c) ? (stages.get(c.config.id) as InputStage).ready : undefined;
      if (!ready) continue;
      const failed = new Promise<never>((_, reject) => (c.starting = { fail: reject }));
      notReady.add(c);
      waits.push(
        Promise.race([ready, failed]).then(
          () => {
            c.starting = undefined;
            notReady.delete(c);
          },
          (err: unknown) => {
            throw new StartError(c.config.id, err, 'input');
          },
        ),
      );
    }
    // Consumers first, so that nothing is emitted into a component that is not reading yet.
    for (const c of order) {
      if (this.adopted.includes(c)) continue;
      const stage = stages.get(c.config.id);
      if (c.config.kind === 'output') c.done = this.runOutput(c, stage as OutputStage);
      else if (c.config.kind === 'transform') c.done = this.runTransform(c, stage as TransformStage);
      else c.done = this.runInput(c, stage as InputStage);
    }
    // An input's end through `untilEnded` (this pipeline's own), not its `done` (see `tellEnded`).
    const ends = new Map(order.filter((c) => c.config.kind === 'input').map((c) => [c, this.untilEnded(c)] as const));
    this.finished = Promise.all(order.map((c) => ends.get(c) ?? c.done)).then(() => undefined);
    this.inputsEnded = Promise.all(ends.values()).then(() => undefined);
    this.inputsEnded.catch(() => undefined); // a failure is `done`'s to tell
    // A stop while inputs are not ready yet ends the wait: what runs drains (a stop's work).
    const stopping = new Promise<void>((resolve) => this.stopInputs.signal.addEventListener('abort', () => resolve(), { once: true }));
    try {
      await Promise.race([Promise.all(waits), stopping]);
    } catch (err) {
      // Inputs adopted from a reload are held again, for the pipeline that is started instead.
      await this.handOver(new Set(this.adopted.map((c) => c.config.id)));
      throw err;
    }
  }

  /**
   * Components that crashed within the last `HEALTH_WINDOW_MS` (one restarted in a loop stays listed: its
   * backoff is shorter), that say they cannot do their job, or (transforms) failed on a batch within it: one
   * entry a component, listing each of these that is true of it (before, one in more than one trouble
   * showed its crash alone); and transforms whose `flush()` failed within it, here or at the reload this
   * pipeline came from. Empty when all is well; `/health` answers 503 while it is not.
   */
  health(now = Date.now()): ComponentTrouble[] {
    const out: ComponentTrouble[] = [];
    // The last failed flush of each transform.
    const flushes = new Map(this.recentFlushFailures(now).map((f) => [f.component, f]));
    const problem = (problem: ComponentProblem['problem'], since: number, error: string | undefined): ComponentProblem => ({ problem, last_error: error ?? '', seconds_ago: Math.round((now - since) / 1000) });
    const entry = (component: string, kind: string, restarts: number, problems: ComponentProblem[]): ComponentTrouble => ({ component, kind, last_error: problems[0]!.last_error, seconds_ago: problems[0]!.seconds_ago, restarts, problems });
    for (const c of this.components.values()) {
      const problems: ComponentProblem[] = [];
      if (recent(c.lastCrashAt, now)) problems.push(problem('crashed', c.lastCrashAt, c.lastError));
      if (c.failingSince !== undefined) problems.push(problem('failing', c.failingSince, c.failingReason));
      if (recent(c.lastFailedBatchAt, now)) problems.push(problem('failed_batch', c.lastFailedBatchAt, c.lastBatchError));
      const flushed = flushes.get(c.config.id);
      if (flushed) problems.push(problem('flush_failed', flushed.at, flushed.error));
      // Its restarts in the pipelines a reload replaced too, as /metrics counts them: a crash carried over said 0.
      if (problems.length) out.push(entry(c.config.id, c.config.kind, c.metrics.total('restarts_total'), problems));
    }
    // A transform a reload removed, whose flush failed at that reload: said as it was.
    for (const f of flushes.values()) {
      if (!this.components.has(f.component)) out.push(entry(f.component, f.kind, 0, [problem('flush_failed', f.at, f.error)]));
    }
    return out;
  }

  /**
   * Its components' crashes and failed batches within `HEALTH_WINDOW_MS` (those it carried from the pipeline it
   * replaced too), for the pipeline a reload builds next (`PipelineOptions.troubleBefore`). Before, a component
   * a reload rebuilt started with none: a crash 10 s before a SIGHUP vanished from `/health` with it.
   */
  recentTrouble(now = Date.now()): RecentTrouble[] {
    const out: RecentTrouble[] = [];
    for (const c of this.components.values()) {
      const crashed = recent(c.lastCrashAt, now);
      const failed = recent(c.lastFailedBatchAt, now);
      if (!crashed && !failed) continue;
      out.push({
        component: c.config.id,
        kind: c.config.kind,
        ...(crashed ? { crashedAt: c.lastCrashAt, crashError: c.lastError } : {}),
        ...(failed ? { failedBatchAt: c.lastFailedBatchAt, batchError: c.lastBatchError } : {}),
      });
    }
    return out;
  }

  /** The flushes that failed within `HEALTH_WINDOW_MS`, in this pipeline and the ones it replaced, oldest first. */
  recentFlushFailures(now = Date.now()): FlushFailure[] {
    return [...this.flushFailuresBefore, ...this.flushFailures].filter((f) => recent(f.at, now));
  }

  /** Resolves (or rejects) when input `c`'s run is over: told to the pipeline that owns it now, not to those before. */
  private untilEnded(c: RunningComponent): Promise<void> {
    if (c.endedWith !== undefined) return c.endedWith === null ? Promise.resolve() : Promise.reject(c.endedWith.err);
    return new Promise<void>((resolve, reject) => {
      c.tellEnded = (err?: unknown) => (err === undefined ? resolve() : reject(err));
    });
  }

  /**
   * Lets go of what a pipeline replaced by a reload still refers to (its components, their stages' state
   * through their metrics), once the next one runs: a suspended run of an input it handed over may keep the
   * pipeline object itself reachable for as long as that input runs.
   */
  dispose(): void {
    this.components.clear();
    this.adopted.length = 0;
  }

  /**
   * Stops, now, the inputs this pipeline is handing over to the next (a SIGTERM during the reload's drain):
   * they stop reading at once rather than after the drain, and what they hold is answered `abandoned`.
   */
  stopHandingOver(): void {
    this.handOverStopped = true;
    for (const c of this.components.values()) if (c.owner === this && c.handedOver) halt(c);
  }

  /**
   * Whether the stop under way hands component `id`'s state on (see `ComponentContext.succeeded`). Once a
   * stop came during the reload, no new pipeline starts: what it would have taken over waits for the next
   * start (undefined, as at a stop), which reads the new config; one the new config has no such component
   * for stays false (the next start, reading that config, has none either).
   */
  private succeeded(id: string): boolean | undefined {
    const next = this.successors?.has(id);
    return next && this.handOverStopped ? undefined : next;
  }

  /** Its components, but inputs handed over to the next pipeline by a reload (and since adopted by it). */
  private owned(): RunningComponent[] {
    return [...this.components.values()].filter((c) => c.owner === this && !c.handedOver);
  }

  /**
   * Graceful stop: inputs stop reading, in-flight events drain through transforms and outputs. Resolves
   * true when everything drained within the shutdown timeout, false when it had to give up.
   */
  async stop(timeoutMs = this.config.shutdownTimeoutMs): Promise<boolean> {
    if (this.startup && !this.startSettled) {
      // Stopped while starting: no more is built, and inputs not ready are not waited for; a build() under
      // way cannot be cut short, so it is waited for, within the timeout, before what runs drains.
      const since = performance.now();
      this.stopDeadline ??= since + timeoutMs;
      this.stopInputs.abort();
      let timer: NodeJS.Timeout | undefined;
      const settled = await Promise.race([
        this.startup.then(() => true, () => true),
        new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
      ]);
      clearTimeout(timer);
      if (!settled) {
        this.hardStop.abort();
        for (const c of this.adopted) halt(c);
        this.logger.error({ timeout_ms: timeoutMs, ...(this.building ? { component: this.building.config.id } : {}) }, `shutdown timeout reached while starting${this.building ? ': its build() had not finished' : ''}; exiting without it`);
        return false;
      }
      timeoutMs = Math.max(0, timeoutMs - (performance.now() - since));
      // Nothing was run: the inputs kept through a reload, which run still, are all there is to stop.
      if (!this.finished && this.adopted.length) return stopInputsNow(this.adopted, timeoutMs, 'stopped during a reload');
    }
    return this.stopHolding([], timeoutMs);
  }

  /**
   * A reload's stop: as `stop`, but the inputs in `keep` (unchanged in the new config) go on running. Their
   * sends are held (they wait) and the buffers they fed are let go, so that this pipeline drains; the
   * pipeline built with `adopt: held` takes them over. Resolves when this one has drained (or timed out).
   * `successors`: the components the next pipeline has too, by id (see `ComponentContext.succeeded`).
   */
  async handOver(keep: ReadonlySet<string>, timeoutMs = this.config.shutdownTimeoutMs, successors: ReadonlySet<string> = new Set()): Promise<{ drained: boolean; held: HeldInputs }> {
    this.successors = successors;
    const held = this.owned().filter((c) => c.config.kind === 'input' && keep.has(c.config.id) && c.endedWith === undefined);
    for (const c of held) c.handedOver = true;
    const abandonedBefore = held.map((c) => c.abandonedAcks);
    const drained = await this.stopHolding(held, timeoutMs);
    // An input some of whose events the drain abandoned (the timeout, an output that gave up) would never
    // offer them again while it runs (a file input's checkpoint would stay behind them): it is stopped, and
    // the next pipeline builds it anew, which reads them again, as a reload did before it kept inputs.
    const redo = held.filter((c, i) => c.abandonedAcks > abandonedBefore[i]! && !c.stopper!.signal.aborted);
    if (redo.length) {
      for (const c of redo) c.logger.warn('events this input sent were abandoned by the reload\'s drain: it is restarted (not kept running), so that it offers them again');
      await stopInputsNow(redo, timeoutMs, 'restarted by the reload');
    }
    return { drained, held: new HeldInputs(held.filter((c) => !redo.includes(c))) };
  }

  private async stopHolding(held: RunningComponent[], timeoutMs: number): Promise<boolean> {
    // Held first: nothing they send from now on goes into a buffer that is about to close.
    const detached = Promise.all(held.map((c) => c.fanout.hold()));
    if (!this.finished) {
      await detached;
      return true;
    }
    const stopping = this.owned();
    const abandonedBefore = this.abandonedEvents();
    this.stopDeadline ??= performance.now() + timeoutMs;
    this.stopInputs.abort();
    for (const c of stopping) c.stopper?.abort();
    let timer: NodeJS.Timeout | undefined;
    // Not unref'd: a component stuck on a promise that holds no handle leaves the event loop empty, and
    // the process would exit 0 at once, drained or not, saying nothing; this timer keeps it to the timeout.
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const finished = Promise.all([detached, ...stopping.map((c) => c.done)]);
    // The components the timeout finds still at work, named in its line (before, none was).
    const unfinished = new Set(stopping);
    for (const c of stopping) void c.done?.then(() => unfinished.delete(c), () => unfinished.delete(c));
    const drained = await Promise.race([finished.then(() => true), timedOut]);
    clearTimeout(timer);
    if (!drained) {
      // Counted before the hard stop: it empties the buffers (their batches are abandoned).
      let pending = 0;
      for (const c of stopping) pending += c.buffer?.stats.queuedEvents ?? 0;
      this.hardStop.abort();
      const waitingFor = [...unfinished].map((c) => c.config.id);
      this.logger.error({ timeout_ms: timeoutMs, queued_events: pending, ...(waitingFor.length ? { waiting_for: waitingFor } : {}) }, 'shutdown timeout reached before all events drained; unacknowledged events will be read again where the input supports it');
      // A flush() still running is one that failed: what it held back was acknowledged already, so no input offers it again.
      for (const c of stopping) {
        if (!c.flushing) continue;
        c.flushing.givenUp = true;
        this.flushFailed(c, new Error(`it had not returned when shutdown_timeout (${timeoutMs} ms) passed`), c.flushing.pending);
      }
      return false;
    }
    // Finished in time, but not everything reached its outputs: one gave up on some (a full on-disk queue
    // at the stop). Not a clean stop either: inputs that cannot offer them again (syslog) lost them.
    const abandoned = this.abandonedEvents() - abandonedBefore;
    if (abandoned > 0) this.logger.error({ abandoned_events: abandoned }, 'stopped before every event reached its outputs: some were abandoned (see abandoned_events_total); inputs that can offer them again will');
    // Said by each when it failed: this says that the stop is not a clean one (before, it said drained).
    const flushFailed = [...new Set(this.flushFailures.map((f) => f.component))];
    if (flushFailed.length) this.logger.error({ components: flushFailed }, 'stopped, but what transforms held back for their flush() was lost: it failed (see flush_failures_total)');
    return abandoned === 0 && flushFailed.length === 0;
  }

  /** Events transforms and outputs gave up on so far. */
  private abandonedEvents(): number {
    let n = 0;
    for (const c of this.components.values()) n += c.abandoned;
    return n;
  }

  private async runInput(c: RunningComponent, stage: InputStage): Promise<void> {
    // Set once the input has stopped for good: what it emits after that (a plugin's timer left running
    // through a reload) can go nowhere. It was dropped without a word; now it is counted and said, once.
    let stopped = false;
    let toldLate = false;
    let toldRefused = false;
    const base = {
      ...this.buildContext(c, c.stopper!.signal),
      emit: async (emitted: LogEvent[], onAck?: (status: AckStatus) => void): Promise<void> => {
        // What is not an event (a plugin's string, or a list of them) goes no further: it failed downstream,
        // blamed on an innocent stage (parse: "Cannot set properties of undefined"), or was written as it was.
        const { events, refused } = checkEmitted(emitted, c.config.id);
        if (refused) {
          c.metrics.add('rejected_events_total', refused.count);
          c.metrics.add('errors_total');
          if (!toldRefused) {
            toldRefused = true;
            c.logger.error({ refused: refused.count, reason: refused.reason }, 'input emitted something other than events; refused (counted in rejected_events_total): emit() takes an array of events (createEvent())');
          }
          if (events.length === 0) {
            onAck?.('rejected');
            return;
          }
          const ack = onAck;
          onAck = ack && ((status) => ack(status === 'delivered' || status === 'dropped' ? 'rejected' : status));
        }
        if (stopped) {
          c.metrics.add('discarded_events_total', events.length);
          if (!toldLate) {
            toldLate = true;
            c.logger.warn({ events: events.length }, 'input emitted events after it stopped; they are discarded (an input must stop emitting once ctx.signal is aborted)');
          }
          onAck?.('abandoned');
          return;
        }
        if (events.length === 0) {
          onAck?.('delivered');
          return;
        }
        const told = onAck && ((status: AckStatus) => {
          if (status === 'abandoned') c.abandonedAcks += 1;
          onAck(status);
        });
        const sent = await c.fanout.send({ events, finalizers: told ? [new Finalizer(told)] : [] });
        // Counted once in the buffers (a full one makes send wait): not while they wait for room. Not sent:
        // the daemon stopped while a reload held them (answered `abandoned`).
        c.metrics.add(sent ? 'sent_events_total' : 'discarded_events_total', events.length);
      },
    };
    const startedAt = Date.now();
    try {
      await this.supervise(c, async (attempt) => {
        // Rebuilt after a crash by the pipeline it belongs to now (one that a reload handed it over to).
        const current = attempt === 0 ? stage : await c.owner.build<InputStage>(c);
        // Each run gets a signal of its own, aborted with the input's stop: what a run that crashed left
        // listening on it goes with it, instead of piling up on the signal its stop has.
        const run = new AbortController();
        const stop = () => run.abort();
        const stopper = c.stopper!.signal;
        stopper.addEventListener('abort', stop, { once: true });
        if (stopper.aborted) run.abort();
        try {
          // A rebuilt input's `ready` (start() waits for the first's) rejecting is this run's failure: a crash,
          // restarted. Unobserved, it was an unhandled rejection, and the daemon exited 70.
          const unready = attempt > 0 && current.ready ? Promise.resolve(current.ready).then(() => new Promise<never>(() => undefined)) : undefined;
          const running = current.run({ ...base, signal: run.signal });
          await (unready ? Promise.race([running, unready]) : running);
        } finally {
          stopper.removeEventListener('abort', stop);
          // Whatever the run left listening (a server, a timer waiting for the stop) hears it now: a crashed
          // run is over, and its restart gets a signal of its own.
          run.abort();
        }
      }, () => c.stopper!.signal.aborted);
      // Said: one of several inputs (a plugin's whose run() returned at once, its server left to itself)
      // stopped receiving without a word, /health ok; stdin at its end says so too.
      if (!c.stopper!.signal.aborted && c.starting === undefined) {
        c.logger.info({ ran_ms: Date.now() - startedAt }, 'input ended by itself (its run() returned before any stop): it receives no more; once every input has ended, the pipeline drains and the daemon exits');
      }
    } catch (err) {
      c.endedWith = { err };
      throw err;
    } finally {
      stopped = true;
      c.endedWith ??= null;
      c.tellEnded?.(c.endedWith === null ? undefined : c.endedWith.err);
      c.tellEnded = undefined;
      c.fanout.close();
      c.logger.debug('input finished');
    }
  }

  private async runTransform(c: RunningComponent, stage: TransformStage): Promise<void> {
    const buffer = c.buffer!;
    // The instance that ran last: a restarted stream transform's is the one to flush, not the crashed one.
    let current = stage;
    try {
      if (stage.stream) {
        // A stream transform may hold batches (to aggregate) before it emits them. Each batch goes in under
        // a finalizer of its own that completes the batch's real ones; the batches whose finalizer it neither
        // emitted nor released when it crashed are fed again to the restarted instance (as an output's are),
        // or, if it is not restarted, abandoned, so that their inputs are not left waiting.
        const held = new Map<Finalizer, Batch>();
        const redeliver: Batch[] = [];
        const wrap = (b: Batch): Batch => {
          // Completed (emitted and delivered, or released by a transform that filters), it is held no more.
          // The callback keeps the batch's finalizers, not the batch: a transform that emits a few of its
          // events (anomaly_detect) hands on this finalizer, and an output that holds those for a while (Slack
          // grouping for a minute, a receiver down) would keep every event of the batch alive with it.
          const upstream = b.finalizers;
          const own: Finalizer = new Finalizer((status) => {
            held.delete(own);
            releaseAll(upstream, status);
          });
          held.set(own, b);
          return { events: b.events, finalizers: [own], bytes: b.bytes };
        };
        // A completed wrapper has left `held` already: what is there is what the transform still holds.
        const takeBack = (): Batch[] => {
          const left = [...held.values()];
          held.clear();
          return left;
        };
        // The batch last fed, until the transform asks for the next one: a throw meanwhile is a failure on
        // it. `suspect`: the one it had in hand at the crash before (fed again once); `thrown`: what it threw.
        let inHand: { wrapped: Batch; batch: Batch } | undefined;
        let suspect: Batch | undefined;
        let thrown: unknown;
        const feed = async function* (source: AsyncIterable<Batch>): AsyncIterable<Batch> {
          // All wrapped (held) at once: a second crash while they are fed again must find every one.
          const again = redeliver.splice(0).map((batch) => ({ wrapped: wrap(batch), batch }));
          for (const fed of again) {
            inHand = fed;
            yield fed.wrapped;
            inHand = undefined;
          }
          for await (const batch of source) {
            inHand = { wrapped: wrap(batch), batch };
            yield inHand.wrapped;
            inHand = undefined;
          }
        };
        await this.supervise(c, async (attempt) => {
          if (attempt > 0) {
            // A batch it crashed on twice in a row is the batch's fault, not a passing one's: fed a third time
            // it would crash it again, and again, the pipeline held up behind it. Its `on_error` applies instead.
            const failed = inHand && held.has(inHand.wrapped.finalizers[0]!) ? inHand : undefined;
            inHand = undefined;
            suspect = failed && failed.batch !== suspect ? failed.batch : undefined;
            if (failed && suspect === undefined) {
              const passed = this.failedOn(c, failed.wrapped, thrown, true);
              if (passed) {
                held.delete(passed.finalizers[0]!);
                c.metrics.add('sent_events_total', passed.events.length);
                await c.fanout.send(passed);
              }
            }
            redeliver.push(...takeBack());
            current = await this.build<TransformStage>(c);
          }
          try {
            for await (const yielded of current.stream!(feed(this.counted(c, buffer)))) {
              const out = checkYielded(yielded, c.config.id);
              for (const f of out.finalizers) held.delete(f);
              c.metrics.add('sent_events_total', out.events.length);
              await c.fanout.send(out);
            }
            this.endedEarly(c, buffer, 'stream()');
          } catch (err) {
            thrown = err;
            throw err;
          }
        }, () => finishedWith(buffer, held.size + redeliver.length), () => buffer.closed);
        const left = [...redeliver.splice(0), ...takeBack()];
        c.abandoned += left.reduce((n, b) => n + b.events.length, 0);
        for (const b of left) releaseAll(b.finalizers, 'abandoned');
      } else {
        const map = stage.map?.bind(stage) ?? ((events: LogEvent[]) => events);
        for await (const batch of this.counted(c, buffer)) {
          let out: LogEvent[];
          try {
            out = checkMapped(await map(batch.events), 'map()', c.config.id);
          } catch (err) {
            const passed = this.failedOn(c, batch, err);
            if (!passed) continue;
            out = passed.events;
          }
          if (out.length === 0) {
            releaseAll(batch.finalizers);
            continue;
          }
          c.metrics.add('sent_events_total', out.length);
          await c.fanout.send({ events: out, finalizers: batch.finalizers, bytes: carriedBytes(batch, out) });
        }
      }
      if (current.flush) {
        const flushing = { pending: pendingOf(current), givenUp: false };
        c.flushing = flushing;
        let rest: LogEvent[] = [];
        try {
          rest = checkMapped(await current.flush(), 'flush()', c.config.id);
        } catch (err) {
          if (!flushing.givenUp) this.flushFailed(c, err, flushing.pending);
        } finally {
          // Its flush() is over: a send that waits for room below is the output's delay, not the flush's failure.
          c.flushing = undefined;
        }
        if (rest.length && !flushing.givenUp) {
          c.metrics.add('sent_events_total', rest.length);
          await c.fanout.send({ events: rest, finalizers: [] });
        }
      }
    } finally {
      c.fanout.close();
    }
  }

  /**
   * A transform's `flush()` that failed: what it held back for it is lost, whatever its `on_error` (there is no
   * batch to pass on or drop, and its inputs were told those events were delivered when they went in). Counted
   * (`flush_failures_total`; the events, when it says how many it held, `pending`, in `abandoned_events_total`),
   * logged, on `/health` for `HEALTH_WINDOW_MS` (also after the reload it failed at), and the stop under way is
   * not a clean one (exit 1). Before, it was logged and counted in `errors_total` alone: the stop said drained.
   */
  private flushFailed(c: RunningComponent, err: unknown, pending: number | undefined): void {
    c.metrics.add('errors_total');
    c.metrics.add('flush_failures_total');
    if (pending !== undefined) c.flushLost += pending;
    const lost = pending === undefined ? 'what it held back is lost (how many events, it does not say: see pending() under Plugins)'
      : pending === 0 ? 'it held back no events, none is lost'
      : pending === 1 ? 'the 1 event it held back is lost' : `the ${pending} events it held back are lost`;
    c.owner.flushFailures.push({ component: c.config.id, kind: c.config.kind, at: Date.now(), error: `flush() failed, ${lost}: ${err instanceof Error ? err.message : String(err)}` });
    c.logger.error({ err, ...(pending !== undefined ? { lost_events: pending } : {}) }, `transform's flush() failed: ${lost}`);
  }

  /**
   * Applies a transform's `on_error` to a batch it failed on, told and counted (`batchFailed`; `crashed`: a
   * stream() whose throw counted as its crash already). `pass` (fail open) gives the batch back, for its
   * events to go on rather than be lost: as the transform left them, not copied before (a copy of each batch
   * cost 15% of the CPU of parse -> anomaly_detect). `drop` (fail closed: redact's default, which must not
   * send on what it could not clean) answers it `dropped`, so that its input moves on (a file input
   * checkpoints past it: `abandoned` would hold its checkpoint there, to read it again, and fail again, at
   * every start), and gives undefined.
   */
  private failedOn(c: RunningComponent, batch: Batch, err: unknown, crashed = false): Batch | undefined {
    const drop = onErrorOf(c.config) === 'drop';
    this.batchFailed(c, err, batch.events.length, drop, crashed);
    if (!drop) return batch;
    releaseAll(batch.finalizers, 'dropped');
    return undefined;
  }

  /**
   * Counts and tells a batch transform `c` failed on (`dropped`: its events go no further): on /health for a
   * minute, logged with the error at the first failure and then at most every `BATCH_ERROR_LOG_MS`.
   */
  private batchFailed(c: RunningComponent, err: unknown, events: number, dropped: boolean, counted = false): void {
    if (!counted) c.metrics.add('errors_total');
    c.metrics.add('failed_events_total', events, { outcome: dropped ? 'dropped' : 'passed' });
    const now = Date.now();
    const what = dropped ? 'its events dropped (on_error: drop)' : 'its events passed on as the transform left them';
    c.lastFailedBatchAt = now;
    c.lastBatchError = `failed on a batch, ${what}: ${err instanceof Error ? err.message : String(err)}`;
    if (c.batchErrorLoggedAt !== undefined && now - c.batchErrorLoggedAt < BATCH_ERROR_LOG_MS) {
      c.batchErrorsUnlogged = (c.batchErrorsUnlogged ?? 0) + 1;
      return;
    }
    const unlogged = c.batchErrorsUnlogged ?? 0;
    c.batchErrorLoggedAt = now;
    c.batchErrorsUnlogged = 0;
    const fields = { err, events, ...(unlogged > 0 ? { unlogged_failures: unlogged } : {}) };
    c.logger.error(fields, dropped ? 'transform failed on a batch; dropped its events (on_error: drop)' : 'transform failed on a batch; passing its events on as it left them');
  }

  private async *counted(c: RunningComponent, buffer: BatchBuffer): AsyncIterable<Batch> {
    for await (const batch of buffer) {
      c.metrics.add('received_events_total', batch.events.length);
      yield batch;
    }
  }

  /**
   * Runs an output. Each batch is handed over wrapped in a local finalizer, so that the engine knows which
   * batches the output has not finished; if the output crashes, those are handed to its restarted
   * instance first (at-least-once), and nothing it held is lost.
   */
  private async runOutput(c: RunningComponent, stage: OutputStage): Promise<void> {
    const buffer = c.buffer!;
    const outstanding = new Set<Batch>();
    const wrap = (batch: Batch): Batch => {
      const { events, finalizers: upstream } = batch;
      const local: Batch = {
        events,
        finalizers: [
          new Finalizer((status) => {
            outstanding.delete(local);
            if (status === 'delivered') c.metrics.add('sent_events_total', events.length);
            else if (status === 'rejected') c.metrics.add('rejected_events_total', events.length);
            // The output gave up on them (the engine, at the hard stop below; or the output itself: a
            // webhook whose on-disk queue is full when the stop comes): counted, and the stop did not drain.
            else if (status === 'abandoned') c.abandoned += events.length;
            releaseAll(upstream, status);
          }),
        ],
      };
      outstanding.add(local);
      return local;
    };
    const metrics = c.metrics;
    const feed = (redeliver: Batch[]): Batches => {
      // Shared by the iteration and takeQueued(): the batches to redeliver come first, in order, either way.
      let next = 0;
      const received = (batch: Batch): Batch => {
        metrics.add('received_events_total', batch.events.length);
        return wrap(batch);
      };
      const iterate = async function* (): AsyncIterable<Batch> {
        while (next < redeliver.length) yield redeliver[next++]!;
        for await (const batch of buffer) yield received(batch);
      };
      return {
        [Symbol.asyncIterator]: () => iterate()[Symbol.asyncIterator](),
        takeQueued: () => {
          if (next < redeliver.length) return redeliver[next++];
          const batch = buffer.takeQueued();
          return batch && received(batch);
        },
      };
    };
    const ctx = this.buildContext(c, this.hardStop.signal);
    // At the hard stop (shutdown timeout) the inputs hear at once about every batch this output still
    // holds or has queued: abandoned, whether or not the output ever returns from a hung write.
    const abandon = () => {
      buffer.seal(); // senders still waiting for room are answered `abandoned` by the buffer
      for (const b of outstanding) ackBatch(b, 'abandoned'); // counted by its finalizer (wrap)
      for (const b of buffer.drainQueued()) {
        c.abandoned += b.events.length;
        releaseAll(b.finalizers, 'abandoned');
      }
    };
    this.hardStop.signal.addEventListener('abort', abandon, { once: true });
    try {
      await this.supervise(c, async (attempt) => {
        const current = attempt === 0 ? stage : await this.build<OutputStage>(c);
        const redeliver = [...outstanding].filter((b) => !b.finalizers[0]!.done);
        if (redeliver.length) c.logger.warn({ batches: redeliver.length }, 'redelivering batches the crashed output had not acknowledged');
        await current.consume(feed(redeliver), ctx);
        this.endedEarly(c, buffer, 'consume()');
      }, () => finishedWith(buffer, outstanding.size), () => buffer.closed);
    } finally {
      // An output that returned without acknowledging some batches must not leave its inputs waiting
      // forever: those batches are abandoned too (inputs may offer them again).
      this.hardStop.signal.removeEventListener('abort', abandon);
      abandon();
      buffer.seal();
    }
  }

  /**
   * Throws when a stream transform's `stream()` or an output's `consume()` returned while its input goes on
   * (its buffer is open, or still holds batches), but for the hard stop: what came after would wait in its
   * buffer for ever, never answered (a stream transform's, the stop then said `drained`), or be answered
   * `abandoned` without a word (an output's), while `/health` said ok. A crash, it is said, counted and
   * restarted, as when it throws.
   */
  private endedEarly(c: RunningComponent, buffer: BatchBuffer, what: string): void {
    if ((buffer.closed && buffer.stats.queuedEvents === 0) || c.owner.hardStop.signal.aborted) return;
    throw new Error(`${what} returned before its input ended (${buffer.closed ? `${buffer.stats.queuedEvents} events still queued` : 'its input goes on'}): it must read its batches until they end`);
  }

  /**
   * Runs a component's main loop; if it throws, logs and counts the crash and restarts it with backoff,
   * unless the pipeline is stopping. A component is never lost silently. `inputEnded` (a transform's or
   * output's buffer closed: its inputs ended, or a drain) bounds the restarts: after `RESTARTS_AFTER_END`
   * crashes in a row since then it is given up on (said, and listed in `gaveUp`).
   */
  private async supervise(c: RunningComponent, body: (attempt: number) => Promise<void>, finished: () => boolean, inputEnded: () => boolean = () => false): Promise<void> {
    // The restart backoff grows with crashes in a row; one that ran for a minute before crashing starts it over.
    let step = 0;
    let crashesAfterEnd = 0;
    for (let attempt = 0; ; attempt++) {
      const startedAt = Date.now();
      try {
        await body(attempt);
        return;
      } catch (err) {
        if (Date.now() - startedAt >= HEALTHY_RUN_MS) step = 0;
        c.metrics.add('errors_total');
        if (c.starting) {
          // It never received (its port is taken, its address does not resolve): start() fails with this, and
          // the daemon exits 78. Said as a restart, it read as a crash of a running input. Not logged here:
          // the StartError naming it is, once, by what started the pipeline (before, it was said twice).
          c.starting.fail(err);
          return;
        }
        // The pipeline it belongs to now: an input kept through a reload moved to the next one.
        const owner = c.owner;
        if (finished() || owner.hardStop.signal.aborted) {
          c.logger.error({ err }, `${c.config.kind} failed while stopping`);
          return;
        }
        c.lastCrashAt = Date.now();
        c.lastError = err instanceof Error ? err.message : String(err);
        if (inputEnded() && ++crashesAfterEnd >= RESTARTS_AFTER_END) {
          owner.gaveUp.push(c.config.id);
          c.logger.error({ err, crashes: crashesAfterEnd }, `${c.config.kind} crashed ${crashesAfterEnd} times in a row after its input ended; giving up on it: the events it holds are abandoned`);
          return;
        }
        const backoff = owner.restartBackoffMs;
        const delay = backoff[Math.min(step++, backoff.length - 1)]!;
        c.metrics.add('restarts_total');
        c.logger.error({ err, restart_in_ms: delay, attempt: attempt + 1 }, `${c.config.kind} crashed; restarting`);
        const stopping = c.stopper?.signal ?? owner.stopInputs.signal;
        await sleep(delay, stopping);
        if (c.config.kind === 'input' && stopping.aborted) return;
      }
    }
  }
}

/**
 * How many events a transform says it holds back for its `flush()` (`pending()`), or undefined when it does
 * not say (or what it says is no count: a plugin's bug is not to hide the failed flush it is asked for).
 */
function pendingOf(stage: TransformStage): number | undefined {
  try {
    const n: unknown = stage.pending?.();
    return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether a transform or output that crashed was done with its work, so that it is not restarted (it failed
 * while stopping): its buffer is closed and empty *and* it holds none of the batches it took (`holding`:
 * an output's unacknowledged ones, a stream transform's neither emitted nor released, or waiting to be fed
 * again). One that crashed holding some once its buffer had closed and emptied (stdin at its end, a drain
 * at shutdown; an output that took the last batches with takeQueued(), a stream transform that aggregates)
 * is restarted to get them again: taken for one that failed while stopping, their batches were abandoned.
 */
function finishedWith(buffer: BatchBuffer, holding: number): boolean {
  return buffer.closed && buffer.stats.queuedEvents === 0 && holding === 0;
}

function rank(c: RunningComponent): number {
  return c.config.kind === 'output' ? 0 : c.config.kind === 'transform' ? 1 : 2;
}

function count(list: RunningComponent[], kind: string): number {
  return list.filter((c) => c.config.kind === kind).length;
}

/** An input's stop: its runs, connections and timers each listen on it (Node warns past 10 listeners). */
function unlimited(controller: AbortController): AbortController {
  setMaxListeners(0, controller.signal);
  return controller;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * A component could not start (its build threw, or an input's `ready` rejected; `cause`, the error), or was
 * given up on (`cause`, a reason in words: not kept as a cause, it would repeat the message): names it and
 * says why.
 */
export class StartError extends Error {
  /** Given up on after the start's timeout (see `Pipeline.start`): a stop under way says that itself. */
  declare readonly timedOut: boolean;
  /** The component that failed: logged beside the error as `component`, as components' own lines name it. */
  declare readonly componentId: string;

  constructor(componentId: string, cause: unknown, kind: string, options: { timedOut?: boolean } = {}) {
    super(`${kind} ${JSON.stringify(componentId)} cannot start: ${cause instanceof Error ? cause.message : String(cause)}`, typeof cause === 'string' ? {} : { cause });
    this.name = 'StartError';
    // Not enumerable: not fields of the error as the log shows it (before, `componentId` was, inside `err`,
    // beside the line's own `component`: one id under two names).
    Object.defineProperty(this, 'timedOut', { value: options.timedOut === true });
    Object.defineProperty(this, 'componentId', { value: componentId });
  }
}
