#!/usr/bin/env node
/**
 * The `driftlock` command line. Exit codes: 0 success; 1 stopped but could not drain in time; 2 usage
 * error; 70 internal error; 78 configuration error; 130 forced stop by a second signal.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { createRegistry } from '../components.js';
import { ConfigError } from '../config/errors.js';
import { LOG_LEVELS, loadConfigFile } from '../config/load.js';
import { configReference, spliceReference } from '../config/reference.js';
import { defaultConfigPath, packageVersion } from './package-root.js';
import { runDaemon } from './run.js';

export const EXIT = { ok: 0, notDrained: 1, usage: 2, internal: 70, config: 78, forced: 130 } as const;

const program = new Command();
program
  .name('driftlock')
  .description('A log pipeline daemon that finds anomalies in application logs without regex rules.')
  .version(packageVersion(), '-V, --version')
  .showHelpAfterError('(run driftlock --help for usage)')
  .exitOverride((err) => {
    process.exit(err.exitCode === 0 ? 0 : EXIT.usage);
  });

const logLevelOption = () => new Option('--log-level <level>', 'minimum level of the daemon\'s own logs (overrides log_level)').choices(LOG_LEVELS);

program
  .command('run')
  .description('run a pipeline (the embedded default pipeline when no --config is given)')
  .option('-c, --config <file>', 'pipeline YAML file', defaultConfigPath())
  .addOption(logLevelOption())
  .action(async (opts: { config: string; logLevel?: (typeof LOG_LEVELS)[number] }) => {
    // Exit explicitly: an open stdin or a client socket must not keep a stopped daemon alive.
    process.exit(await runDaemon({ configFile: opts.config, ...(opts.logLevel ? { logLevel: opts.logLevel } : {}) }));
  });

program
  .command('validate')
  .description('check a pipeline file: syntax, component configs, topology; prints every problem found')
  .requiredOption('-c, --config <file>', 'pipeline YAML file')
  .action(async (opts: { config: string }) => {
    try {
      const cfg = await loadConfigFile(opts.config, createRegistry());
      const n = (kind: string) => cfg.components.filter((c) => c.kind === kind).length;
      process.stdout.write(`${opts.config}: valid (${n('input')} inputs, ${n('transform')} transforms, ${n('output')} outputs)\n`);
      process.exitCode = EXIT.ok;
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      process.stderr.write(`${err.message}\n`);
      process.exitCode = EXIT.config;
    }
  });

program
  .command('docs')
  .description('print the config reference generated from the component schemas')
  .option('--write <readme>', 'replace the reference section of this README instead of printing')
  .action(async (opts: { write?: string }) => {
    const reference = configReference(createRegistry());
    if (!opts.write) {
      process.stdout.write(reference);
      return;
    }
    await writeFile(opts.write, spliceReference(await readFile(opts.write, 'utf8'), reference));
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  process.stderr.write(`driftlock: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = EXIT.internal;
}
