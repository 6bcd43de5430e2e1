/**
 * `driftlock run`: load the config, start the pipeline, and stop it gracefully on SIGTERM/SIGINT (a second
 * signal exits at once). SIGHUP reloads the config: what can be checked of the new config while the running
 * pipeline runs is checked first (it loads; its TLS files are read and go together), and a failure there
 * leaves the running pipeline as it is, as does a config that is the running one (nothing to rebuild) or
 * that differs from it only in log_level (the logger's level is set in place).
 * Then the running pipeline drains and stops, and one built from the
 * new config starts on the same data_dir (checkpoints and queues carry over); if that one cannot start (a
 * port still taken), the previous config starts again, with the TLS material it had loaded. Returns the
 * process exit code.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Server } from 'node:http';
import { startApiServer, type ReloadStatus } from '../api/server.js';
import { createRegistry } from '../components.js';
import { ConfigError, configErrorText, formatIssue } from '../config/errors.js';
import { loadConfigFile, secretsOf, type ComponentConfig, type LOG_LEVELS, type PipelineConfig } from '../config/load.js';
import { HeldInputs, Pipeline, StartError } from '../engine/pipeline.js';
import { Taps } from '../engine/tap.js';
import { acceptWatch } from '../engine/descriptors.js';
import { lockDataDir, LockWaitStopped } from '../engine/data-dir-lock.js';
import { EXIT_GRACE_MS, exitLogger } from './exit.js';
import { listenFailure } from '../inputs/net/address.js';
import { TlsMaterials, tlsProblemsOf, tlsSettingsOf } from '../inputs/net/tls.js';
import { createLogger, prettyByDefault, SecretMask } from '../logging.js';
import type { Logger } from 'pino';
import { isDeepStrictEqual } from 'node:util';

export interface RunOptions {
  configFile: string;
  /** The environment variable that named `configFile` (DRIFTLOCK_CONFIG), said when it does not load. */
  configFrom?: string;
  logLevel?: (typeof LOG_LEVELS)[number];
}

type State = 'starting' | 'running' | 'reloading' | 'stopping';

/**
 * What the daemon is doing, and its signals from the very start: a SIGTERM or SIGINT while it waits for the
 * data_dir lock or while components build is a stop (before, the default action ended it with 143, nothing
 * drained nor said), and a SIGHUP then (logrotate's postrotate) must not end it either: it is a reload once
 * the pipeline runs.
 */
class Lifecycle {
  state: State = 'starting';
  logger?: Logger;
  /** Open taps (`GET /tap`) watch whichever pipeline runs: they go on through reloads. */
  readonly taps = new Taps();
  private running?: Pipeline;

  /** The pipeline that runs (another after a reload: the open taps hear which producers they watch now). */
  get pipeline(): Pipeline | undefined {
    return this.running;
  }

  set pipeline(p: Pipeline | undefined) {
    const replaced = this.running !== undefined && this.running !== p;
    this.running = p;
    if (replaced) this.taps.producersChanged(this.producers());
  }

  /** The ids of the running pipeline's inputs and transforms: what a tap can watch. */
  producers(): string[] {
    return this.running?.config.components.filter((c) => c.kind !== 'output').map((c) => c.id) ?? [];
  }
  /** Aborted by the first SIGTERM or SIGINT. */
  readonly stopping = new AbortController();
  /** Set by the run loop once the pipeline runs: what a stop or a SIGHUP does then. */
  onStop?: (signal: NodeJS.Signals) => void;
  onHangUp?: () => void;
  /** Once the pipeline has stopped, signals are ignored until the process exits (after the lock is let go): their default action would kill a daemon that stopped cleanly (exit 129 or 143 instead of 0). */
  finished = false;
  /** Reloads (SIGHUP) that took effect and that did not, and the last one's failure: /metrics and /health say them. */
  readonly reloads: ReloadStatus = { succeeded: 0, failed: 0 };
  /** A SIGHUP came before the pipeline ran: the config is read again once it runs. */
  hangUpWhileStarting = false;
  private signals = 0;

  constructor() {
    process.on('SIGTERM', this.signal);
    process.on('SIGINT', this.signal);
    process.on('SIGHUP', this.hangUp);
    // Meaningless to driftlock, but not harmless by default: SIGUSR1 starts Node's inspector on
    // 127.0.0.1:9229 (any local user could then run code as the daemon: read its secrets, its logs), and
    // SIGUSR2 ends it without a drain. A `kill -USR1` copied from another daemon's logrotate is ignored.
    process.on('SIGUSR1', this.ignore);
    process.on('SIGUSR2', this.ignore);
  }

  private readonly ignore = (signal: NodeJS.Signals) => {
    this.say('warn', { signal }, `${signal} ignored: driftlock has nothing to reopen (SIGHUP reloads the config, SIGTERM stops)`);
  };

  /**
   * Counts a reload: one that took effect (no `failure`), or one that did not (the previous config goes on),
   * with its `problems` when there are several. /health shows the failure in one line: a message of several
   * lines (a config's problems, an error from a plugin's build()) was one JSON string with `\n`s in it, which
   * monitoring tools show escaped or cut at the first line.
   */
  reloaded(failure?: string, problems?: string[]): void {
    if (failure === undefined) {
      this.reloads.succeeded += 1;
      delete this.reloads.lastFailure;
    } else {
      this.reloads.failed += 1;
      this.reloads.lastFailure = { at: new Date().toISOString(), error: oneLine(failure), ...(problems?.length ? { problems: problems.map(oneLine) } : {}) };
    }
  }

  private say(level: 'info' | 'warn', fields: object, message: string): void {
    if (this.logger) this.logger[level](fields, message);
    else process.stderr.write(`driftlock: ${message}\n`);
  }

  private readonly signal = (signal: NodeJS.Signals) => {
    if (this.finished) return;
    this.signals += 1;
    if (this.signals > 1) {
      this.say('warn', { signal }, 'second signal: exiting now without draining');
      process.exit(130);
    }
    if (this.onStop) this.onStop(signal);
    else this.say('info', { signal }, `${signal} while starting: stopping (send the signal again to exit at once)`);
    this.stopping.abort();
  };

  private readonly hangUp = () => {
    if (this.finished) return;
    if (this.onHangUp) this.onHangUp();
    else if (!this.hangUpWhileStarting) {
      // The file may have changed since it was read (a `systemctl reload` right after a start, a config
      // tool that writes then reloads): ignored, that change never ran, and nothing said so but a warning.
      this.hangUpWhileStarting = true;
      this.say('warn', {}, 'SIGHUP while starting: the config will be read again once the pipeline runs');
    }
  };
}

export async function runDaemon(options: RunOptions): Promise<number> {
  const life = new Lifecycle();
  let config: PipelineConfig;
  try {
    config = await loadConfigFile(options.configFile, createRegistry());
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(configErrorText(err, options.configFrom));
      return 78;
    }
    throw err;
  }
  const secrets = new SecretMask(secretsOf(config));
  const logger = createLogger({ level: options.logLevel ?? config.logLevel, secrets });
  life.logger = logger;
  exitLogger(logger);
  // Out of file descriptors while listening: said once, in the daemon's log, with what holds them.
  acceptWatch.logger = logger;
  acceptWatch.otherHolders = () => (life.pipeline?.metrics() ?? []).filter((m) => m.type === 'file' && m.kind === 'input').map((m) => `file input "${m.id}": ${m.get('files_open')} files`);
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception; exiting');
    process.exit(70);
  });
  process.on('unhandledRejection', (err) => {
    logger.fatal({ err }, 'unhandled promise rejection; exiting');
    process.exit(70);
  });
  if (life.stopping.signal.aborted) return stoppedWhileStarting(life, logger);

  // The API answers from the start, while the daemon waits for a held lock too: /livez 200 (a liveness
  // probe must not kill a daemon that waits for a killed one's lock to go stale), /health 503 starting.
  // One that cannot listen yet (a daemon on the same data_dir and port) is tried again once the lock is
  // taken, so that a second daemon is told the data_dir is in use, not that the port is.
  let api: Server | undefined;
  let apiError: unknown;
  const startApi = () => startApiServer({ address: config.api.address, logger, metrics: () => life.pipeline?.metrics() ?? [], state: () => life.state, trouble: () => [...(life.pipeline?.health() ?? []), ...acceptWatch.trouble()], reloads: () => life.reloads, mask: secrets.mask,
    tap: { taps: life.taps, producers: () => life.producers() } });
  if (config.api.enabled) api = await startApi().catch((err: unknown) => void (apiError = err));

  let unlock: () => Promise<void>;
  try {
    // Named as the config's own errors name it (the file as given, line, column).
    const setAt = config.dataDirAt ? `${options.configFile}:${config.dataDirAt.line}:${config.dataDirAt.column}` : `the default; ${options.configFile} sets none`;
    unlock = await lockDataDir(config.dataDir, logger, setAt, life.stopping.signal);
  } catch (err) {
    api?.close();
    if (err instanceof LockWaitStopped) return stoppedWhileStarting(life, logger);
    sayFailure(logger, secrets, { err, data_dir: config.dataDir }, 'cannot start: data_dir', (err as Error).message);
    return 78;
  }
  try {
    if (config.api.enabled && !api) {
      try {
        api = await startApi();
      } catch (err) {
        const cause = apiError ?? err;
        // Logged in the same words as the line (the system's error as its cause), as an input's is.
        const failed = new Error(`the API cannot listen on ${config.api.address}: ${listenFailure(cause, 'api.address')}`, { cause });
        sayFailure(logger, secrets, { err: failed }, 'cannot start the pipeline', `cannot start: ${failed.message}`);
        return 78;
      }
    }
    return await runLocked(config, logger, options, secrets, life);
  } finally {
    api?.close();
    // Not for ever: on a hung mount, the exit that follows says so and ends the process (see exit.ts).
    await Promise.race([unlock().catch(() => undefined), delay(EXIT_GRACE_MS, undefined, { ref: false })]);
  }
}

/**
 * A failure that ends the daemon, said to the log (`fields`, `msg`) and in a line to a person (`line`, after
 * `driftlock: `). As JSON lines (a service manager, a pipe), both: the JSON line for what collects the log,
 * the line for whoever reads it. On a terminal, where the log is for a person too, the line alone: before,
 * the log line (its error's message in full, and its cause) and then the line said it twice, one under the
 * other.
 */
function sayFailure(logger: Logger, secrets: SecretMask, fields: object, msg: string, line: string, level: 'error' | 'fatal' = 'error'): void {
  if (!prettyByDefault()) logger[level](fields, msg);
  process.stderr.write(secrets.mask(`driftlock: ${line}\n`));
}

/** The system calls of a listen that failed: the port (listen, UDP's bind) or the host (getaddrinfo). */
const LISTEN_CALLS = new Set(['listen', 'bind', 'getaddrinfo']);

/**
 * What a pipeline's failed start is logged with, once (the component that failed: `component`, as the
 * components' own log lines name it; before, a listen that failed was logged by the input and again around
 * it), and, for a listen that failed, where `configFile` sets that address (`config_at`, `file:line:column`,
 * as config errors say it; `where`: the same, for the line on stderr).
 */
function startFailure(err: unknown, config: PipelineConfig, configFile: string): { fields: { component?: string; config_at?: string }; where: string } {
  if (!(err instanceof StartError)) return { fields: {}, where: '' };
  const set = config.listenAt[err.componentId];
  let listen = false;
  for (let e: unknown = err; e instanceof Error && !listen; e = e.cause) listen = LISTEN_CALLS.has(String((e as NodeJS.ErrnoException).syscall));
  if (!set || !listen) return { fields: { component: err.componentId }, where: '' };
  const at = `${configFile}:${set.line}:${set.column}`;
  return { fields: { component: err.componentId, config_at: at }, where: `; ${set.key} set at ${at}` };
}

/** A stop that came before anything ran: nothing to drain. */
function stoppedWhileStarting(life: Lifecycle, logger: Logger): number {
  life.finished = true;
  logger.info({ drained: true }, 'stopped before the pipeline started');
  return 0;
}

type Wake = { why: 'done' } | { why: 'failed'; err: unknown } | { why: 'stop' } | { why: 'reload' };

async function runLocked(first: PipelineConfig, logger: Logger, options: RunOptions, secrets: SecretMask, life: Lifecycle): Promise<number> {
  let config = first;
  let pipeline = new Pipeline(config, { logger, taps: life.taps });
  life.pipeline = pipeline;
  // The TLS certificates and keys the running pipeline was built with, read once: its components rebuilt
  // after a crash, and the previous config started again after a failed reload, use them, not the files,
  // which may have changed since (a renewal half done).
  let tlsMaterials = new TlsMaterials();
  // Counters of the pipelines a reload replaced: the summary at exit covers the whole run.
  const carried: Summary = {};
  let stopped: Promise<boolean> | null = null;
  let stopRequested = false;
  /** Every input ended by itself: the drain that follows is a stop's, with its deadline. */
  let inputsFinished = false;
  let wake: (w: Wake) => void = () => undefined;
  const next = () => new Promise<Wake>((resolve) => (wake = resolve));
  const onSignal = (signal: NodeJS.Signals) => {
    if (inputsFinished) {
      // Every input had ended: the drain under way is already a stop's, with its deadline. Before, it was
      // announced again ('stopping: draining in-flight events') and run a second time, which said its end
      // twice ('shutdown timeout reached...', then 'stopped before every event reached its outputs...').
      logger.info({ signal, timeout_ms: config.shutdownTimeoutMs }, `${signal}: the drain under way (every input has ended) goes on, within shutdown_timeout (send the signal again to exit at once)`);
      stopRequested = true;
      return;
    }
    const starting = life.state === 'starting' ? ' (while starting: nothing more is started, a build() under way is waited for within the timeout)' : '';
    logger.info({ signal, timeout_ms: config.shutdownTimeoutMs }, `stopping: draining in-flight events${starting} (send the signal again to exit at once)`);
    // During a reload, the reload stops what runs when it can (the drain under way); the inputs it holds
    // stop reading now (what they hold is not delivered), not when the drain is over.
    if (life.state !== 'reloading') stopped = pipeline.stop();
    else pipeline.stopHandingOver();
    life.state = 'stopping';
    stopRequested = true;
    wake({ why: 'stop' });
  };
  /**
   * Starts `p`, or gives up waiting for it at a stop (a build() under way may never end): 'stopped' then,
   * and the stop (Pipeline.stop) is what waits for it, within the shutdown timeout. With `timeoutMs`, a
   * start not done by then fails (a StartError naming the component: see Pipeline.start).
   */
  const startUnlessStopped = async (p: Pipeline, tls: TlsMaterials, timeoutMs?: number): Promise<'started' | 'stopped'> => {
    const starting = tls.use(() => p.start(timeoutMs === undefined ? {} : { timeoutMs }));
    let onStop: (() => void) | undefined;
    const stop = new Promise<'stopped'>((resolve) => {
      if (life.stopping.signal.aborted) resolve('stopped');
      else life.stopping.signal.addEventListener('abort', (onStop = () => resolve('stopped')), { once: true });
    });
    try {
      return await Promise.race([starting.then(() => 'started' as const), stop]);
    } catch (err) {
      if (!stopRequested) throw err;
      return 'stopped';
    } finally {
      // Taken off once the start is decided: left on, each reload added one to the signal for the life of
      // the process (Node warned of a leak at the eleventh: MaxListenersExceededWarning on stderr).
      if (onStop) life.stopping.signal.removeEventListener('abort', onStop);
      // Observed, whatever comes of it now: a start cut short by a stop may still fail. Not one given up on
      // after its timeout: the stop, which waits for it, says that ('shutdown timeout reached while
      // starting'; before, it was said three times: by the component, here, and by the stop).
      starting.catch((err: unknown) => stopRequested && !(err instanceof StartError && err.timedOut) && logger.warn({ err }, 'the start cut short by the stop failed'));
    }
  };
  // A stop that came while the lock was taken: nothing was built.
  if (life.stopping.signal.aborted) return stoppedWhileStarting(life, logger);
  // A stop that comes while the pipeline starts stops it there (see Pipeline.stop), and is waited for.
  life.onStop = onSignal;
  try {
    await startUnlessStopped(pipeline, tlsMaterials);
  } catch (err) {
    const failed = startFailure(err, config, options.configFile);
    sayFailure(logger, secrets, { err, ...failed.fields }, 'cannot start the pipeline', `${err instanceof StartError ? err.message : `cannot start: ${(err as Error).message}`}${failed.where}`);
    life.finished = true;
    return 78;
  }
  if (!stopRequested) {
    life.state = 'running';
    logger.info({ config: config.file, data_dir: config.dataDir }, 'driftlock running');
  }
  // A daemon runs until it is told to stop: Node would end the process as soon as nothing keeps its event
  // loop busy (a plugin input waiting for events on a promise alone), silently, with exit code 0.
  const keepAlive = setInterval(() => undefined, 1 << 30);

  let reloadAsked = false;
  // A SIGHUP during a reload: the file may have changed again since it was read; read once more after.
  let reloadAgain = false;
  const onHangUp = () => {
    if (life.state === 'reloading') {
      if (!reloadAgain) logger.warn('SIGHUP during a reload: the config will be read again once this reload is done');
      reloadAgain = true;
    } else if (reloadAsked) logger.warn('SIGHUP: a reload is already under way');
    else if (life.state === 'running') {
      reloadAsked = true;
      wake({ why: 'reload' });
    }
  };
  life.onHangUp = onHangUp;
  if (life.hangUpWhileStarting && !stopRequested) {
    reloadAsked = true;
    // The loop's first wait: woken at once, for the SIGHUP that came while the pipeline started.
    setImmediate(() => wake({ why: 'reload' }));
  }
  const ignoreSignals = () => {
    life.finished = true;
    clearInterval(keepAlive);
  };

  /** Listens for the end of `p`: its inputs ending by themselves (then a drain), or all of it (the loop ends). */
  const watchEnd = (p: Pipeline) => {
    // Every input ended by itself (stdin at EOF): the drain is a stop's, within shutdown_timeout (before,
    // an output that never finished held the daemon for ever after the end of its input).
    p.inputsEnded.then(() => {
      if (pipeline !== p || stopRequested || life.state !== 'running') return;
      logger.info({ timeout_ms: config.shutdownTimeoutMs }, 'every input has ended: draining in-flight events, within shutdown_timeout');
      life.state = 'stopping';
      inputsFinished = true;
      stopped = p.stop();
      // The exit waits for that stop, not for the components: one stuck past the deadline does not hold it.
      wake({ why: 'stop' });
    }, () => undefined);
    // Only the pipeline running now may end the loop: one replaced by a reload ends as it is replaced.
    p.done.then(
      () => pipeline === p && wake({ why: 'done' }),
      (err: unknown) => pipeline === p && wake({ why: 'failed', err }),
    );
  };
  // The pipeline whose end is listened for: once each. A refused reload, an unchanged config or a log_level
  // applied in place go round the loop with the same one (before, each added two listeners to it).
  let watched: Pipeline | undefined;

  // Not entered when a stop came while the pipeline started: it drains below.
  while (!stopRequested) {
    const woke = next();
    const current = pipeline;
    if (watched !== current) {
      watched = current;
      watchEnd(current);
    }
    const w = await woke;
    if (w.why === 'reload') {
      // /health says 503 "reloading" while the old pipeline drains and the new one starts.
      life.state = 'reloading';
      reloadAsked = false;
      // Inputs unchanged in the new config go on running through the reload (their sockets stay open, files
      // stay open at their offsets); their events wait while the old pipeline drains and the new one starts.
      let held: HeldInputs | undefined;
      try {
        const prepared = await prepareReload(options, config, tlsMaterials, logger, secrets);
        if ('refused' in prepared) life.reloaded(prepared.refused, prepared.problems);
        else if ('unchanged' in prepared) {
          // Taken effect: what runs is what the file says (also after a failed reload, once the file is as the running config again).
          const level = prepared.logLevel;
          if (level === undefined) logger.info({ config: config.file }, 'SIGHUP: config unchanged (after ${VAR} interpolation, with the same TLS files): nothing to reload; the running pipeline goes on');
          else {
            // Only log_level changed: the logger's level, in place (pino's component loggers follow theirs);
            // before, a drain and a rebuild of the whole pipeline.
            const from = config.logLevel;
            config = { ...config, logLevel: level };
            if (options.logLevel) logger.info({ config: config.file, log_level: options.logLevel, file_log_level: level }, `SIGHUP: only log_level changed (${from} to ${level}), and --log-level ${options.logLevel} overrides it: nothing to reload; the running pipeline goes on`);
            else {
              logger.level = level;
              logger.info({ config: config.file, log_level: level, previous_log_level: from }, `SIGHUP: only log_level changed (${from} to ${level}): applied in place; nothing drained or rebuilt, the running pipeline goes on`);
            }
          }
          life.reloaded();
        } else if (!stopRequested) {
          const fresh = prepared.config;
          logger.info({ config: fresh.file, timeout_ms: config.shutdownTimeoutMs, kept_running: [...prepared.keep] }, 'SIGHUP: reloading the config: draining the running pipeline');
          const handed = await current.handOver(prepared.keep, undefined, successorsOf(config, fresh));
          held = handed.held;
          const drained = handed.drained;
          // A SIGTERM during the drain: the inputs held stop too, and the exit waits for them.
          if (stopRequested) {
            // Said once for every output: one that finished handing its queue on before the signal said its
            // records wait for the new pipeline, which is not started now.
            logger.info({ config: fresh.file }, 'stopped during the reload: the reloaded config is not started; records the outputs handed on stay queued on disk and are sent at the next start');
            stopped = held.stop(config.shutdownTimeoutMs).then((clean) => drained && clean);
            break;
          }
          carryTotals(carried, current);
          const replacement = new Pipeline(fresh, { logger, taps: life.taps, carryMetricsFrom: current.metrics({ handedOver: false }), flushFailuresBefore: current.recentFlushFailures(), troubleBefore: current.recentTrouble(), adopt: held });
          try {
            // Built with the TLS material checked before the running pipeline stopped, not the files again.
            // Within the new config's shutdown_timeout: a build() or an input's `ready` that never ends is a
            // start that failed (the previous config runs again), not a daemon that says 'reloading' for ever.
            if ((await startUnlessStopped(replacement, prepared.tls, fresh.shutdownTimeoutMs)) === 'stopped') {
              // A SIGTERM while it started: it stops there, the inputs it kept with it, within the timeout
              // (before, a build() that never ended held the daemon for ever, SIGTERM or not).
              stopped = replacement.stop(config.shutdownTimeoutMs).then((clean) => drained && clean);
              [pipeline, life.pipeline] = [replacement, replacement];
              current.dispose();
              break;
            }
            [pipeline, config, tlsMaterials] = [replacement, fresh, prepared.tls];
            life.pipeline = pipeline;
            life.reloaded();
            current.dispose();
            // What was kept in the end: not an input that had ended, nor one the drain abandoned events of.
            logger.info({ config: config.file, drained, kept_running: held.ids }, 'config reloaded: the new pipeline is running');
          } catch (err) {
            // The new pipeline cannot start (a port still in use, a file it cannot open, a build() that did
            // not finish within shutdown_timeout): the old config runs again, so that a bad edit does not
            // take the daemon down; with the TLS material it ran with, whatever its files hold now. The
            // inputs kept running are held again, and go on into it.
            await replacement.stop(1_000).catch(() => false);
            if (stopRequested) {
              // Stopping: the previous config is not started again; the inputs kept stop.
              logger.error({ err, ...startFailure(err, fresh, options.configFile).fields }, 'SIGHUP: the new pipeline cannot start; stopping');
              stopped = held.stop(config.shutdownTimeoutMs).then(() => false);
              break;
            }
            logger.error({ err, ...startFailure(err, fresh, options.configFile).fields }, 'SIGHUP: the new pipeline cannot start; starting the previous config again');
            const previous = new Pipeline(config, { logger, taps: life.taps, carryMetricsFrom: current.metrics({ handedOver: false }), flushFailuresBefore: current.recentFlushFailures(), troubleBefore: current.recentTrouble(), adopt: held });
            await tlsMaterials.use(() => previous.start());
            pipeline = previous;
            life.pipeline = pipeline;
            life.reloaded(`the new pipeline cannot start, the previous config runs again: ${(err as Error).message}`);
            current.dispose();
            replacement.dispose();
          }
          held = undefined;
          // A SIGTERM that came while it started: this one stops now.
          if (stopRequested) stopped = pipeline.stop();
        }
      } catch (err) {
        // Neither config could start: the daemon cannot do its job.
        sayFailure(logger, secrets, { err }, 'SIGHUP: the previous config cannot start again either; exiting', `the pipeline cannot start after a reload: ${(err as Error).message}`, 'fatal');
        life.state = 'stopping';
        await held?.stop(config.shutdownTimeoutMs);
        ignoreSignals();
        return 78;
      }
      // A SIGTERM while the config was read (nothing was stopped for the reload): the pipeline stops now.
      if (stopRequested) stopped ??= pipeline.stop();
      if (!stopRequested) life.state = 'running';
      if (reloadAgain && !stopRequested) {
        reloadAgain = false;
        reloadAsked = true;
        // The next turn's wait: woken at once, for the reload asked during this one.
        setImmediate(() => wake({ why: 'reload' }));
      }
      continue;
    }
    if (w.why === 'failed') {
      // A failure the engine could not contain: stop what still runs and exit, rather than stay alive doing
      // nothing (the data_dir lock released, /health still ok).
      logger.fatal({ err: w.err }, 'the pipeline failed; stopping');
      life.state = 'stopping';
      await pipeline.stop().catch(() => false);
      ignoreSignals();
      return 70;
    }
    break;
  }
  const drained = stopped ? await stopped : true;
  life.state = 'stopping';
  const summary = exitSummary(pipeline, carried);
  logger.info({ drained, components: summary, max_rss_bytes: process.resourceUsage().maxRSS * 1024 }, stopped && !inputsFinished ? 'stopped' : 'all inputs finished; stopped');
  // A stage given up on (it kept crashing after its input ended) abandoned what it held: not a clean run.
  if (pipeline.gaveUp.length) logger.error({ components: pipeline.gaveUp }, 'exiting 1: events were abandoned by components that kept crashing after their input ended');
  ignoreSignals();
  return drained && pipeline.gaveUp.length === 0 ? 0 : 1;
}

type Summary = Record<string, Record<string, number>>;

/** Adds a replaced pipeline's counters (`..._total`; gauges are a moment's reading) to `into`, per component id. */
function carryTotals(into: Summary, replaced: Pipeline): void {
  // Not the inputs it handed over to the next pipeline: their counters go on there.
  for (const m of replaced.metrics({ handedOver: false })) {
    const sums = (into[m.id] ??= {});
    for (const [name, value] of Object.entries(m.snapshot())) if (name.endsWith('_total')) sums[name] = (sums[name] ?? 0) + value;
  }
}

/** The components' metrics at exit: the last pipeline's, plus the counters of those a reload replaced. */
function exitSummary(last: Pipeline, carried: Summary): Summary {
  const summary: Summary = {};
  for (const m of last.metrics()) summary[m.id] = m.snapshot();
  for (const [id, sums] of Object.entries(carried)) {
    const into = (summary[id] ??= {});
    for (const [name, value] of Object.entries(sums)) into[name] = (into[name] ?? 0) + value;
  }
  return summary;
}

/**
 * The components of `running` that `fresh` has too, with the same id, kind and type: their state in data_dir
 * (an output's on-disk queue) goes on in the new pipeline, so the old one need not drain it.
 */
function successorsOf(running: PipelineConfig, fresh: PipelineConfig): Set<string> {
  const next = new Map(fresh.components.map((c) => [c.id, c]));
  return new Set(running.components.filter((c) => next.get(c.id)?.kind === c.kind && next.get(c.id)?.type === c.type).map((c) => c.id));
}

/**
 * The config to reload to, with its TLS material read and checked and the inputs that go on running through
 * the reload (`keep`), or why not (`refused`, also said in the log) when it cannot be: it does not load, it moves data_dir
 * (the lock is this one's), it changes or removes an input that reads standard input (what was read cannot
 * be read again), or a component's TLS files cannot be used (missing, not PEM, a certificate that does not
 * match its key: a renewal half done). An API change is said and left for a restart. All of it is checked
 * while the running pipeline runs, which goes on unchanged if it fails. `unchanged` when the new config is
 * the running one (`configChange`): nothing to do, or, with `logLevel`, only the logger's level to set.
 */
async function prepareReload(options: RunOptions, running: PipelineConfig, runningTls: TlsMaterials, logger: Logger, secrets: SecretMask): Promise<{ config: PipelineConfig; tls: TlsMaterials; keep: Set<string> } | { refused: string; problems?: string[] } | { unchanged: true; logLevel?: PipelineConfig['logLevel'] }> {
  let config: PipelineConfig;
  try {
    config = await loadConfigFile(options.configFile, createRegistry());
  } catch (err) {
    // A config with errors, or a file that cannot be read (gone, no permission): nothing changes.
    // The problems as a list, each one line (file:line:column: ...), as `validate` prints them: before, the
    // message was several lines in one `msg`, which jq and log UIs showed as one escaped string.
    if (err instanceof ConfigError) {
      const problems = err.issues.map((i) => formatIssue(err.file, i));
      logger.error({ config: running.file, problems }, 'SIGHUP: the config does not load; the running pipeline goes on unchanged');
      return { refused: `the config does not load: ${problems.length === 1 ? problems[0] : `${problems.length} problems: ${problems.join('; ')}`}`, problems };
    }
    logger.error({ err, config: running.file }, 'SIGHUP: the config does not load; the running pipeline goes on unchanged');
    return { refused: `the config does not load: ${(err as Error).message}` };
  }
  if (config.dataDir !== running.dataDir) {
    logger.error({ data_dir: running.dataDir, new_data_dir: config.dataDir }, 'SIGHUP: data_dir cannot change on a reload (restart driftlock for that); the running pipeline goes on unchanged');
    return { refused: `data_dir cannot change on a reload (${running.dataDir} to ${config.dataDir}): restart driftlock for that` };
  }
  // Masked from now on, before anything of the new config can be logged (its components' errors).
  secrets.add(secretsOf(config));
  // Read now, the running pipeline still serving with its own: the new pipeline is built from these.
  const tls = new TlsMaterials();
  const problems = await tlsProblemsOf(config, options.configFile, tls);
  if (problems.length) {
    logger.error({ config: running.file, problems }, 'SIGHUP: the new config\'s TLS files cannot be used; the running pipeline goes on unchanged');
    return { refused: `the new config's TLS files cannot be used: ${problems.join('; ')}`, problems };
  }
  // The API is not rebuilt: the new config runs with the running API's settings, so that what the log says
  // of it later is what listens, and an api change alone rebuilds nothing. Before, the new address was taken
  // as the running one: a reload back to the address still served was warned of as a change (the warning
  // naming as running the address nothing listened on), and one of api alone drained the whole pipeline.
  if (config.api.enabled !== running.api.enabled || config.api.address !== running.api.address) {
    logger.warn({ api: running.api, new_api: config.api }, 'SIGHUP: api settings change only at a restart; the API keeps running as it is');
    config = { ...config, api: running.api };
  }
  // Nothing to rebuild (a SIGHUP with the file as it was, or its TLS files, or only log_level changed): the
  // running pipeline goes on, undrained, as Vector leaves unchanged components be. A renewed certificate
  // differs, and is taken below.
  const change = await configChange(running, config, runningTls, tls);
  if (change === 'none') return { unchanged: true };
  if (change === 'log_level') return { unchanged: true, logLevel: config.logLevel };
  const keep = await unchangedInputs(running, config, runningTls, tls);
  const stdin = running.components.find((c) => c.kind === 'input' && c.type === 'stdin' && !keep.has(c.id));
  if (stdin) {
    logger.error({ input: stdin.id }, 'SIGHUP: the new config changes or removes the input that reads standard input (what was read cannot be read again; it can only go on unchanged); the running pipeline goes on unchanged');
    return { refused: `the new config changes or removes the stdin input ${JSON.stringify(stdin.id)}` };
  }
  if (!options.logLevel && config.logLevel !== running.logLevel) logger.level = config.logLevel;
  return { config, tls, keep };
}

/**
 * Whether component `c` of the new config is the running one's of the same id unchanged: the same kind,
 * type, inputs, buffer and settings (after `${VAR}` interpolation), and, for TLS, the same certificate, key
 * and CA bytes (a renewed certificate is taken by rebuilding it).
 */
async function sameComponent(running: PipelineConfig, c: ComponentConfig, runningTls: TlsMaterials, freshTls: TlsMaterials): Promise<boolean> {
  const old = running.components.find((o) => o.id === c.id);
  // By type, not by definition object: a plugin's factory makes new ones at each load of the config.
  if (!old || old.kind !== c.kind || old.type !== c.type || !isDeepStrictEqual([old.inputs, old.buffer, old.options], [c.inputs, c.buffer, c.options])) return false;
  const settings = tlsSettingsOf(c.options);
  if (!settings) return true;
  try {
    const [before, now] = await Promise.all([runningTls.load(settings), freshTls.load(settings)]);
    return isDeepStrictEqual(before, now);
  } catch {
    return false;
  }
}

/**
 * The inputs a reload keeps running: those the new config has unchanged (`sameComponent`), unless their
 * definition says otherwise (`keepOnReload: false`). Their listeners stay open and their files stay open
 * where they are, so a reload loses nothing of them; any other input is stopped with the old pipeline and
 * built anew.
 */
async function unchangedInputs(running: PipelineConfig, fresh: PipelineConfig, runningTls: TlsMaterials, freshTls: TlsMaterials): Promise<Set<string>> {
  const keep = new Set<string>();
  for (const c of fresh.components) {
    if (c.kind === 'input' && c.definition.keepOnReload !== false && (await sameComponent(running, c, runningTls, freshTls))) keep.add(c.id);
  }
  return keep;
}

/**
 * What a reload changes of the running config: nothing (`none`: the same top-level settings and the same
 * components, each unchanged: `sameComponent`, after interpolation, with the same TLS bytes), only
 * `log_level` (applied to the logger in place), or more (`rebuild`). Plugins are compared by the list of
 * them: a reload does not load a plugin again (its module is Node's, kept), so its file changed on disk would
 * change nothing of a rebuild either.
 */
async function configChange(running: PipelineConfig, fresh: PipelineConfig, runningTls: TlsMaterials, freshTls: TlsMaterials): Promise<'none' | 'log_level' | 'rebuild'> {
  const top = (c: PipelineConfig) => [c.dataDir, c.shutdownTimeoutMs, c.api, c.plugins, c.components.length];
  if (!isDeepStrictEqual(top(running), top(fresh))) return 'rebuild';
  for (const c of fresh.components) if (!(await sameComponent(running, c, runningTls, freshTls))) return 'rebuild';
  return running.logLevel === fresh.logLevel ? 'none' : 'log_level';
}

/** A message as one line: its lines joined with `; ` (their indentation and blank lines dropped). */
function oneLine(message: string): string {
  return message.split('\n').map((line) => line.trim()).filter(Boolean).join('; ');
}
