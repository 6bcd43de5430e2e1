/**
 * `driftlock run`: load the config, start the pipeline, and stop it gracefully on SIGTERM/SIGINT (a second
 * signal exits at once). Returns the process exit code.
 */
import type { Server } from 'node:http';
import { startApiServer } from '../api/server.js';
import { createRegistry } from '../components.js';
import { ConfigError } from '../config/errors.js';
import { loadConfigFile, secretValuesOf, type LOG_LEVELS, type PipelineConfig } from '../config/load.js';
import { Pipeline, StartError } from '../engine/pipeline.js';
import { lockDataDir } from '../engine/data-dir-lock.js';
import { createLogger, secretMasker } from '../logging.js';
import type { Logger } from 'pino';

export interface RunOptions {
  configFile: string;
  logLevel?: (typeof LOG_LEVELS)[number];
}

export async function runDaemon(options: RunOptions): Promise<number> {
  let config: PipelineConfig;
  try {
    config = await loadConfigFile(options.configFile, createRegistry());
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`driftlock: ${err.message}\n`);
      return 78;
    }
    throw err;
  }
  // Values substituted from variables where secrets go (or named like secrets), and secrets written in the
  // config itself: masked wherever they would be written.
  const secrets = [...config.secretsFromEnv.map((name) => process.env[name] ?? ''), ...config.components.flatMap(secretValuesOf)].filter(Boolean);
  const logger = createLogger({ level: options.logLevel ?? config.logLevel, secrets });
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
    unlock = await lockDataDir(config.dataDir, logger);
  } catch (err) {
    logger.error({ err }, 'cannot start: data_dir');
    process.stderr.write(`driftlock: ${(err as Error).message}\n`);
    return 78;
  }
  try {
    return await runLocked(config, logger, secrets);
  } finally {
    await unlock().catch(() => undefined);
  }
}

async function runLocked(config: PipelineConfig, logger: Logger, secrets: string[]): Promise<number> {
  const pipeline = new Pipeline(config, { logger });
  let state: 'starting' | 'running' | 'stopping' = 'starting';
  let api: Server | undefined;
  try {
    if (config.api.enabled) {
      const mask = secretMasker(secrets);
      try {
        api = await startApiServer({ address: config.api.address, logger, metrics: () => pipeline.metrics(), state: () => state, trouble: () => pipeline.health(), mask });
      } catch (err) {
        throw new Error(`the API cannot listen on ${config.api.address}: ${(err as Error).message}`, { cause: err });
      }
    }
    await pipeline.start();
  } catch (err) {
    logger.error({ err }, 'cannot start the pipeline');
    process.stderr.write(`driftlock: ${err instanceof StartError ? err.message : `cannot start: ${(err as Error).message}`}\n`);
    api?.close();
    return 78;
  }
  state = 'running';
  logger.info({ config: config.file, data_dir: config.dataDir }, 'driftlock running');

  let signals = 0;
  let stopped: Promise<boolean> | null = null;
  let requestStop: () => void = () => undefined;
  const stopRequested = new Promise<void>((resolve) => (requestStop = resolve));
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting now without draining');
      process.exit(130);
    }
    logger.info({ signal, timeout_ms: config.shutdownTimeoutMs }, 'stopping: draining in-flight events (send the signal again to exit at once)');
    state = 'stopping';
    stopped = pipeline.stop();
    requestStop();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  try {
    await Promise.race([pipeline.done, stopRequested]);
  } catch (err) {
    // A failure the engine could not contain: stop what still runs and exit, rather than stay alive doing
    // nothing (the data_dir lock released, /health still ok).
    logger.fatal({ err }, 'the pipeline failed; stopping');
    state = 'stopping';
    await pipeline.stop().catch(() => false);
    api?.close();
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    return 70;
  }
  const drained = stopped ? await stopped : true;
  state = 'stopping';
  api?.close();
  const summary: Record<string, Record<string, number>> = {};
  for (const m of pipeline.metrics()) summary[m.id] = m.snapshot();
  logger.info({ drained, components: summary, max_rss_bytes: process.resourceUsage().maxRSS * 1024 }, stopped ? 'stopped' : 'all inputs finished; stopped');
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  return drained ? 0 : 1;
}
