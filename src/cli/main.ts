#!/usr/bin/env node
/**
 * The `driftlock` command line. Exit codes: 0 success; 1 stopped but could not drain in time, or a component
 * was given up on after crashing again and again once its input had ended; 2 usage
 * error; 70 internal error; 75 the data_dir lock was lost (`LOCK_LOST_EXIT_CODE`); 78 configuration error; 130
 * forced stop by a second signal.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { Command, InvalidArgumentError, Option } from 'commander';
import { createRegistry } from '../components.js';
import { loadPlugin, pluginLoadError } from '../engine/registry.js';
import { ConfigError, configErrorText, formatIssue } from '../config/errors.js';
import { LOG_LEVELS, loadConfigFile, meant } from '../config/load.js';
import { parseByteSize, parseDuration } from '../config/schema.js';
import { defaultConfigPath, packageVersion } from './package-root.js';
import { runDaemon } from './run.js';
import { exitWhenFileCallsReturn } from './exit.js';
import { readProblem } from '../make-folder.js';
import { standardInput } from '../inputs/stdin.js';
import { streamIdProblem } from '../transforms/anomaly-detect.js';
// `stream`, `scan` and `docs` load their modules when they run: `run` starts without them.
import { DETECT_FORMATS, PROFILE_NAMES, detectSession } from './detect-session.js';
import type { DetectOptions } from './detect.js';

export const EXIT = { ok: 0, notDrained: 1, usage: 2, internal: 70, config: 78, forced: 130 } as const;

/** Set by `run`: the daemon's stdout is its console outputs' alone. */
let daemonRuns = false;

// A reader that goes away (`driftlock scan ... | head`) is not an error: `stream` and `scan` stop as on
// Ctrl-C (their state saved, their summary on stderr); `run` goes on (a console output to stdout says so
// and rejects what follows: before, `driftlock run | head` exited 0 at once, its other outputs not drained,
// its checkpoints and detector state not saved); anything else stops quietly.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (daemonRuns) return;
  if (err.code !== 'EPIPE') throw err;
  if (!detectSession.active) process.exit(0);
  detectSession.readerGone.abort();
});

const program = new Command();
program
  .name('driftlock')
  .description('A log pipeline daemon that finds anomalies in application logs without regex rules.')
  .version(packageVersion(), '-V, --version')
  .showHelpAfterError('(run driftlock --help for usage)')
  // Each command as its own usage line says it (`run [options]`, not the `[file]` it only refuses).
  .configureHelp({ subcommandTerm: (cmd) => `${cmd.name()} ${cmd.usage()}` })
  .exitOverride((err) => {
    process.exit(err.exitCode === 0 ? 0 : EXIT.usage);
  });

/**
 * `option` limited to `values`, as commander's choices() (listed in the help), saying which one a misspelt
 * value was likely meant as: `--profile sensitiv`, did you mean "sensitive"? (before, the list alone).
 */
function oneOf(option: Option, values: readonly string[]): Option {
  return option.choices(values).argParser((value: string) => {
    if (values.includes(value)) return value;
    const near = meant(value, values);
    throw new InvalidArgumentError(`Allowed choices are ${values.join(', ')}.${near ? ` Did you mean "${near}"?` : ''}`);
  });
}

/** `--config`, or the DRIFTLOCK_CONFIG environment variable (a container image sets it once, as Vector's VECTOR_CONFIG). */
const configOption = () => new Option('-c, --config <file>', 'pipeline YAML file').env('DRIFTLOCK_CONFIG');

/** `DRIFTLOCK_CONFIG` when the pipeline file is the one it names (not `-c`), for the errors about that file. */
function configFrom(cmd: Command): string | undefined {
  return cmd.getOptionValueSource('config') === 'env' ? 'DRIFTLOCK_CONFIG' : undefined;
}

/**
 * `run FILE`, `validate FILE` (as `vector validate FILE` takes it): a file given without -c is refused with
 * the command to type (before, `run` said "too many arguments" and `validate` that -c was missing, neither
 * what to write). Declared as an argument without a description: the help does not list it.
 */
function refuseFileWithoutC(cmd: Command, file: string | undefined): void {
  if (file === undefined) return;
  if (cmd.getOptionValueSource('config') === 'cli') cmd.error(`error: too many arguments for '${cmd.name()}': ${file} (the pipeline file is the one given with -c)`);
  cmd.error(`error: the pipeline file is given with -c: driftlock ${cmd.name()} -c ${file}`);
}

const logLevelOption = () => oneOf(new Option('--log-level <level>', 'minimum level of the daemon\'s own logs (overrides log_level)'), LOG_LEVELS);

program
  .command('run')
  .description('run a pipeline (the embedded default pipeline when neither --config nor DRIFTLOCK_CONFIG is given)')
  .usage('[options]')
  .argument('[file]')
  .addOption(configOption().default(defaultConfigPath()))
  .addOption(logLevelOption())
  .action(async (file: string | undefined, opts: { config: string; logLevel?: (typeof LOG_LEVELS)[number] }, cmd: Command) => {
    refuseFileWithoutC(cmd, file);
    daemonRuns = true;
    // Exit explicitly: an open stdin or a client socket must not keep a stopped daemon alive; nor a file
    // system call that does not return (see exit.ts).
    const from = configFrom(cmd);
    exitWhenFileCallsReturn(await runDaemon({ configFile: opts.config, ...(from ? { configFrom: from } : {}), ...(opts.logLevel ? { logLevel: opts.logLevel } : {}) }));
  });

program
  .command('validate')
  .description('check a pipeline file: syntax, component configs, topology; prints every problem found')
  .usage('[options]')
  .argument('[file]')
  // Not mandatory to commander: a file given without -c is said first (refuseFileWithoutC).
  .addOption(configOption())
  .action(async (file: string | undefined, opts: { config?: string }, cmd: Command) => {
    refuseFileWithoutC(cmd, file);
    if (opts.config === undefined) cmd.error("error: required option '-c, --config <file>' not specified");
    try {
      const cfg = await loadConfigFile(opts.config, createRegistry());
      // The TLS files too, as `run` reads them: a key that does not match its certificate is found here.
      const { tlsProblemsOf } = await import('../inputs/net/tls.js');
      const tls = await tlsProblemsOf(cfg, opts.config);
      if (tls.length > 0) {
        process.stderr.write(`driftlock: ${opts.config}: ${tls.length} problem${tls.length === 1 ? '' : 's'} with TLS files:\n${tls.map((t) => `  ${t}`).join('\n')}\n`);
        process.exitCode = EXIT.config;
        return;
      }
      // A file input that reads nothing now (a mistyped path looks like a quiet log): said, exit code unchanged;
      // at the file:line:column of the value, as errors are (before, the file alone).
      const { includeWarnings } = await import('./include-warnings.js');
      for (const { at, message } of await includeWarnings(cfg.components)) process.stderr.write(`${formatIssue(opts.config, { ...cfg.positionOf(at), message: `warning: ${message}` })}\n`);
      const n = (kind: string) => {
        const count = cfg.components.filter((c) => c.kind === kind).length;
        return `${count} ${kind}${count === 1 ? '' : 's'}`;
      };
      process.stdout.write(`${opts.config}: valid (${n('input')}, ${n('transform')}, ${n('output')})\n`);
      process.exitCode = EXIT.ok;
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      process.stderr.write(configErrorText(err, configFrom(cmd)));
      process.exitCode = EXIT.config;
    }
  });

/** `--stream-id`: a name, or fields in braces that an event can have (`{body.service}`). */
function streamIdOption(value: string): string {
  const problem = streamIdProblem(value);
  if (problem) {
    process.stderr.write(`driftlock: --stream-id: ${problem}\n`);
    process.exit(EXIT.usage);
  }
  return value;
}

function number(name: string, min: number, max: number, integer: boolean) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
      process.stderr.write(`driftlock: ${name} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got "${value}"\n`);
      process.exit(EXIT.usage);
    }
    return n;
  };
}

/** A size option: `1MiB`, `64KiB` or a whole number of bytes, as in config files. */
function size(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = parseByteSize(value);
    if (n === undefined || n < min || n > max) {
      process.stderr.write(`driftlock: ${name} must be a size from ${min} to ${max} bytes (such as 64KiB or 1MiB), got "${value}"\n`);
      process.exit(EXIT.usage);
    }
    return n;
  };
}

/**
 * A duration option in ms: `10s`, `500ms`, `5m`, or a number of seconds, as in config files; at least
 * `minMs` (0: `0` is allowed), at most what a timer can wait (2^31 - 1 ms).
 */
function durationMs(name: string, minMs = 0) {
  return (value: string): number => {
    const ms = parseDuration(/^\d+(\.\d+)?$/.test(value) ? Number(value) : value);
    if (ms === undefined || ms < minMs || ms > 2 ** 31 - 1) {
      const what = minMs > 0 ? `a duration of at least ${minMs / 1000}s (such as 10s or 5m)` : 'a duration (such as 10s or 1m, or 0)';
      process.stderr.write(`driftlock: ${name} must be ${what}, got "${value}"\n`);
      process.exit(EXIT.usage);
    }
    return ms;
  };
}

/** A duration option of at least 1 s, in whole seconds (rounded up). */
function durationSeconds(name: string) {
  const ms = durationMs(name, 1000);
  return (value: string): number => Math.ceil(ms(value) / 1000);
}

/** Options shared by `stream` and `scan`. */
function detectOptions(cmd: Command, streamHelp: string): Command {
  return cmd
    .addOption(oneOf(new Option('-f, --format <format>', 'how to read lines (auto: JSON objects as JSON, the rest as text)'), DETECT_FORMATS).default('auto'))
    .addOption(oneOf(new Option('-p, --profile <profile>', 'sensitivity preset'), PROFILE_NAMES).default('balanced'))
    .option('-s, --stream-id <id>', streamHelp, streamIdOption)
    .option('--threshold <confidence>', 'minimum calibrated confidence to flag, 0..0.9999 (overrides the profile)', number('--threshold', 0, 0.9999, false))
    .option('--warmup <events>', 'events per stream to learn from before flagging (overrides the profile)', number('--warmup', 0, 1e9, true))
    .option('--min-silence <duration>', 'how long a stream of 1+ events/s must be silent to be a volume_drop (default 30s)', durationSeconds('--min-silence'))
    .option('--state <file>', 'restore detector state from this file at start and save it at the end (no new warm-up)')
    // The default shown as the size it is written as (before: 1048576), its value unchanged.
    .addOption(new Option('--max-line-bytes <size>', 'longer lines are cut to this size and marked (64KiB, 1MiB or bytes)').argParser(size('--max-line-bytes', 64, 1 << 30)).default(1 << 20, '1MiB'))
    .option('--max-streams <n>', 'streams kept at most (the least recently seen is evicted; default 1000)', number('--max-streams', 1, 1e6, true))
    .addOption(oneOf(new Option('--multiline <preset>', 'join stack traces into one event, as the file input\'s multiline.preset does: java, python or go'), ['java', 'python', 'go']))
    .option('--group-window <duration>', 'readable output: the repeats of an alert (same stream, kind, and field or pattern) are one line per window, not each in full (stream: wall time; scan: the log\'s time); 0 shows every one (default 10s; JSON output has every one)', durationMs('--group-window'));
}

interface DetectCliOptions {
  format: DetectOptions['format'];
  profile: DetectOptions['profile'];
  streamId?: string;
  threshold?: number;
  warmup?: number;
  minSilence?: number;
  state?: string;
  maxLineBytes: number;
  groupWindow?: number;
  multiline?: DetectOptions['multiline'];
  maxStreams?: number;
}

function toDetectOptions(o: DetectCliOptions): DetectOptions {
  return {
    format: o.format,
    profile: o.profile,
    maxLineBytes: o.maxLineBytes,
    ...(o.streamId !== undefined ? { streamId: o.streamId } : {}),
    ...(o.threshold !== undefined ? { threshold: o.threshold } : {}),
    ...(o.warmup !== undefined ? { warmup: o.warmup } : {}),
    ...(o.minSilence !== undefined ? { minSilenceSeconds: o.minSilence } : {}),
    ...(o.state !== undefined ? { state: o.state } : {}),
    ...(o.groupWindow !== undefined ? { groupWindowMs: o.groupWindow } : {}),
    ...(o.multiline !== undefined ? { multiline: o.multiline } : {}),
    ...(o.maxStreams !== undefined ? { maxStreams: o.maxStreams } : {}),
  };
}

detectOptions(
  program
    .command('stream')
    .description('read log lines from standard input and print alerts as they happen (e.g. tail -f access.log | driftlock stream --format nginx)')
    .usage('[options]')
    // Declared to be refused with what to type (before: "too many arguments for 'stream'. Expected 0 arguments
    // but got 1."); without a description, the help does not list it.
    .argument('[files...]')
    .option('-q, --quiet', 'no status line or summary on stderr'),
  'baseline name: fixed (nginx-logs) or a field in braces ({body.service}); default "stdin"',
).action(async (files: string[], opts: DetectCliOptions & { quiet?: boolean }, cmd: Command) => {
  if (files.length > 0) {
    // The line to type, with the options given: the files taken out of the arguments (the last of each name).
    const args = process.argv.slice(process.argv.indexOf('stream') + 1);
    for (const file of files) args.splice(args.lastIndexOf(file), 1);
    const named = files.map(shell).join(' ');
    const options = (list: string[]) => list.map((a) => ` ${shell(a)}`).join('');
    const scanOptions = options(args.filter((a) => a !== '-q' && a !== '--quiet')); // stream's alone
    cmd.error(`error: stream reads standard input, not files: tail -f ${named} | driftlock stream${options(args)} (or driftlock scan${scanOptions} ${named} to read ${files.length === 1 ? 'it' : 'them'} through once)`);
  }
  const { runStream } = await import('./detect.js');
  process.exit(await runStream({ ...toDetectOptions(opts), quiet: opts.quiet === true }, { stdin: standardInput(), stdout: process.stdout, stderr: process.stderr }));
});

detectOptions(
  program
    .command('scan')
    .description('run log files through the detector and summarise; exit 0 nothing found, 1 anomalies found, 2 error (a file not read, --state not saved, or no line judged: the files empty or blank, or all in the warm-up)')
    .argument('<file...>', 'log files, read in order (- for standard input)')
    .addOption(oneOf(new Option('-o, --output <output>', 'text for people, json for one object per flagged line'), ['text', 'json']).default('text'))
    .option('--top <n>', 'anomalies listed in the summary', number('--top', 0, 1000, true), 10)
    .option('--no-progress', 'no progress bar on stderr'),
  'baseline name: fixed, or a field in braces; default one stream per log file (app.log.1 and app.log are one)',
).action(async (files: string[], opts: DetectCliOptions & { output: 'text' | 'json'; top: number; progress: boolean }) => {
  // Standard input is opened only when one of the files is `-`.
  const stdin = files.includes('-') ? standardInput() : undefined;
  const { runScan } = await import('./detect.js');
  process.exit(await runScan(files, { ...toDetectOptions(opts), output: opts.output, top: opts.top, progress: opts.progress }, { ...(stdin ? { stdin } : {}), stdout: process.stdout, stderr: process.stderr }));
});

program
  .command('tap')
  .description('print the events that inputs and transforms of a running daemon send on, as they go by (needs api.enabled: true)')
  .argument('[components...]', 'ids of inputs and transforms, * for any characters (parse_*); default all of them')
  .addOption(new Option('--api <address>', 'the daemon\'s api.address, host:port or http://host:port (default: read from --config, else 127.0.0.1:8686)'))
  .addOption(configOption())
  .option('-n, --limit <n>', 'events to show, 0 for no limit', number('--limit', 0, 1e9, true), 100)
  // The default said as the rule it is: shown as the value, it was the one of the terminal the help went to.
  .addOption(oneOf(new Option('--format <format>', 'json: one line per event as the API sends it; pretty: a line for people'), ['json', 'pretty']).default(process.stdout.isTTY ? 'pretty' : 'json', 'pretty on a terminal, else json'))
  .action(async (components: string[], opts: { api?: string; config?: string; limit: number; format: 'json' | 'pretty' }, cmd: Command) => {
    const api = await apiAddressOf(opts, 'tap', configFrom(cmd));
    const { runTap } = await import('./tap.js');
    process.exit(await runTap(components, { api, limit: opts.limit, format: opts.format }, { stdout: process.stdout, stderr: process.stderr }));
  });

program
  .command('top')
  .description('a live table of a running daemon\'s components: events in and out per second, buffers, errors, drops (needs api.enabled: true)')
  .addOption(new Option('--api <address>', 'the daemon\'s api.address, host:port or http://host:port (default: read from --config, else 127.0.0.1:8686)'))
  .addOption(configOption())
  // The default shown as a duration: shown as 1000, it read as milliseconds, but `-i 1000` is 1000 seconds.
  .addOption(new Option('-i, --interval <duration>', 'how often to read the metrics: 500ms, 2s, or a number of seconds (at least 100ms)').argParser(durationMs('--interval', 100)).default(1000, '1s'))
  .option('-n, --count <n>', 'tables to print before exiting, 0 for no end', number('--count', 0, 1e9, true), 0)
  .action(async (opts: { api?: string; config?: string; interval: number; count: number }, cmd: Command) => {
    const api = await apiAddressOf(opts, 'top', configFrom(cmd));
    const { runTop } = await import('./top.js');
    const redraw = process.stdout.isTTY === true && process.env.TERM !== 'dumb';
    process.exit(await runTop({ api, intervalMs: opts.interval, count: opts.count, redraw }, { stdout: process.stdout, stderr: process.stderr }));
  });

/**
 * The API address a client command (`tap`, `top`) reads from: `--api`, else the `api.address` of the
 * pipeline file given with `-c` (or DRIFTLOCK_CONFIG: `from`), else the default. A pipeline without the API is an error.
 */
async function apiAddressOf(opts: { api?: string; config?: string }, command: string, from: string | undefined): Promise<string> {
  if (opts.api !== undefined) return opts.api;
  if (opts.config === undefined) return '127.0.0.1:8686';
  try {
    const cfg = await loadConfigFile(opts.config, createRegistry());
    if (!cfg.api.enabled) {
      process.stderr.write(`driftlock ${command}: ${opts.config} does not enable the API (api.enabled: true), which ${command} reads from\n`);
      process.exit(EXIT.usage);
    }
    return cfg.api.address;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(configErrorText(err, from));
    process.exit(EXIT.config);
  }
}

program
  .command('test-alert')
  .description('send one sample alert to the Slack and webhook outputs of a pipeline file now, and say what each receiver answered (no queue, no retry, no mention)')
  .argument('[outputs...]', 'ids of outputs to send to; default every slack and webhook output')
  .addOption(configOption().makeOptionMandatory())
  .option('--timeout <duration>', 'how long one output\'s test may take before it counts as failed (default 30s)', durationMs('--timeout', 1))
  .option('--keep-open', 'leave open the incident a test opens (a webhook with resolved_payload, e.g. PagerDuty, is otherwise sent the notice that closes it right after the alert)')
  .action(async (outputs: string[], opts: { config: string; timeout?: number; keepOpen?: boolean }, cmd: Command) => {
    const { runTestAlert } = await import('./test-alert.js');
    process.exit(await runTestAlert(opts.config, outputs, { stdout: process.stdout, stderr: process.stderr }, opts.timeout, opts.keepOpen === true, configFrom(cmd)));
  });

program
  .command('docs')
  .description('print the config reference generated from the component schemas')
  .option('--write <readme>', 'replace the reference section of this README instead of printing')
  // No default value: commander's help showed it as "(default: [])".
  .option('--plugin <plugin>', 'document this plugin\'s components too: an npm package name or a path, from the current folder (repeatable)', (spec: string, specs: string[] | undefined) => [...(specs ?? []), spec])
  .action(async (opts: { write?: string; plugin?: string[] }) => {
    const { configReference, spliceReference, REFERENCE_END, REFERENCE_START } = await import('../config/reference.js');
    const registry = createRegistry();
    for (const spec of opts.plugin ?? []) {
      try {
        await loadPlugin(registry, spec, process.cwd());
      } catch (err) {
        process.stderr.write(`driftlock: ${pluginLoadError(spec, err)}\n`);
        process.exit(EXIT.config);
      }
    }
    const reference = configReference(registry);
    if (!opts.write) {
      process.stdout.write(reference);
      return;
    }
    // A file that cannot be read or written, or that has no place for the reference, is said in a line (exit
    // 2); before, a stack trace into main.js and exit 70, an internal error.
    function refuse(why: string): never {
      process.stderr.write(`driftlock docs: --write ${opts.write}: ${why}\n`);
      process.exit(EXIT.usage);
    }
    const readme = await readFile(opts.write, 'utf8').catch((err: unknown) => refuse(`cannot read it: ${readProblem(err)}`));
    const written = spliceReference(readme, reference);
    if (written === undefined) refuse(`it has no place for the reference: a line ${REFERENCE_START} and, below it, a line ${REFERENCE_END}, between which the reference is written`);
    await writeFile(opts.write, written).catch((err: unknown) => refuse(`cannot write it: ${readProblem(err)}`));
  });

/** An argument as a shell takes it: quoted when it has to be. */
function shell(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`;
}

/**
 * `driftlock -c pipeline.yaml`: an option of a command given before the command (or without one) is refused
 * with the command to type (before: "unknown option '-c'", which said neither that a command was missing nor
 * which). The command is the one named later on the line, else `run`; an option no command has is left to
 * commander's "unknown option".
 */
function optionBeforeCommand(args: string[]): string | undefined {
  const has = (cmd: Command, flag: string) => cmd.options.some((o) => o.short === flag || o.long === flag);
  const first = args[0];
  if (first === undefined || !first.startsWith('-') || has(program, first)) return undefined;
  const flag = first.startsWith('--') ? first.split('=')[0]! : first.slice(0, 2);
  const named = args.findIndex((a) => program.commands.some((c) => c.name() === a));
  const command = program.commands.find((c) => c.name() === (named >= 0 ? args[named] : 'run'))!;
  if (!has(command, flag)) return undefined;
  const line = (name: string) => ['driftlock', name, ...args.filter((_, i) => i !== named)].map(shell).join(' ');
  const validate = named < 0 && has(program.commands.find((c) => c.name() === 'validate')!, flag);
  return `error: unknown option '${flag}' before a command; the command comes first: ${line(command.name())}${validate ? ` (or ${line('validate')} to check the file)` : ''}`;
}

// A command's mistake points to that command's help, which lists its options (before: `driftlock --help`, which lists commands only).
for (const cmd of program.commands) cmd.showHelpAfterError(`(run driftlock ${cmd.name()} --help for usage)`);

try {
  const misplaced = optionBeforeCommand(process.argv.slice(2));
  if (misplaced !== undefined) program.error(misplaced);
  await program.parseAsync(process.argv);
} catch (err) {
  process.stderr.write(`driftlock: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = EXIT.internal;
}
