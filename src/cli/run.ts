/**
 * `driftlock run`: load the config, start the pipeline, and stop it gracefully on SIGTERM/SIGINT (a second
 * signal exits at once). SIGHUP reloads the config: what can be checked of the new config while the running
 * pipeline runs is checked first (it loads; its TLS files are read and go together), and a failure there
 * leaves the running pipeline as it is. Then the running pipeline drains and stops, and one built from the
 * new config starts on the same data_dir (checkpoints and queues carry over); if that one cannot start (a
 * port still taken), the previous config starts again, with the TLS material it had loaded. Returns the
 * process exit code.
 */
import type { Server } from 'node:http';
import { startApiServer } from '../api/server.js';
import { createRegistry } from '../components.js';
import { ConfigError } from '../config/errors.js';
import { loadConfigFile, secretValuesOf, type LOG_LEVELS, type PipelineConfig } from '../config/load.js';
import { HeldInputs, Pipeline, StartError } from '../engine/pipeline.js';
import { Taps } from '../engine/tap.js';
import { lockDataDir } from '../engine/data-dir-lock.js';
import { TlsMaterials, tlsSettingsOf } from '../inputs/net/tls.js';
import { createLogger, SecretMask } from '../logging.js';
import type { Logger } from 'pino';
import { isDeepStrictEqual } from 'node:util';

export interface RunOptions {
  configFile: string;
  logLevel?: (typeof LOG_LEVELS)[number];
}

/** Values substituted from variables where secrets go (or named like secrets), and secrets written in the config itself. */
function secretsOf(config: PipelineConfig): string[] {
  return [...config.secretsFromEnv.map((name) => process.env[name] ?? ''), ...config.components.flatMap(secretValuesOf)].filter(Boolean);
}

export async function runDaemon(options: RunOptions): Promise<number> {
  // Until the pipeline runs, a SIGHUP (logrotate's postrotate) must not end the daemon, as it does by
  // default: it is ignored, said once there is a logger to say it.
  const early: { logger?: Logger } = {};
  const earlyHangUp = () => {
    if (early.logger) early.logger.warn('SIGHUP while starting: ignored (send it again once driftlock is running to reload the config)');
    else process.stderr.write('driftlock: SIGHUP while starting: ignored\n');
  };
  process.on('SIGHUP', earlyHangUp);
  let config: PipelineConfig;
  try {
    config = await loadConfigFile(options.configFile, createRegistry());
  } catch (err) {
    process.off('SIGHUP', earlyHangUp);
    if (err instanceof ConfigError) {
      process.stderr.write(`driftlock: ${err.message}\n`);
      return 78;
    }
    throw err;
  }
  const secrets = new SecretMask(secretsOf(config));
  const logger = createLogger({ level: options.logLevel ?? config.logLevel, secrets });
  early.logger = logger;
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception; exiting');
    process.exit(70);
  });
  process.on('unhandledRejection', (err) => {
    logger.fatal({ err }, 'unhandled promise rejection; exiting');
    process.exit(70);
  });

  let unlock: () => Promise<void>;
  try {
    // Named as the config's own errors name it (the file as given, line, column).
    const setAt = config.dataDirAt ? `${options.configFile}:${config.dataDirAt.line}:${config.dataDirAt.column}` : `the default; ${options.configFile} sets none`;
    unlock = await lockDataDir(config.dataDir, logger, setAt);
  } catch (err) {
    logger.error({ err, data_dir: config.dataDir }, 'cannot start: data_dir');
    process.stderr.write(secrets.mask(`driftlock: ${(err as Error).message}\n`));
    process.off('SIGHUP', earlyHangUp);
    return 78;
  }
  try {
    return await runLocked(config, logger, options, secrets, () => process.off('SIGHUP', earlyHangUp));
  } finally {
    await unlock().catch(() => undefined);
  }
}

type Wake = { why: 'done' } | { why: 'failed'; err: unknown } | { why: 'stop' } | { why: 'reload' };

async function runLocked(first: PipelineConfig, logger: Logger, options: RunOptions, secrets: SecretMask, running: () => void): Promise<number> {
  let config = first;
  // Open taps (`GET /tap`) watch whichever pipeline runs: they go on through reloads.
  const taps = new Taps();
  let pipeline = new Pipeline(config, { logger, taps });
  // The TLS certificates and keys the running pipeline was built with, read once: its components rebuilt
  // after a crash, and the previous config started again after a failed reload, use them, not the files,
  // which may have changed since (a renewal half done).
  let tlsMaterials = new TlsMaterials();
  // Counters of the pipelines a reload replaced: the summary at exit covers the whole run.
  const carried: Summary = {};
  let state: 'starting' | 'running' | 'reloading' | 'stopping' = 'starting';
  let api: Server | undefined;
  try {
    if (config.api.enabled) {
      try {
        api = await startApiServer({ address: config.api.address, logger, metrics: () => pipeline.metrics(), state: () => state, trouble: () => pipeline.health(), mask: secrets.mask,
          tap: { taps, producers: () => pipeline.config.components.filter((c) => c.kind !== 'output').map((c) => c.id) } });
      } catch (err) {
        throw new Error(`the API cannot listen on ${config.api.address}: ${(err as Error).message}`, { cause: err });
      }
    }
    await tlsMaterials.use(() => pipeline.start());
  } catch (err) {
    logger.error({ err }, 'cannot start the pipeline');
    process.stderr.write(secrets.mask(`driftlock: ${err instanceof StartError ? err.message : `cannot start: ${(err as Error).message}`}\n`));
    api?.close();
    return 78;
  }
  state = 'running';
  logger.info({ config: config.file, data_dir: config.dataDir }, 'driftlock running');
  // A daemon runs until it is told to stop: Node would end the process as soon as nothing keeps its event
  // loop busy (a plugin input waiting for events on a promise alone), silently, with exit code 0.
  const keepAlive = setInterval(() => undefined, 1 << 30);

  let signals = 0;
  let stopped: Promise<boolean> | null = null;
  let stopRequested = false;
  let wake: (w: Wake) => void = () => undefined;
  const next = () => new Promise<Wake>((resolve) => (wake = resolve));
  // Once the pipeline has stopped, signals are ignored until the process exits (after the lock is let go):
  // their default action would kill a daemon that stopped cleanly (exit 129 or 143 instead of 0).
  let finished = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (finished) return;
    signals += 1;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting now without draining');
      process.exit(130);
    }
    logger.info({ signal, timeout_ms: config.shutdownTimeoutMs }, 'stopping: draining in-flight events (send the signal again to exit at once)');
    // During a reload, the reload stops what runs when it can (the drain under way); the inputs it holds
    // stop reading now (what they hold is not delivered), not when the drain is over.
    if (state !== 'reloading') stopped = pipeline.stop();
    else pipeline.stopHandingOver();
    state = 'stopping';
    stopRequested = true;
    wake({ why: 'stop' });
  };
  let reloadAsked = false;
  // A SIGHUP during a reload: the file may have changed again since it was read; read once more after.
  let reloadAgain = false;
  const onHangUp = () => {
    if (finished) return;
    if (state === 'reloading') {
      if (!reloadAgain) logger.warn('SIGHUP during a reload: the config will be read again once this reload is done');
      reloadAgain = true;
    } else if (reloadAsked) logger.warn('SIGHUP: a reload is already under way');
    else if (state === 'running') {
      reloadAsked = true;
      wake({ why: 'reload' });
    }
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGHUP', onHangUp);
  running();
  const ignoreSignals = () => {
    finished = true;
    clearInterval(keepAlive);
  };

  for (;;) {
    const woke = next();
    const current = pipeline;
    // Only the pipeline running now may end the loop: one replaced by a reload ends as it is replaced.
    current.done.then(
      () => pipeline === current && wake({ why: 'done' }),
      (err: unknown) => pipeline === current && wake({ why: 'failed', err }),
    );
    const w = await woke;
    if (w.why === 'reload') {
      // /health says 503 "reloading" while the old pipeline drains and the new one starts.
      state = 'reloading';
      reloadAsked = false;
      // Inputs unchanged in the new config go on running through the reload (their sockets stay open, files
      // stay open at their offsets); their events wait while the old pipeline drains and the new one starts.
      let held: HeldInputs | undefined;
      try {
        const prepared = await prepareReload(options, config, tlsMaterials, logger, secrets);
        if (prepared && !stopRequested) {
          const fresh = prepared.config;
          logger.info({ config: fresh.file, timeout_ms: config.shutdownTimeoutMs, kept_running: [...prepared.keep] }, 'SIGHUP: reloading the config: draining the running pipeline');
          const handed = await current.handOver(prepared.keep);
          held = handed.held;
          const drained = handed.drained;
          // A SIGTERM during the drain: the inputs held stop too, and the exit waits for them.
          if (stopRequested) {
            stopped = held.stop(config.shutdownTimeoutMs).then((clean) => drained && clean);
            break;
          }
          carryTotals(carried, current);
          const replacement = new Pipeline(fresh, { logger, taps, carryMetricsFrom: current.metrics({ handedOver: false }), adopt: held });
          try {
            // Built with the TLS material checked before the running pipeline stopped, not the files again.
            await prepared.tls.use(() => replacement.start());
            [pipeline, config, tlsMaterials] = [replacement, fresh, prepared.tls];
            current.dispose();
            // What was kept in the end: not an input that had ended, nor one the drain abandoned events of.
            logger.info({ config: config.file, drained, kept_running: held.ids }, 'config reloaded: the new pipeline is running');
          } catch (err) {
            // The new pipeline cannot start (a port still in use, a file it cannot open): the old config
            // runs again, so that a bad edit does not take the daemon down; with the TLS material it ran
            // with, whatever its files hold now. The inputs kept running are held again, and go on into it.
            logger.error({ err }, 'SIGHUP: the new pipeline cannot start; starting the previous config again');
            await replacement.stop(1_000).catch(() => false);
            const previous = new Pipeline(config, { logger, taps, carryMetricsFrom: current.metrics({ handedOver: false }), adopt: held });
            await tlsMaterials.use(() => previous.start());
            pipeline = previous;
            current.dispose();
            replacement.dispose();
          }
          held = undefined;
          // A SIGTERM that came while it started: this one stops now.
          if (stopRequested) stopped = pipeline.stop();
        }
      } catch (err) {
        // Neither config could start: the daemon cannot do its job.
        logger.fatal({ err }, 'SIGHUP: the previous config cannot start again either; exiting');
        process.stderr.write(secrets.mask(`driftlock: the pipeline cannot start after a reload: ${(err as Error).message}\n`));
        state = 'stopping';
        await held?.stop(config.shutdownTimeoutMs);
        api?.close();
        ignoreSignals();
        return 78;
      }
      // A SIGTERM while the config was read (nothing was stopped for the reload): the pipeline stops now.
      if (stopRequested) stopped ??= pipeline.stop();
      if (!stopRequested) state = 'running';
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
      state = 'stopping';
      await pipeline.stop().catch(() => false);
      api?.close();
      ignoreSignals();
      return 70;
    }
    break;
  }
  const drained = stopped ? await stopped : true;
  state = 'stopping';
  api?.close();
  const summary = exitSummary(pipeline, carried);
  logger.info({ drained, components: summary, max_rss_bytes: process.resourceUsage().maxRSS * 1024 }, stopped ? 'stopped' : 'all inputs finished; stopped');
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
 * The config to reload to, with its TLS material read and checked and the inputs that go on running through
 * the reload (`keep`), or undefined (said in the log) when it cannot be: it does not load, it moves data_dir
 * (the lock is this one's), it changes or removes an input that reads standard input (what was read cannot
 * be read again), or a component's TLS files cannot be used (missing, not PEM, a certificate that does not
 * match its key: a renewal half done). An API change is said and left for a restart. All of it is checked
 * while the running pipeline runs, which goes on unchanged if it fails.
 */
async function prepareReload(options: RunOptions, running: PipelineConfig, runningTls: TlsMaterials, logger: Logger, secrets: SecretMask): Promise<{ config: PipelineConfig; tls: TlsMaterials; keep: Set<string> } | undefined> {
  let config: PipelineConfig;
  try {
    config = await loadConfigFile(options.configFile, createRegistry());
  } catch (err) {
    // A config with errors, or a file that cannot be read (gone, no permission): nothing changes.
    if (err instanceof ConfigError) logger.error({ config: options.configFile, problems: err.issues.length }, `SIGHUP: the config does not load; the running pipeline goes on unchanged\n${err.message}`);
    else logger.error({ err, config: options.configFile }, 'SIGHUP: the config does not load; the running pipeline goes on unchanged');
    return undefined;
  }
  if (config.dataDir !== running.dataDir) {
    logger.error({ data_dir: running.dataDir, new_data_dir: config.dataDir }, 'SIGHUP: data_dir cannot change on a reload (restart driftlock for that); the running pipeline goes on unchanged');
    return undefined;
  }
  // Masked from now on, before anything of the new config can be logged (its components' errors).
  secrets.add(secretsOf(config));
  // Read now, the running pipeline still serving with its own: the new pipeline is built from these.
  const tls = new TlsMaterials();
  const problems: string[] = [];
  for (const c of config.components) {
    const settings = tlsSettingsOf(c.options);
    if (!settings) continue;
    try {
      await tls.load(settings);
    } catch (err) {
      problems.push(`${c.kind} ${JSON.stringify(c.id)} cannot start: ${(err as Error).message}`);
    }
  }
  if (problems.length) {
    logger.error({ config: options.configFile, problems: problems.length }, `SIGHUP: the new config's TLS files cannot be used; the running pipeline goes on unchanged\n${problems.join('\n')}`);
    return undefined;
  }
  const keep = await unchangedInputs(running, config, runningTls, tls);
  const stdin = running.components.find((c) => c.kind === 'input' && c.type === 'stdin' && !keep.has(c.id));
  if (stdin) {
    logger.error({ input: stdin.id }, 'SIGHUP: the new config changes or removes the input that reads standard input (what was read cannot be read again; it can only go on unchanged); the running pipeline goes on unchanged');
    return undefined;
  }
  if (config.api.enabled !== running.api.enabled || config.api.address !== running.api.address) {
    logger.warn({ api: running.api, new_api: config.api }, 'SIGHUP: api settings change only at a restart; the API keeps running as it is');
  }
  if (!options.logLevel && config.logLevel !== running.logLevel) logger.level = config.logLevel;
  return { config, tls, keep };
}

/**
 * The inputs a reload keeps running: those the new config has with the same id, type and settings (and, for
 * TLS, the same certificate, key and CA bytes: a renewed certificate is taken by rebuilding the input).
 * Their listeners stay open and their files stay open where they are, so a reload loses nothing of them; any
 * other input is stopped with the old pipeline and built anew.
 */
async function unchangedInputs(running: PipelineConfig, fresh: PipelineConfig, runningTls: TlsMaterials, freshTls: TlsMaterials): Promise<Set<string>> {
  const keep = new Set<string>();
  for (const c of fresh.components) {
    if (c.kind !== 'input') continue;
    const old = running.components.find((o) => o.id === c.id);
    // By type, not by definition object: a plugin's factory makes new ones at each load of the config.
    if (!old || old.kind !== 'input' || old.type !== c.type || c.definition.keepOnReload === false || !isDeepStrictEqual(old.options, c.options)) continue;
    const settings = tlsSettingsOf(c.options);
    if (settings) {
      try {
        const [before, now] = await Promise.all([runningTls.load(settings), freshTls.load(settings)]);
        if (!isDeepStrictEqual(before, now)) continue;
      } catch {
        continue;
      }
    }
    keep.add(c.id);
  }
  return keep;
}
