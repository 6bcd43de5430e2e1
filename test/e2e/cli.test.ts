import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, chmod, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, exitSummary, logLines, readDetectorState, ROOT, runCli, startCli, type RunningCli } from '../helpers/cli.js';
import { startReceiver } from '../helpers/http-receiver.js';
import { spawnForTest } from '../helpers/processes.js';
import { tempDir } from '../helpers/temp.js';
import { until } from '../helpers/wait.js';
import { HAVE_OPENSSL, makeSelfSignedCert } from '../helpers/tls-cert.js';

/** Runs the daemon on the demo input with the API on a free port, writing to `outPath`; resolves once the API listens. */
async function startDemoWithApi(dir: string, rate: number, outPath: string, env?: NodeJS.ProcessEnv): Promise<{ cli: RunningCli; address: string }> {
  const file = path.join(dir, 'pipeline.yaml');
  await writeFile(file, `data_dir: ${dir}/data
api: { enabled: true, address: "127.0.0.1:0" }
inputs: { demo: { type: demo, rate: ${rate} } }
outputs: { out: { type: file, inputs: [demo], path: "${outPath}" } }
`);
  const cli = startCli(['run', '-c', file], env ? { env } : {});
  await cli.waitFor(/API listening/);
  const address = logLines(cli.stderr()).find((l) => String(l.msg).startsWith('API listening'))!.address as string;
  return { cli, address };
}

/**
 * Two configs (a.yaml, b.yaml: demo -> a.log, b.log) on one data_dir, and a daemon running the first.
 */
async function firstOfTwoDaemons(): Promise<{ dir: string; first: RunningCli }> {
  const dir = await tempDir('dl-e2e-');
  const config = (name: string) => `data_dir: ${dir}/data
inputs: { demo: { type: demo, rate: 20 } }
outputs: { out: { type: file, inputs: [demo], path: ${dir}/${name}.log } }
`;
  await writeFile(path.join(dir, 'a.yaml'), config('a'));
  await writeFile(path.join(dir, 'b.yaml'), config('b'));
  const first = startCli(['run', '-c', path.join(dir, 'a.yaml')]);
  await first.waitFor(/driftlock running/);
  return { dir, first };
}

/** A port on 127.0.0.1 that another server holds, for listen failures. */
async function takenPort(): Promise<{ holder: net.Server; port: number }> {
  const holder = net.createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  return { holder, port: (holder.address() as net.AddressInfo).port };
}

/** The daemon's log lines that carry a stack trace: none for a user's mistake or the host's answer (a port in use, a data_dir it cannot use). */
function stackTraces(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.includes('"stack":'));
}

async function readJsonLines(file: string): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(file, 'utf8');
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('driftlock CLI', () => {
  it('--version prints the package version and --help lists the commands', async () => {
    const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const version = await runCli(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toBe(pkg.version);
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    for (const cmd of ['run', 'validate', 'docs']) expect(help.stdout).toMatch(new RegExp(`^\\s+${cmd}\\b`, 'm'));
  });

  it('no --help shows a default that means nothing: [] for a list, false for a flag, or the value of the terminal the help went to', async () => {
    const commands = ['run', 'validate', 'stream', 'scan', 'tap', 'top', 'test-alert', 'docs'];
    const helps = await Promise.all(commands.map(async (cmd) => ({ cmd, help: await runCli([cmd, '--help']) })));
    for (const { cmd, help } of helps) {
      expect(help.code, cmd).toBe(0);
      // Before: docs --plugin "(default: [])", stream --quiet "(default: false)".
      expect(help.stdout.replace(/\s+/g, ' '), cmd).not.toMatch(/default: (\[\]|false|true)\)/);
    }
    const flat = (cmd: string) => helps.find((h) => h.cmd === cmd)!.help.stdout.replace(/\s+/g, ' ');
    expect(flat('docs')).toContain('or a path, from the current folder (repeatable) -h');
    expect(flat('stream')).toContain('-q, --quiet no status line or summary on stderr -f');
    // Before: 'default: "json"' off a terminal, 'default: "pretty"' on one.
    expect(flat('tap')).toContain('(choices: "json", "pretty", default: pretty on a terminal, else json)');
  });

  it('a command\'s usage error points to that command\'s --help, which lists its options; one without a command to driftlock --help', async () => {
    // Before: '(run driftlock --help for usage)', whose help lists the commands, not scan's options.
    const scan = await runCli(['scan', '--bogus', 'x.log']);
    expect({ code: scan.code, stderr: scan.stderr }).toEqual({ code: 2, stderr: "error: unknown option '--bogus'\n(run driftlock scan --help for usage)\n" });
    const validate = await runCli(['validate']);
    expect(validate.stderr).toBe("error: required option '-c, --config <file>' not specified\n(run driftlock validate --help for usage)\n");
    const top = await runCli(['--bogus']);
    expect({ code: top.code, stderr: top.stderr }).toEqual({ code: 2, stderr: "error: unknown option '--bogus'\n(run driftlock --help for usage)\n" });
  });

  it('stream FILE says that stream reads standard input, with the lines to type (its options kept; scan without stream\'s -q)', async () => {
    // Before: "too many arguments for 'stream'. Expected 0 arguments but got 1."
    const one = await runCli(['stream', '--format', 'nginx', 'access.log']);
    expect({ code: one.code, stderr: one.stderr }).toEqual({
      code: 2,
      stderr: 'error: stream reads standard input, not files: tail -f access.log | driftlock stream --format nginx (or driftlock scan --format nginx access.log to read it through once)\n(run driftlock stream --help for usage)\n',
    });
    const two = await runCli(['stream', '-q', 'a.log', 'my app.log']);
    expect(two.stderr).toContain("tail -f a.log 'my app.log' | driftlock stream -q (or driftlock scan a.log 'my app.log' to read them through once)");
    // The help does not list the argument it refuses.
    expect((await runCli(['stream', '--help'])).stdout).toMatch(/^Usage: driftlock stream \[options\]$/m);
  });

  it('top --help shows the default --interval as a duration (1s): a bare number is seconds, not milliseconds', async () => {
    const help = await runCli(['top', '--help']);
    expect(help.code).toBe(0);
    // Before: "(default: 1000)", which reads as milliseconds; `-i 1000` is 1000 seconds.
    expect(help.stdout.replace(/\s+/g, ' ')).toMatch(/-i, --interval <duration> [^-]*\(default: 1s\)/);
    const dir = await tempDir('dl-e2e-');
    const { cli, address } = await startDemoWithApi(dir, 10, path.join(dir, 'out.jsonl'));
    const top = await runCli(['top', '--api', address, '-n', '1']);
    expect(top.code, top.stderr).toBe(0);
    expect(top.stdout).toContain('(every 1 s;');
    cli.child.kill('SIGTERM');
    expect((await cli.exited).code).toBe(0);
  });

  it('run FILE and validate FILE (as vector validate takes it) say to give the file with -c, and the command to type (exit 2)', async () => {
    const dir = await tempDir('dl-e2e-');
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, 'inputs: { in: { type: stdin } }\noutputs: { out: { type: console, inputs: [in] } }\n');
    for (const command of ['run', 'validate']) {
      const r = await runCli([command, file], { input: '' });
      // Before: run "too many arguments for 'run'. Expected 0 arguments but got 1."; validate "required option '-c, --config <file>' not specified".
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(`error: the pipeline file is given with -c: driftlock ${command} -c ${file}`);
    }
    const extra = await runCli(['run', '-c', file, 'other.yaml'], { input: '' });
    expect(extra.code).toBe(2);
    expect(extra.stderr).toContain("error: too many arguments for 'run': other.yaml (the pipeline file is the one given with -c)");
    const none = await runCli(['validate'], { env: { DRIFTLOCK_CONFIG: undefined } });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("error: required option '-c, --config <file>' not specified");
    // The help does not offer the argument it refuses.
    expect((await runCli(['--help'])).stdout).toMatch(/^ {2}run \[options\] +run a pipeline/m);
    expect((await runCli(['validate', '--help'])).stdout).toMatch(/^Usage: driftlock validate \[options\]$/m);
  });

  it('driftlock -c FILE (no command) says the command to type: run, or the command named after the option (exit 2)', async () => {
    const dir = await tempDir('dl-e2e-');
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, 'inputs: { in: { type: stdin } }\noutputs: { out: { type: console, inputs: [in] } }\n');
    const none = await runCli(['-c', file], { input: '' });
    // Before: "error: unknown option '-c'", neither that a command was missing nor which.
    expect(none.code).toBe(2);
    expect(none.stderr).toContain(`error: unknown option '-c' before a command; the command comes first: driftlock run -c ${file} (or driftlock validate -c ${file} to check the file)\n`);
    const long = await runCli([`--config=${file}`, '--log-level', 'debug'], { input: '' });
    expect(long.code).toBe(2);
    expect(long.stderr).toContain(`the command comes first: driftlock run --config=${file} --log-level debug (or driftlock validate`);
    const after = await runCli(['-c', file, 'validate']);
    expect(after.code).toBe(2);
    expect(after.stderr).toContain(`error: unknown option '-c' before a command; the command comes first: driftlock validate -c ${file}\n`);
    // An option no command has is still just unknown; the top-level help is as it was.
    const unknown = await runCli(['--frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("error: unknown option '--frobnicate'\n");
    expect((await runCli(['--help'])).stdout).not.toContain('-c, --config');
  });

  it('a misspelt value of an option with choices (--format, --profile) gets which one was meant (exit 2); a value far from all, the list alone', async () => {
    // Before, the list alone: "Allowed choices are sensitive, balanced, strict."
    const usage = (command: string, option: string, value: string, choices: string, meant?: string) =>
      `error: option '${option}' argument '${value}' is invalid. Allowed choices are ${choices}.${meant ? ` Did you mean "${meant}"?` : ''}\n(run driftlock ${command} --help for usage)\n`;
    // The runs side by side: each is mostly Node loading the CLI.
    const [profile, format, tap, far, help] = await Promise.all([
      runCli(['scan', '--profile', 'sensitiv', 'x.log']),
      runCli(['stream', '-f', 'jsn']),
      runCli(['tap', '--format', 'prety']),
      runCli(['tap', '--format', 'xyzzy']),
      runCli(['scan', '--help']),
    ]);
    expect({ code: profile.code, stderr: profile.stderr }).toEqual({ code: 2, stderr: usage('scan', '-p, --profile <profile>', 'sensitiv', 'sensitive, balanced, strict', 'sensitive') });
    expect({ code: format.code, stderr: format.stderr }).toEqual({ code: 2, stderr: usage('stream', '-f, --format <format>', 'jsn', 'auto, json, nginx, logfmt, syslog, text', 'json') });
    expect(tap.stderr).toBe(usage('tap', '--format <format>', 'prety', 'json, pretty', 'pretty'));
    expect(far.stderr).toBe(usage('tap', '--format <format>', 'xyzzy', 'json, pretty'));
    // The help still lists them.
    expect(help.stdout).toMatch(/--profile <profile> +sensitivity preset \(choices: "sensitive",\s+"balanced", "strict"/);
  });

  it('an unknown command is a usage error (exit 2)', async () => {
    const result = await runCli(['frobnicate']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("unknown command 'frobnicate'");
  });

  it('docs --write a file it cannot read, or one without the reference markers, says so in a line (exit 2), without a stack trace', async () => {
    const dir = await tempDir('dl-e2e-');
    const readme = path.join(dir, 'README.md');
    // Before: "driftlock: Error: ENOENT: ..." and a stack trace into main.js, exit 70 (an internal error).
    const missing = await runCli(['docs', '--write', readme]);
    // Said plainly, as scan says it (before: '... cannot read it: ENOENT: no such file or directory, open '<file>'').
    expect({ code: missing.code, stderr: missing.stderr }).toEqual({ code: 2, stderr: `driftlock docs: --write ${readme}: cannot read it: no such file\n` });
    // Before: "driftlock: Error: README has no config reference markers" and a stack trace, exit 70.
    await writeFile(readme, '# my project\n');
    const unmarked = await runCli(['docs', '--write', readme]);
    expect(unmarked.code).toBe(2);
    expect(unmarked.stderr).toBe(`driftlock docs: --write ${readme}: it has no place for the reference: a line <!-- config-reference:start (generated by \`npm run docs\`; do not edit by hand) --> and, below it, a line <!-- config-reference:end -->, between which the reference is written\n`);
    expect(await readFile(readme, 'utf8')).toBe('# my project\n');
    // With the markers: written between them.
    await writeFile(readme, '# my project\n<!-- config-reference:start (generated by `npm run docs`; do not edit by hand) -->\n<!-- config-reference:end -->\n');
    const written = await runCli(['docs', '--write', readme]);
    expect({ code: written.code, stderr: written.stderr }).toEqual({ code: 0, stderr: '' });
    expect(await readFile(readme, 'utf8')).toContain('#### `file` (input)');
  });

  it('validate accepts the embedded default config and every example pipeline', async () => {
    const result = await runCli(['validate', '-c', 'config/driftlock.yaml']);
    expect(result.stdout).toMatch(/valid \(1 input, 2 transforms, 1 output\)/);
    expect(result.code).toBe(0);
    const examples = (await readdir(path.join(ROOT, 'examples/pipelines'))).filter((f) => f.endsWith('.yaml'));
    expect(examples.length).toBeGreaterThanOrEqual(2);
    // The signing secret of the webhook example has no default: a public one would sign with a known key.
    const secret = { ALERT_WEBHOOK_SECRET: 'a-secret-of-at-least-16-chars', PAGERDUTY_ROUTING_KEY: 'R0UTINGKEY0123456789' };
    // Side by side: each run is mostly Node loading the CLI.
    const [unset, ...results] = await Promise.all([
      runCli(['validate', '-c', 'examples/pipelines/nginx-file-to-webhook.yaml']),
      ...examples.map((example) => runCli(['validate', '-c', `examples/pipelines/${example}`], { env: secret })),
    ]);
    results.forEach((r, i) => expect(r.code, `${examples[i]}: ${r.stderr}`).toBe(0));
    expect(unset.code).toBe(78);
    expect(unset.stderr).toContain('environment variable ALERT_WEBHOOK_SECRET is not set');
  });

  it('validate: a Slack URL variable set to nothing (SLACK_WEBHOOK_URL= in an environment file) is said to be empty', async () => {
    const dir = await tempDir('dl-e2e-');
    const file = path.join(dir, 'slack.yaml');
    await writeFile(file, `data_dir: ${dir}/data
inputs: { in: { type: stdin } }
outputs:
  slack:
    type: slack
    inputs: [in]
    webhook_url: \${SLACK_WEBHOOK_URL}
`);
    const empty = await runCli(['validate', '-c', file], { env: { SLACK_WEBHOOK_URL: '' } });
    expect(empty.code).toBe(78);
    // Before: "expected an https:// URL (a Slack incoming webhook): http:// or https://, ...; found a string (value hidden: secret)".
    expect(empty.stderr).toContain(`${file}:7:18: component "slack", key webhook_url: expected a Slack incoming webhook URL (https://hooks.slack.com/services/...): http:// or https://, a host, and a port from 1 to 65535 if one is given; found an empty string\n`);
    // A value that is not empty is still never quoted.
    const wrong = await runCli(['validate', '-c', file], { env: { SLACK_WEBHOOK_URL: 'hooks.slack.com/services/T0/B0/secretpart' } });
    expect(wrong.code).toBe(78);
    expect(wrong.stderr).toContain('found a string (value hidden: secret)');
    expect(wrong.stderr).not.toContain('secretpart');
  });

  it.skipIf(!HAVE_OPENSSL)('validate reads the TLS files as run does: a missing file or a key of another certificate is a problem (78)', async () => {
    const dir = await tempDir('dl-e2e-');
    const [a, b] = [makeSelfSignedCert()!, makeSelfSignedCert()!];
    const file = path.join(dir, 'tls.yaml');
    const input = (cert: string, key: string) => `  syslog_tls: { type: syslog, mode: tls, address: "127.0.0.1:0", tls: { cert_file: ${cert}, key_file: ${key} } }`;
    const pipeline = (cert: string, key: string) => `data_dir: ${dir}/data
inputs:
${input(cert, key)}
outputs: { out: { type: file, inputs: [syslog_tls], path: ${dir}/out.log } }
`;
    await writeFile(file, pipeline(a.certFile, a.keyFile));
    expect((await runCli(['validate', '-c', file])).code).toBe(0);
    // Before, both passed validate and run then refused to start (78).
    await writeFile(file, pipeline(a.certFile, b.keyFile));
    const mismatch = await runCli(['validate', '-c', file]);
    expect(mismatch.code).toBe(78);
    // At the file:line:column of its tls, as config errors are (before, the file alone).
    expect(mismatch.stderr).toContain(`driftlock: ${file}: 1 problem with TLS files:\n  ${file}:3:${input(a.certFile, b.keyFile).indexOf('{ cert_file') + 1}: input "syslog_tls" cannot start:`);
    await writeFile(file, pipeline(path.join(dir, 'nope.pem'), a.keyFile));
    const missing = await runCli(['validate', '-c', file]);
    expect(missing.code).toBe(78);
    expect(missing.stderr).toContain(`cannot read TLS certificate ${dir}/nope.pem`);
  });

  it('DRIFTLOCK_CONFIG names the pipeline when --config is not given (run and validate); --config wins over it', async () => {
    const dir = await tempDir('dl-e2e-');
    const file = path.join(dir, 'from-env.yaml');
    await writeFile(file, `data_dir: ${dir}/data\ninputs: { in: { type: stdin } }\noutputs: { out: { type: file, inputs: [in], path: ${dir}/out.log } }\n`);
    const env = { DRIFTLOCK_CONFIG: file };
    // The validate runs side by side: each is mostly Node loading the CLI. The run after them: were
    // DRIFTLOCK_CONFIG not read, it would run the embedded demo pipeline until the test's timeout.
    const [validated, flag, missing] = await Promise.all([
      runCli(['validate'], { env }),
      runCli(['validate', '-c', 'config/driftlock.yaml'], { env }),
      runCli(['validate'], { env: { DRIFTLOCK_CONFIG: path.join(dir, 'nope.yaml') } }),
    ]);
    expect(validated.code, validated.stderr).toBe(0);
    expect(validated.stdout).toContain('valid (1 input, 0 transforms, 1 output)');
    const ran = await runCli(['run'], { env, input: 'one\ntwo\n' });
    expect(ran.code, ran.stderr).toBe(0);
    expect((await readJsonLines(`${dir}/out.log`)).map((e) => e.body)).toEqual(['one', 'two']);
    expect(flag.stdout).toContain('valid (1 input, 2 transforms, 1 output)');
    expect(missing.code).toBe(78);
    expect(missing.stderr).toContain('nope.yaml');
  });

  it('a pipeline file from DRIFTLOCK_CONFIG that is missing or broken is said to come from it, by every command that reads it', async () => {
    // Before, nothing said where the path came from: a container's or a unit's, no one had typed it.
    const dir = await tempDir('dl-e2e-');
    const nope = path.join(dir, 'nope.yaml');
    const broken = path.join(dir, 'broken.yaml');
    await writeFile(broken, 'inputs: { a: { type: demo }\n');
    // The runs side by side: each is mostly Node loading the CLI.
    const fromNope = [['run'], ['validate'], ['test-alert'], ['top', '-n', '1'], ['tap', '-n', '1']].map((args) => ({ args, result: runCli(args, { env: { DRIFTLOCK_CONFIG: nope }, input: '' }) }));
    const fromBroken = [['run'], ['validate']].map((args) => ({ args, result: runCli(args, { env: { DRIFTLOCK_CONFIG: broken }, input: '' }) }));
    // Given with -c, it is not.
    const givenRun = runCli(['validate', '-c', nope], { env: { DRIFTLOCK_CONFIG: broken } });
    for (const { args, result } of fromNope) {
      const r = await result;
      expect(r.code, `${args[0]}: ${r.stderr}`).toBe(78);
      expect(r.stderr, args[0]).toBe(`driftlock: invalid configuration (from DRIFTLOCK_CONFIG)\n  ${nope}: cannot read config file: no such file\n`);
    }
    for (const { result } of fromBroken) {
      const r = await result;
      expect(r.code, r.stderr).toBe(78);
      expect(r.stderr).toMatch(new RegExp(`^driftlock: invalid configuration \\(from DRIFTLOCK_CONFIG\\)\n  ${broken}:2:1: YAML syntax error`));
    }
    const given = await givenRun;
    expect(given.stderr).toBe(`driftlock: invalid configuration\n  ${nope}: cannot read config file: no such file\n`);
  });

  it('validate warns of a file input whose include matches no file now, its folder missing or empty (exit 0)', async () => {
    const dir = await tempDir('dl-e2e-');
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(path.join(dir, 'app.log'), 'x\n');
    const app = `  app: { type: file, include: [${dir}/nope/*.log, ${dir}/*.txt, ${dir}/*.log] }`;
    await writeFile(file, `data_dir: ${dir}/data
inputs:
${app}
  other: { type: file, include: [${dir}/app.log] }
outputs: { out: { type: console, inputs: [app, other] } }
`);
    const result = await runCli(['validate', '-c', file]);
    // Before: only "valid", and a daemon that then read nothing.
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(`${file}: valid (2 inputs, 0 transforms, 1 output)\n`);
    // Each at the file:line:column of its glob, as errors are (before, the file alone).
    const at = (glob: string) => `${file}:3:${app.indexOf(glob) + 1}`;
    expect(result.stderr).toBe(`${at(`${dir}/nope/*.log`)}: warning: input "app": include "${dir}/nope/*.log" matches no file now: the folder ${dir}/nope does not exist (files that appear there later are read)
${at(`${dir}/*.txt`)}: warning: input "app": include "${dir}/*.txt" matches no file now (files that appear later are read)
`);
  });

  it('a pipeline file that is not there, or a folder, is said plainly by validate, run, tap and test-alert (exit 78)', async () => {
    const dir = await tempDir('dl-e2e-');
    const missing = path.join(dir, 'pipeline.yml');
    // Before: 'cannot read config file: ENOENT: no such file or directory, open '<file>'', the name said twice.
    // The runs side by side: each is mostly Node loading the CLI.
    const commands = [['validate', '-c', missing], ['run', '-c', missing], ['tap', '-c', missing], ['test-alert', '-c', missing]];
    // Before: 'EISDIR: illegal operation on a directory, read'.
    const [folder, ...results] = await Promise.all([runCli(['validate', '-c', dir]), ...commands.map((args) => runCli(args))]);
    results.forEach((result, i) => {
      const args = commands[i];
      expect({ args, code: result.code, stderr: result.stderr }).toEqual({ args, code: 78, stderr: `driftlock: invalid configuration\n  ${missing}: cannot read config file: no such file\n` });
    });
    expect(folder.stderr).toBe(`driftlock: invalid configuration\n  ${dir}: cannot read config file: it is a folder\n`);
  });

  it('validate reports a broken config with file:line:column and exits 78', async () => {
    const dir = await tempDir('dl-e2e-');
    const file = path.join(dir, 'broken.yaml');
    await writeFile(file, 'inputs:\n  in:\n    type: stdin\noutputs:\n  out:\n    type: console\n    inputs: [in]\n    encodng: json\n');
    const result = await runCli(['validate', '-c', file]);
    expect(result.code).toBe(78);
    expect(result.stderr).toContain(`${file}:8:5: component "out", key encodng: unknown key "encodng" (did you mean "encoding"?)`);
    const run = await runCli(['run', '-c', file]);
    expect(run.code).toBe(78);
    expect(run.stderr).toContain('unknown key "encodng"');
  });

  it('validate reports, in one run, a component\'s own wrong key and its reference to a missing input', async () => {
    const dir = await tempDir('dl-e2e-');
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, 'inputs:\n  app: { type: stdin }\ntransforms:\n  parse_app: { type: parse, inputs: [app], format: json }\noutputs:\n  out: { type: console, inputs: [parse_app] }\n  out2: { type: file, inputs: [parse_ap], path: 123 }\n');
    // The runs side by side: each is mostly Node loading the CLI.
    const commands = [['run'], ['test-alert'], ['tap'], ['top']];
    const [result, ...others] = await Promise.all([runCli(['validate', '-c', file]), ...commands.map((command) => runCli([...command, '-c', file], { input: '' }))]);
    expect(result.code).toBe(78);
    // Headed as run heads it, and as the other commands that load a pipeline file do (before, `run` alone
    // said `driftlock: `; the others began with `invalid configuration`).
    expect(result.stderr).toMatch(/^driftlock: invalid configuration \(2 problems\)\n/);
    others.forEach((other, i) => {
      expect(other.code, commands[i]![0]).toBe(78);
      expect(other.stderr, commands[i]![0]).toBe(result.stderr);
    });
    expect(result.stderr).toContain(`${file}:7:49: component "out2", key path: expected a string; found number 123`);
    expect(result.stderr).toContain(`${file}:7:32: component "out2", key inputs.0: unknown input "parse_ap" (did you mean "parse_app"?)`);
  });

  // Standard input is read one way from a pipe and another from a file (`driftlock run < app.log`).
  it.each(['a pipe', 'a file'])('stdin from %s -> parse(json) -> file: every line arrives, bad lines marked not lost, exit 0 at end of input', async (from) => {
    const dir = await tempDir('dl-e2e-');
    const out = path.join(dir, 'nested/out/events.jsonl');
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, `data_dir: ${dir}/data
inputs:
  in: { type: stdin, max_line_bytes: 4KiB }
transforms:
  parse_json: { type: parse, inputs: [in], format: json }
outputs:
  out: { type: file, inputs: [parse_json], path: ${out} }
`);
    const good = Array.from({ length: 5000 }, (_, i) => JSON.stringify({ n: i, msg: `hello ${i}` }));
    const input = Buffer.concat([
      Buffer.from(good.slice(0, 2500).join('\n') + '\n'),
      Buffer.from('{"broken": \n'),
      Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d, 0x0a]), // {"a":"\xff"}
      Buffer.from(`{"big":"${'x'.repeat(10_000)}"}\n`),
      Buffer.from(good.slice(2500).join('\r\n') + '\r\n'),
      Buffer.from('{"last":"no newline"}'),
    ]);
    expect(input.length).toBeGreaterThan(2 * 65536); // lines cut by the file reader's 64 KiB chunks
    const result = await runCli(['run', '-c', file], { input, ...(from === 'a file' ? { inputFile: path.join(dir, 'input.log') } : {}) });
    expect(result.code, result.stderr).toBe(0);
    const events = await readJsonLines(out);
    expect(events).toHaveLength(5004);
    const ns = events.map((e) => (e.body as { n?: number }).n).filter((n) => n !== undefined);
    expect(ns).toEqual(Array.from({ length: 5000 }, (_, i) => i));
    const broken = events[2500]!;
    expect(broken.body).toBe('{"broken": ');
    expect((broken.attributes as Record<string, string>)['parse.error']).toMatch(/^json: /);
    const invalid = events[2501]!;
    expect((invalid.attributes as Record<string, unknown>)['log.invalid_utf8']).toBe(true);
    expect(invalid.body).toEqual({ a: '\uFFFD' });
    const big = events[2502]!;
    expect((big.attributes as Record<string, unknown>)['log.truncated']).toBe(true);
    expect((big.attributes as Record<string, unknown>)['parse.error']).toBeDefined();
    expect(events[5003]!.body).toEqual({ last: 'no newline' });
    const components = exitSummary(result.stderr, 'all inputs finished; stopped');
    expect(components.in!.sent_events_total).toBe(5004);
    expect(components.in!.received_events_total).toBe(5004);
    expect(components.in!.malformed_events_total).toBe(2);
    expect(components.out!.sent_events_total).toBe(5004);
  });

  it('a JSON line nested 5,000 levels deep is marked, not parsed, and stops nothing: fan-out to two outputs', async () => {
    const dir = await tempDir('dl-e2e-');
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, `data_dir: ${dir}/data
inputs: { in: { type: stdin } }
transforms: { parse_json: { type: parse, inputs: [in], format: json } }
outputs:
  a: { type: file, inputs: [parse_json], path: ${dir}/a.jsonl }
  b: { type: file, inputs: [parse_json], path: ${dir}/b.jsonl }
`);
    // JSON.parse takes it, but copying it for the second output (structuredClone) or writing it
    // (JSON.stringify) overflows the stack: before, the transform died and the pipeline hung.
    const deep = '{"a":'.repeat(5000) + '1' + '}'.repeat(5000);
    const input = ['{"n":1}', deep, '{"n":2}'].join('\n') + '\n';
    const result = await runCli(['run', '-c', file], { input });
    expect(result.code, result.stderr.slice(-2000)).toBe(0);
    for (const out of ['a', 'b']) {
      const events = await readJsonLines(path.join(dir, `${out}.jsonl`));
      expect(events.map((e) => e.body)).toEqual([{ n: 1 }, deep, { n: 2 }]);
      expect((events[1]!.attributes as Record<string, string>)['parse.error']).toBe('json: JSON nested deeper than 64 levels');
    }
  });

  it('stdin: lines cut at max_line_bytes or not UTF-8 are logged, the first at once and then as sums (not a line each), and all counted, the last line too', async () => {
    const dir = await tempDir('dl-e2e-');
    const file = path.join(dir, 'pipeline.yaml');
    const out = path.join(dir, 'out.jsonl');
    await writeFile(file, `data_dir: ${dir}/data
inputs: { in: { type: stdin, max_line_bytes: 100 } }
outputs: { out: { type: file, inputs: [in], path: ${out} } }
`);
    const invalid = Buffer.from([0x62, 0x61, 0x64, 0x20, 0xe2, 0x82, 0x20, 0x78]); // "bad " and a 3-byte sequence cut after 2
    const lines: Buffer[] = [];
    for (let i = 0; i < 1000; i++) lines.push(Buffer.from(`good ${i}\n`), invalid, Buffer.from('\n'), Buffer.from(`${'y'.repeat(300)}\n`));
    lines.push(invalid); // the last line, with no newline
    const result = await runCli(['run', '-c', file], { input: Buffer.concat(lines) });
    expect(result.code, result.stderr.slice(-2000)).toBe(0);
    expect(await readJsonLines(out)).toHaveLength(3001);
    // Before: nothing in the log, and the last line not counted (2000).
    expect(exitSummary(result.stderr, 'all inputs finished; stopped').in!.malformed_events_total).toBe(2001);
    const said = (problem: string) => logLines(result.stderr).filter((l) => l.problem === problem);
    for (const [problem, first, times] of [['invalid_utf8', 2, 1001], ['line_truncated', 3, 1000]] as const) {
      const lines = said(problem);
      expect(lines.length).toBeGreaterThanOrEqual(1);
      expect(lines.length).toBeLessThanOrEqual(3);
      expect(lines[0]).toMatchObject({ component: 'in', line: first, level: 'warn' });
      // The first is logged at once, the others summed.
      expect(1 + lines.slice(1).reduce((n, l) => n + (l.occurrences as number), 0)).toBe(times);
    }
  });

  it('anomaly_detect saves its state after a burst followed by silence, so a SIGKILL then loses no baseline', async () => {
    const dir = await tempDir('dl-e2e-');
    const log = path.join(dir, 'app.log');
    await writeFile(log, Array.from({ length: 500 }, (_, i) => JSON.stringify({ msg: 'GET /api', n: i, response_time: 0.05 })).join('\n') + '\n');
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, `data_dir: ${dir}/data
inputs: { app: { type: file, include: [${log}], start_at: beginning } }
transforms: { detect: { type: anomaly_detect, inputs: [app], format: json, stream_id: app, snapshot_interval: 1s, emit: all } }
outputs: { out: { type: file, inputs: [detect], path: ${dir}/out.jsonl } }
`);
    const cli = startCli(['run', '-c', file], { stdin: 'ignore' });
    const out = path.join(dir, 'out.jsonl');
    await until(async () => existsSync(out) && (await readFile(out, 'utf8')).split('\n').length > 500, 'out.jsonl holding the 500 events of the burst', { timeoutMs: 10_000, detail: () => cli.stderr().slice(-2000) });
    // The burst is over; nothing more comes. Before, state was saved only when the next batch arrived.
    const snapshot = path.join(dir, 'data', 'detect', 'detector.json');
    await until(() => existsSync(snapshot), 'the detector state saved to data/detect/detector.json after the burst', { timeoutMs: 6_000, detail: () => cli.stderr().slice(-2000) });
    cli.child.kill('SIGKILL');
    await cli.exited;
    const state = await readDetectorState(snapshot);
    expect(state.streams.map((s) => [s.id, s.events])).toEqual([['app', 500]]);
  });

  it('what it keeps in data_dir (checkpoints, snapshots, queued alerts) is readable by its user only, whatever the umask', async () => {
    const dir = await tempDir('dl-e2e-');
    const log = path.join(dir, 'app.log');
    await writeFile(log, Array.from({ length: 300 }, (_, i) => JSON.stringify({ msg: 'login failed for alice', n: i })).join('\n') + '\n');
    // A receiver that is down: alerts stay queued in data_dir, quoting the log lines.
    const receiver = await startReceiver(() => ({ status: 503, body: 'down' }));
    const file = path.join(dir, 'pipeline.yaml');
    const out = path.join(dir, 'out.jsonl');
    await writeFile(file, `data_dir: ${dir}/data
inputs: { app: { type: file, include: [${log}], start_at: beginning, checkpoint_interval: 100ms } }
transforms: { detect: { type: anomaly_detect, inputs: [app], format: json, stream_id: app, snapshot_interval: 1s, emit: all } }
outputs:
  out: { type: file, inputs: [detect], path: ${out} }
  hook: { type: webhook, inputs: [app], url: "${receiver.url}", batch: { max_events: 1 } }
`);
    const cli = startCli(['run', '-c', file], { stdin: 'ignore' });
    const data = path.join(dir, 'data');
    const kept = [path.join(data, 'app', 'checkpoints.json'), path.join(data, 'detect', 'detector.json'), path.join(data, 'hook', 'queue')];
    await until(async () => kept.every((f) => existsSync(f)) && receiver.requests.length > 0, 'the checkpoints, snapshot and alert queue in data_dir, and a webhook request', { timeoutMs: 15_000, detail: () => cli.stderr().slice(-2000) });
    cli.child.kill('SIGTERM');
    expect((await cli.exited).code).toBe(0);
    await receiver.close();
    const modes: Array<[string, string]> = [];
    const walk = async (at: string): Promise<void> => {
      modes.push([path.relative(dir, at), ((await stat(at)).mode & 0o777).toString(8)]);
      if ((await stat(at)).isDirectory()) for (const name of await readdir(at)) await walk(path.join(at, name));
    };
    await walk(data);
    expect(modes.map(([f]) => f)).toEqual(expect.arrayContaining(['data/app/checkpoints.json', 'data/detect/detector.json', expect.stringMatching(/^data\/hook\/queue\/\d+\.log$/)]));
    expect(modes.filter(([, mode]) => mode !== '700' && mode !== '600')).toEqual([]);
  });

  it('SIGTERM stops inputs, drains in-flight events to the output, and exits 0', async () => {
    const dir = await tempDir('dl-e2e-');
    const out = path.join(dir, 'demo.jsonl');
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, `data_dir: ${dir}/data
inputs:
  demo: { type: demo, rate: 20000 }
transforms:
  parse_access: { type: parse, inputs: [demo], format: nginx }
outputs:
  out: { type: file, inputs: [parse_access], path: ${out} }
`);
    const cli = startCli(['run', '-c', file]);
    await cli.waitFor(/driftlock running/);
    await new Promise((r) => setTimeout(r, 700));
    cli.child.kill('SIGTERM');
    const result = await cli.exited;
    expect(result.code, result.stderr).toBe(0);
    const sent = exitSummary(result.stderr).demo!.sent_events_total!;
    expect(sent).toBeGreaterThan(1000);
    const events = await readJsonLines(out);
    expect(events).toHaveLength(sent);
    expect((events[0]!.body as Record<string, unknown>).status).toBeTypeOf('number');
  });

  it('a second signal exits at once when draining is stuck (stdout nobody reads)', async () => {
    const dir = await tempDir('dl-e2e-');
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, `data_dir: ${dir}/data
shutdown_timeout: 60s
inputs:
  demo: { type: demo, rate: 50000 }
outputs:
  out: { type: console, inputs: [demo] }
`);
    const cli = startCli(['run', '-c', file]);
    cli.child.stdout!.pause(); // stop reading: the pipe fills and the console output blocks
    await cli.waitFor(/driftlock running/);
    await new Promise((r) => setTimeout(r, 500));
    cli.child.kill('SIGTERM');
    await cli.waitFor(/stopping/);
    cli.child.kill('SIGTERM');
    const result = await cli.exited;
    expect(result.code).toBe(130);
    expect(result.stderr).toContain('second signal');
  });

  it('runs the embedded default pipeline (npm start): the demo stages incidents and readable alerts appear', async () => {
    const dir = await tempDir('dl-e2e-');
    // Incidents every 3 s (the first after 6 s of normal traffic: 120 events, past the balanced profile's
    // warm-up of 100) instead of every 30 s, to keep the test short.
    const cli = startCli(['run'], { cwd: dir, env: { DRIFTLOCK_DEMO_INCIDENTS_EVERY: '3s' } });
    await cli.waitFor(/▲ field_value {2}nginx-logs {2}confidence/, 'stdout', 25_000);
    cli.child.kill('SIGINT');
    const result = await cli.exited;
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^ {2}response_time [\d.]+ is \d+x its typical [\d.]+ \(p99 [\d.]+\)$/m);
    expect(result.stdout).toMatch(/^ {2}\{"timestamp":"[^"]+","remote_addr":"[\d.]+",.*"status":\d{3},/m);
    // State is saved at shutdown, so that the next start does not warm up again.
    expect(existsSync(path.join(dir, '.driftlock-data', 'detect', 'detector.json'))).toBe(true);
  });

  it('loads a plugin from a fixture folder through the CLI', async () => {
    const dir = await tempDir('dl-e2e-');
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, `data_dir: ${dir}/data
plugins: [${path.join(ROOT, 'test/fixtures/plugins/uppercase')}/index.js]
inputs: { in: { type: stdin } }
transforms: { up: { type: uppercase, inputs: [in], suffix: "?" } }
outputs:
  count: { type: line_count, inputs: [up] }
  echo: { type: console, inputs: [up], encoding: text }
`);
    const result = await runCli(['run', '-c', file], { input: 'a\nb\nc\n' });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('line_count=3');
    expect(result.stdout).toContain('A?\nB?\nC?\n');
  });

  it('a pipeline of many inputs starts and stops without a listener-leak warning', async () => {
    const dir = await tempDir('dl-e2e-');
    const file = path.join(dir, 'pipeline.yaml');
    const ids = Array.from({ length: 12 }, (_, i) => `f${i}`);
    await writeFile(file, `data_dir: ${dir}/data
inputs:
${ids.map((id) => `  ${id}: { type: file, include: [${dir}/logs-${id}/*.log] }`).join('\n')}
outputs: { out: { type: console, inputs: [${ids.join(', ')}] } }
`);
    const cli = startCli(['run', '-c', file]);
    await cli.waitFor(/driftlock running/);
    cli.child.kill('SIGTERM');
    const result = await cli.exited;
    expect(result.code, result.stderr.slice(-2000)).toBe(0);
    expect(result.stderr).not.toContain('MaxListenersExceededWarning');
  });

  it('run | head: the reader of stdout going away stops only the console output; the file output gets every line and the daemon drains', async () => {
    const dir = await tempDir('dl-e2e-');
    const out = path.join(dir, 'all.jsonl');
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, `data_dir: ${dir}/data
inputs: { app: { type: stdin } }
outputs:
  screen: { type: console, inputs: [app] }
  archive: { type: file, inputs: [app], path: ${out} }
`);
    const input = path.join(dir, 'input.log');
    await writeFile(input, Array.from({ length: 20_000 }, (_, i) => `line ${i} ${'x'.repeat(60)}`).join('\n') + '\n');
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const shell = `${q(process.execPath)} ${q(CLI)} run -c ${q(file)} < ${q(input)} | head -1 > /dev/null; echo "exit \${PIPESTATUS[0]}"`;
    const r = spawnSync('bash', ['-c', shell], { encoding: 'utf8' });
    // Before: exit 0 at the first write after head had gone, nothing drained, no summary.
    expect(r.stdout.trim(), r.stderr).toBe('exit 0');
    expect(r.stderr).toContain('cannot write to stdout; further events are rejected');
    expect(exitSummary(r.stderr, 'all inputs finished; stopped').archive!.sent_events_total).toBe(20_000);
    expect((await readFile(out, 'utf8')).split('\n').filter(Boolean)).toHaveLength(20_000);
  });

  it('exits 78 when an input cannot listen (the port is taken), instead of restarting it forever', async () => {
    const { holder, port } = await takenPort();
    try {
      const dir = await tempDir('dl-e2e-');
      const file = path.join(dir, 'pipeline.yaml');
      await writeFile(file, `data_dir: ${dir}/data
api: { enabled: true, address: "127.0.0.1:0" }
inputs: { net: { type: syslog, mode: tcp, address: "127.0.0.1:${port}" } }
outputs: { out: { type: console, inputs: [net] } }
`);
      const result = await runCli(['run', '-c', file]);
      expect(result.code, result.stderr).toBe(78);
      // What it means and what to do, the address once (before, the system's words after ours said it again:
      // "cannot listen on 127.0.0.1:P: listen EADDRINUSE: address already in use 127.0.0.1:P (another ...)").
      const said = `driftlock: input "net" cannot start: syslog cannot listen on 127.0.0.1:${port}: the port is in use (EADDRINUSE), perhaps by another driftlock: stop that process, or change its address`;
      expect(result.stderr).toContain(said);
      expect(result.stderr.split('\n').filter((l) => l.startsWith('driftlock: ')).map((l) => l.split(`127.0.0.1:${port}`).length - 1)).toEqual([1]);
      // Logged as what it is, not as a crash of a running input about to be restarted; once (before, twice:
      // "input cannot start" by the input, then "cannot start the pipeline" around it), naming the input and
      // where the file sets its address, as config errors name positions.
      const logged = logLines(result.stderr).filter((l) => l.level === 'error').map((l) => [l.msg, l.component, l.config_at, l.restart_in_ms]);
      expect(logged).toEqual([['cannot start the pipeline', 'net', `${file}:3:52`, undefined]]);
      expect(result.stderr).toContain(`change its address; address set at ${file}:3:52\n`);
      // Said in words, without a stack trace pointing into driftlock's code (before: two, one a line).
      expect(stackTraces(result.stderr)).toEqual([]);
      // The logged error says its message once, its cause only what the system said beside it (before, the
      // message three times: the StartError's, its cause's, that cause's cause's; and "name" as "type"). The
      // component is the line's `component` alone (before, also `componentId` in here: one id, two names).
      const err = logLines(result.stderr).find((l) => l.msg === 'cannot start the pipeline')!.err as Record<string, unknown>;
      expect(err).toEqual({
        type: 'StartError',
        message: `input "net" cannot start: syslog cannot listen on 127.0.0.1:${port}: the port is in use (EADDRINUSE), perhaps by another driftlock: stop that process, or change its address`,
        cause: { type: 'Error', code: 'EADDRINUSE', errno: expect.any(Number), syscall: 'listen', address: '127.0.0.1', port },
      });
      // The API's own port taken: the same, said in one line.
      await writeFile(file, `data_dir: ${dir}/data
api: { enabled: true, address: "127.0.0.1:${port}" }
inputs: { in: { type: stdin } }
outputs: { out: { type: console, inputs: [in] } }
`);
      const api = await runCli(['run', '-c', file], { input: '' });
      expect(api.code, api.stderr).toBe(78);
      expect(api.stderr).toContain(`driftlock: cannot start: the API cannot listen on 127.0.0.1:${port}: the port is in use (EADDRINUSE), perhaps by another driftlock: stop that process, or change api.address\n`);
      // Logged in the same words, the system's error as its cause (before, its message alone: "listen
      // EADDRINUSE: address already in use 127.0.0.1:P", without what to do).
      expect(logLines(api.stderr).find((l) => l.msg === 'cannot start the pipeline')!.err).toEqual({
        type: 'Error',
        message: `the API cannot listen on 127.0.0.1:${port}: the port is in use (EADDRINUSE), perhaps by another driftlock: stop that process, or change api.address`,
        cause: { type: 'Error', code: 'EADDRINUSE', errno: expect.any(Number), syscall: 'listen', address: '127.0.0.1', port },
      });
      expect(stackTraces(api.stderr)).toEqual([]);
    } finally {
      holder.close();
    }
  });

  it.skipIf(!existsSync('/usr/bin/script'))('on a terminal, a start that fails is said once, in its line (the readable log does not say it again above)', async () => {
    const { holder, port } = await takenPort();
    try {
      const dir = await tempDir('dl-e2e-');
      const file = path.join(dir, 'pipeline.yaml');
      const inputs = `inputs: { net: { type: syslog, mode: tcp, address: "127.0.0.1:${port}" } }`;
      await writeFile(file, `data_dir: ${dir}/data\n${inputs}\noutputs: { out: { type: console, inputs: [net] } }\n`);
      // util-linux `script` gives the daemon a pseudo-terminal: its logs are pino-pretty's.
      const result = await new Promise<{ code: number | null; out: string }>((resolve) => {
        const child = spawnForTest('script', ['-qec', `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} run -c ${JSON.stringify(file)}`, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
        child.on('close', (code) => resolve({ code, out }));
      });
      // eslint-disable-next-line no-control-regex
      const plain = result.out.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').replace(/\r/g, '');
      expect(result.code, plain).toBe(78);
      // Before: the readable log's 'ERROR: cannot start the pipeline' with its err (the message in full),
      // then this line: twice, one under the other.
      expect(plain).toBe(`driftlock: input "net" cannot start: syslog cannot listen on 127.0.0.1:${port}: the port is in use (EADDRINUSE), perhaps by another driftlock: stop that process, or change its address; address set at ${file}:2:${inputs.indexOf('"127') + 1}\n`);
    } finally {
      holder.close();
    }
  });

  it('a reload whose new input cannot listen logs it once, naming the input and where its address is set', async () => {
    const { holder, port } = await takenPort();
    try {
      const dir = await tempDir('dl-e2e-');
      const file = path.join(dir, 'pipeline.yaml');
      const pipeline = (extra: string) => `data_dir: ${dir}/data
inputs:
  demo: { type: demo, rate: 20 }${extra}
outputs: { out: { type: file, inputs: [demo${extra ? ', net' : ''}], path: ${dir}/out.log } }
`;
      await writeFile(file, pipeline(''));
      const cli = startCli(['run', '-c', file]);
      await cli.waitFor(/driftlock running/);
      await writeFile(file, pipeline(`\n  net:\n    type: syslog\n    address: "127.0.0.1:${port}"`));
      cli.child.kill('SIGHUP');
      await cli.waitFor(/SIGHUP: the new pipeline cannot start; starting the previous config again/);
      // Before: "input cannot start" by the input, then the reload's line around the same error.
      const errors = logLines(cli.stderr()).filter((l) => l.level === 'error').map((l) => [l.msg, l.component, l.config_at]);
      expect(errors).toEqual([['SIGHUP: the new pipeline cannot start; starting the previous config again', 'net', `${file}:6:14`]]);
      cli.child.kill('SIGTERM');
      expect((await cli.exited).code).toBe(0);
    } finally {
      holder.close();
    }
  });

  it('/health answers 503 degraded, naming the component, while a file output cannot write, and ok once it can', async () => {
    const dir = await tempDir('dl-e2e-');
    const blocker = path.join(dir, 'not-a-folder');
    await writeFile(blocker, '');
    // The path holds a substituted secret: /health masks it as the logs do.
    const { cli, address } = await startDemoWithApi(dir, 50, `${blocker}/out-\${OUT_TOKEN}.log`, { OUT_TOKEN: 'tok-s3cr3t-value' });
    await cli.waitFor(/cannot write .*; retrying/);
    const bad = await fetch(`http://${address}/health`);
    expect(bad.status).toBe(503);
    const body = (await bad.json()) as { status: string; failing: Array<{ component: string; last_error: string }> };
    expect(body.status).toBe('degraded');
    expect(body.failing.map((f) => f.component)).toEqual(['out']);
    expect(body.failing[0]!.last_error).toContain('not-a-folder/out-<redacted>.log');
    expect(JSON.stringify(body)).not.toContain('s3cr3t');
    // Kubernetes' probes: not ready (/readyz is /health), but alive: a liveness probe must not restart it.
    expect((await fetch(`http://${address}/readyz`)).status).toBe(503);
    const live = await fetch(`http://${address}/livez`);
    expect(live.status).toBe(200);
    expect(await live.json()).toEqual({ status: 'alive', state: 'running' });
    await rm(blocker);
    await cli.waitFor(/writing to the output file works again/);
    const good = await fetch(`http://${address}/health`);
    expect(good.status).toBe(200);
    expect(await good.json()).toEqual({ status: 'ok' });
    cli.child.kill('SIGTERM');
    expect((await cli.exited).code).toBe(0);
  });

  it('refuses a second daemon on the same data_dir (exit 78), and takes over the lock of a killed one', async () => {
    const { dir, first } = await firstOfTwoDaemons();
    const second = await runCli(['run', '-c', path.join(dir, 'b.yaml')]);
    expect(second.code, second.stderr).toBe(78);
    expect(stackTraces(second.stderr)).toEqual([]);
    // Its daemon answers on the lock socket: refused at once, saying where data_dir is set. Before, it waited 7 s
    // for a lock that a running daemon keeps fresh.
    expect(second.stderr).toContain(`driftlock: data_dir ${dir}/data (${path.join(dir, 'b.yaml')}:1:11) is in use by another driftlock (PID ${first.child.pid} on this host`);
    expect(second.stderr).toContain(`its daemon answers on ${dir}/data/driftlock.lock.sock`);
    expect(second.stderr).not.toContain('waiting up to 7 s');
    // Killed without a chance to let go: the lock goes stale and the next daemon takes it over.
    first.child.kill('SIGKILL');
    await first.exited;
    const third = startCli(['run', '-c', path.join(dir, 'b.yaml')]);
    await third.waitFor(/driftlock running/, 'stderr', 20_000);
    third.child.kill('SIGTERM');
    expect((await third.exited).code).toBe(0);
    // Released at exit: the next start takes it at once.
    const fourth = startCli(['run', '-c', path.join(dir, 'a.yaml')]);
    await fourth.waitFor(/driftlock running/, 'stderr', 3_000);
    fourth.child.kill('SIGTERM');
    expect((await fourth.exited).code).toBe(0);
  }, 30_000);

  it('the summary logged at exit leaves out what is 0, gauges too', async () => {
    const dir = await tempDir('dl-e2e-');
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, `data_dir: ${dir}/data
inputs: { g: { type: demo, rate: 1000, count: 20 } }
transforms: { p: { type: parse, inputs: [g], format: json } }
outputs: { o: { type: file, inputs: [p], path: ${dir}/out.jsonl } }
`);
    const result = await runCli(['run', '-c', file]);
    expect(result.code, result.stderr).toBe(0);
    const summary = exitSummary(result.stderr, 'all inputs finished; stopped');
    // Drained at exit: the buffers are empty, and nothing was dropped, rejected or malformed.
    expect(summary).toEqual({
      g: { received_events_total: 20, sent_events_total: 20 },
      p: { received_events_total: 20, sent_events_total: 20 },
      o: { received_events_total: 20, sent_events_total: 20 },
    });
  });

  it('the demo input stops at exactly count lines, staged incidents and spike included', async () => {
    const dir = await tempDir('dl-e2e-');
    const file = path.join(dir, 'pipeline.yaml');
    // Incidents every 500 ms from 1 s: slow responses, 503s, an injection, then a spike (20x) until the end.
    await writeFile(file, `log_level: warn
data_dir: ${dir}/data
inputs: { g: { type: demo, rate: 1000, count: 3000, incident_interval: 500ms } }
outputs: { o: { type: console, inputs: [g], encoding: text } }
`);
    const cli = startCli(['run', '-c', file]);
    const timer = setTimeout(() => cli.child.kill('SIGKILL'), 20_000);
    const result = await cli.exited;
    clearTimeout(timer);
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.split('\n').filter(Boolean);
    expect(lines.some((l) => l.includes('"status":503'))).toBe(true);
    expect(lines.some((l) => l.includes('UNION SELECT'))).toBe(true);
    expect(lines).toHaveLength(3000);
  });

  it('a data_dir that cannot be a folder is named, with where the config sets it and why, and exits 78 at once', async () => {
    const dir = await tempDir('dl-e2e-');
    await writeFile(path.join(dir, 'plain'), 'a file\n');
    const attempt = async (dataDir: string | undefined) => {
      const file = path.join(dir, 'pipeline.yaml');
      await writeFile(file, `${dataDir === undefined ? '' : `log_level: warn\ndata_dir: ${dataDir}\n`}inputs: { g: { type: demo, count: 1 } }\noutputs: { o: { type: console, inputs: [g] } }\n`);
      // Under /proc, Node's recursive mkdir used to loop forever: the run is ended rather than waited for.
      const cli = startCli(['run', '-c', file], { cwd: dir });
      const timer = setTimeout(() => cli.child.kill('SIGKILL'), 10_000);
      const result = await cli.exited;
      clearTimeout(timer);
      expect(result.code, result.stderr).toBe(78);
      expect(stackTraces(result.stderr)).toEqual([]);
      // The folder is the line's data_dir alone (before, also the error's own `dataDir`: one path, two names).
      const logged = logLines(result.stderr).find((l) => l.msg === 'cannot start: data_dir')!;
      expect(logged.data_dir).toEqual(expect.any(String));
      expect(Object.keys(logged.err as object)).toEqual(['type', 'message', 'cause']);
      return result.stderr.split('\n').filter((l) => l.startsWith('driftlock: '));
    };
    const file = path.join(dir, 'pipeline.yaml');
    expect(await attempt(path.join(dir, 'plain'))).toEqual([
      `driftlock: data_dir ${dir}/plain (${file}:2:11) cannot be used: it is a file, not a folder: EEXIST: file already exists, mkdir '${dir}/plain'`,
    ]);
    expect(await attempt(path.join(dir, 'plain/state'))).toEqual([
      `driftlock: data_dir ${dir}/plain/state (${file}:2:11) cannot be used: ${dir}/plain is a file, not a folder: ENOTDIR: not a directory, mkdir '${dir}/plain/state'`,
    ]);
    expect(await attempt('/proc/driftlock-test/state')).toEqual([
      "driftlock: data_dir /proc/driftlock-test/state (" + file + ":2:11) cannot be used: /proc does not take new folders: ENOENT: no such file or directory, mkdir '/proc/driftlock-test'",
    ]);
    // Not set: the default, relative to the working directory, and the file that does not set it.
    await writeFile(path.join(dir, '.driftlock-data'), '');
    expect(await attempt(undefined)).toEqual([
      `driftlock: data_dir ${dir}/.driftlock-data (the default; ${file} sets none) cannot be used: it is a file, not a folder: EEXIST: file already exists, mkdir '${dir}/.driftlock-data'`,
    ]);
  }, 60_000);

  // Root may write anywhere: the CLI is run as nobody (uid 65534), where setpriv can and that user can run it.
  const asNobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
  const nobodyRuns = process.getuid?.() === 0 && spawnSync(asNobody[0]!, [...asNobody.slice(1), process.execPath, CLI, '--version']).status === 0;
  it.skipIf(!nobodyRuns)('a data_dir its user may not create names the folder that refuses, the user, and what to do (exit 78)', async () => {
    const dir = await tempDir('dl-e2e-');
    await mkdir(path.join(dir, 'parent'));
    const file = path.join(dir, 'pipeline.yaml');
    const dataDir = path.join(dir, 'parent/sub/data');
    await writeFile(file, `data_dir: ${dataDir}\ninputs: { in: { type: stdin } }\noutputs: { out: { type: console, inputs: [in] } }\n`);
    // Readable by nobody; `parent` (root's, 755) refuses it new folders.
    for (const folder of [dir, path.join(dir, 'parent')]) await chmod(folder, 0o755);
    await chmod(file, 0o644);
    const name = spawnSync('id', ['-nu', '65534'], { encoding: 'utf8' }).stdout.trim();
    const run = () => spawnSync(asNobody[0]!, [...asNobody.slice(1), process.execPath, CLI, 'run', '-c', file], { encoding: 'utf8', input: '', timeout: 15_000 });
    const refused = run();
    expect(refused.status, refused.stderr).toBe(78);
    // Before: "cannot be used: permission denied: EACCES: permission denied, mkdir '<dir>/parent/sub'", naming the
    // folder not made yet, neither the one that refused, nor the user, nor what to do.
    expect(refused.stderr).toContain(`driftlock: data_dir ${dataDir} (${file}:1:11) cannot be used: ${dir}/parent does not let user ${name} (uid 65534) create folders in it (create ${dataDir} and give ${name} write access to it, or choose a folder ${name} can write): EACCES: permission denied, mkdir '${dir}/parent/sub'\n`);
    // The folder that refuses is data_dir's own parent: the same.
    await writeFile(file, `data_dir: ${dir}/parent/data\ninputs: { in: { type: stdin } }\noutputs: { out: { type: console, inputs: [in] } }\n`);
    const child = run();
    expect(child.status, child.stderr).toBe(78);
    expect(child.stderr).toContain(`cannot be used: ${dir}/parent does not let user ${name} (uid 65534) create folders in it (create ${dir}/parent/data and give ${name} write access to it, or choose a folder ${name} can write): EACCES: permission denied, mkdir '${dir}/parent/data'\n`);
    await writeFile(file, `data_dir: ${dataDir}\ninputs: { in: { type: stdin } }\noutputs: { out: { type: console, inputs: [in] } }\n`);
    // There, but not writable by it: the folder itself is named so.
    await mkdir(dataDir, { recursive: true });
    await chmod(dataDir, 0o755);
    const notWritable = run();
    expect(notWritable.status, notWritable.stderr).toBe(78);
    expect(notWritable.stderr).toContain(`cannot be used: it does not let user ${name} (uid 65534) write in it (give ${name} write access to ${dataDir}, or choose a folder ${name} can write): EACCES`);
    expect(stackTraces(refused.stderr + notWritable.stderr)).toEqual([]);
  });

  it.skipIf(!nobodyRuns)('an include folder its user may not read is said so, with the user and what to do (validate and run), not as a glob that matches no file yet', async () => {
    const dir = await tempDir('dl-e2e-');
    const logs = path.join(dir, 'logs');
    await mkdir(logs);
    await writeFile(path.join(logs, 'app.log'), 'one\n');
    await mkdir(path.join(dir, 'data'));
    // The pipeline and data_dir nobody's; the logs folder root's alone (700).
    spawnSync('chown', ['65534', path.join(dir, 'data')]);
    for (const folder of [dir, path.join(dir, 'data')]) await chmod(folder, 0o755);
    await chmod(logs, 0o700);
    const file = path.join(dir, 'pipeline.yaml');
    const line = `inputs: { app: { type: file, include: [${logs}/*.log] } }`;
    await writeFile(file, `data_dir: ${dir}/data\n${line}\noutputs: { out: { type: console, inputs: [app] } }\n`);
    await chmod(file, 0o644);
    const name = spawnSync('id', ['-nu', '65534'], { encoding: 'utf8' }).stdout.trim();
    const said = `the folder ${logs} cannot be read by user ${name} (uid 65534): no file in it is read until it can be (give ${name} read access to it, or run driftlock as a user who can read it)`;
    // Before: 'include "<logs>/*.log" matches no file now (files that appear later are read)'.
    const validate = spawnSync(asNobody[0]!, [...asNobody.slice(1), process.execPath, CLI, 'validate', '-c', file], { encoding: 'utf8', timeout: 15_000 });
    expect(validate.status, validate.stderr).toBe(0);
    expect(validate.stderr).toBe(`${file}:2:${line.indexOf(logs) + 1}: warning: input "app": include "${logs}/*.log" matches no file it can read: ${said} (EACCES)\n`);
    // Before: 'no file matches include yet; waiting for one to appear', then 'file watcher error; the periodic scan keeps finding files'.
    const run = spawnSync(asNobody[0]!, [...asNobody.slice(1), process.execPath, CLI, 'run', '-c', file], { encoding: 'utf8', input: '', timeout: 5_000, killSignal: 'SIGTERM' });
    const warned = logLines(run.stderr).filter((l) => l.level === 'warn' || l.level === 'error');
    expect(warned.map((l) => [l.msg, l.folder])).toEqual([[`cannot read an include folder: ${said}`, logs]]);
  });

  it('SIGHUP reloads the config: the new pipeline runs on the same data_dir; a broken config leaves it running', async () => {
    const dir = await tempDir('dl-e2e-');
    const file = path.join(dir, 'pipeline.yaml');
    const log = path.join(dir, 'app.log');
    const config = (out: string) => `data_dir: ${dir}/data
inputs: { app: { type: file, include: [${log}], start_at: beginning } }
outputs: { out: { type: file, inputs: [app], path: ${dir}/${out}, encoding: text } }
`;
    await writeFile(log, 'one\ntwo\n');
    await writeFile(file, config('a.log'));
    const cli = startCli(['run', '-c', file]);
    try {
      await cli.waitFor(/driftlock running/);
      const lines = async (name: string) => (existsSync(path.join(dir, name)) ? (await readFile(path.join(dir, name), 'utf8')).split('\n').filter(Boolean) : []);
      await until(async () => (await lines('a.log')).length === 2, 'a.log holding 2 lines', { timeoutMs: 15_000, detail: () => cli.stderr().slice(-2000) });
      // The output moves to b.log: what the file input reads after the reload goes there, from its checkpoint.
      await writeFile(file, config('b.log'));
      cli.child.kill('SIGHUP');
      await cli.waitFor(/config reloaded: the new pipeline is running/);
      await appendFile(log, 'three\n');
      await until(async () => (await lines('b.log')).length === 1, 'b.log holding 1 line after the reload', { timeoutMs: 15_000, detail: () => cli.stderr().slice(-2000) });
      expect(await lines('a.log')).toEqual(['one', 'two']);
      expect(await lines('b.log')).toEqual(['three']);
      // A config that does not load: said, and the running pipeline goes on.
      await writeFile(file, config('c.log').replace('type: file, include', 'type: fiel, include'));
      cli.child.kill('SIGHUP');
      await cli.waitFor(/SIGHUP: the config does not load; the running pipeline goes on unchanged/);
      // One line of msg, the problems a list of one-line items (before: "...unchanged\ninvalid configuration\n  <file>:2:...", one msg).
      const refused = logLines(cli.stderr()).find((l) => String(l.msg).startsWith('SIGHUP: the config does not load'))!;
      expect(refused.msg).toBe('SIGHUP: the config does not load; the running pipeline goes on unchanged');
      expect(refused.problems).toEqual([expect.stringContaining(`${file}:2:`)]);
      expect((refused.problems as string[])[0]).toContain('component "app", key type: unknown input type "fiel"');
      await appendFile(log, 'four\n');
      await until(async () => (await lines('b.log')).length === 2, 'b.log holding 2 lines after the refused reload', { timeoutMs: 15_000, detail: () => cli.stderr().slice(-2000) });
      expect(existsSync(path.join(dir, 'c.log'))).toBe(false);
    } finally {
      cli.child.kill('SIGTERM');
    }
    const result = await cli.exited;
    expect(result.code, result.stderr.slice(-2000)).toBe(0);
    // The summary at exit counts the whole run: two lines before the reload, two after.
    const components = exitSummary(result.stderr);
    expect(components.app!.sent_events_total).toBe(4);
    expect(components.out!.sent_events_total).toBe(4);
  });

  it('signals that come while a clean stop ends (up to the exit) do not kill it: exit 0', async () => {
    const dir = await tempDir('dl-e2e-');
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, `data_dir: ${dir}/data
inputs: { demo: { type: demo, rate: 50 } }
outputs: { out: { type: file, inputs: [demo], path: ${dir}/out.log } }
`);
    const cli = startCli(['run', '-c', file]);
    await cli.waitFor(/driftlock running/);
    cli.child.kill('SIGTERM');
    // SIGHUPs without pause until the process is gone: one lands in the last moments, after the pipeline
    // stopped (before, the handlers were gone by then and the default action killed it: exit 129).
    while (cli.child.exitCode === null && cli.child.signalCode === null) {
      cli.child.kill('SIGHUP');
      await new Promise((r) => setImmediate(r));
    }
    const result = await cli.exited;
    expect({ code: result.code, signal: result.signal }).toEqual({ code: 0, signal: null });
    expect(result.stderr).toContain('"msg":"stopped"');
  });

  it('a SIGHUP before the pipeline runs (waiting for the data_dir lock) is not fatal: the config is read again once it runs', async () => {
    const dir = await tempDir('dl-e2e-');
    const file = path.join(dir, 'pipeline.yaml');
    const config = (out: string) => `data_dir: ${dir}/data
inputs: { demo: { type: demo, rate: 20 } }
outputs: { out: { type: file, inputs: [demo], path: ${dir}/${out} } }
`;
    await writeFile(file, config('a.log'));
    // A lock left fresh by a daemon just killed: the start waits for it to go stale (about 5 s).
    await mkdir(path.join(dir, 'data', 'driftlock.lock'), { recursive: true });
    const cli = startCli(['run', '-c', file]);
    try {
      await cli.waitFor(/the data_dir lock is held; waiting/);
      // Edited and reloaded while the daemon starts (a config tool's write, then `systemctl reload`): the
      // file was read before the edit. Before, the SIGHUP was ignored and the edit never ran.
      await writeFile(file, config('b.log'));
      cli.child.kill('SIGHUP');
      await cli.waitFor(/SIGHUP while starting: the config will be read again once the pipeline runs/);
      await cli.waitFor(/config reloaded/, 'stderr', 20_000);
      await until(async () => existsSync(path.join(dir, 'b.log')) && (await readFile(path.join(dir, 'b.log'), 'utf8')).length > 0, 'b.log, the reloaded config\'s output, getting lines', {
        timeoutMs: 15_000,
        detail: () => cli.stderr().slice(-2000),
      });
    } finally {
      cli.child.kill('SIGTERM');
    }
    expect((await cli.exited).code).toBe(0);
  }, 30_000);

  it('a SIGTERM while a reload drains a stuck output exits within the shutdown timeout (1), not never', async () => {
    const dir = await tempDir('dl-e2e-');
    // An output that never finishes a batch, nor stops: only the shutdown timeout ends it.
    await writeFile(path.join(dir, 'stuck.mjs'), `export default ({ z, defineOutput }) => [
  defineOutput({ type: 'stuck', description: 'never finishes', config: z.object({}), build() { return { async consume(batches) { for await (const b of batches) await new Promise(() => {}); } }; } }),
];
`);
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, `data_dir: ${dir}/data
shutdown_timeout: 2s
plugins: [./stuck.mjs]
inputs: { demo: { type: demo, rate: 20 } }
outputs: { out: { type: stuck, inputs: [demo] } }
`);
    // Plain SIGTERM first: before, the process exited 0 at once, saying nothing (its only timer was unref'd).
    const plain = startCli(['run', '-c', file]);
    await plain.waitFor(/driftlock running/);
    plain.child.kill('SIGTERM');
    const first = await plain.exited;
    expect(first.code, first.stderr.slice(-2000)).toBe(1);
    expect(first.stderr).toContain('shutdown timeout reached before all events drained');
    const cli = startCli(['run', '-c', file]);
    try {
      await cli.waitFor(/driftlock running/);
      // A change (an unchanged config is not rebuilt): the stuck output is drained and built anew.
      await writeFile(file, (await readFile(file, 'utf8')).replace('inputs: [demo] }', 'inputs: [demo], buffer: { max_events: 5000 } }'));
      cli.child.kill('SIGHUP');
      await cli.waitFor(/reloading the config: draining/);
      const stopAt = performance.now();
      cli.child.kill('SIGTERM');
      const result = await cli.exited;
      expect(result.code, result.stderr.slice(-2000)).toBe(1);
      expect(performance.now() - stopAt).toBeLessThan(8_000);
    } finally {
      cli.child.kill('SIGKILL');
    }
  }, 30_000);

  it('/health says 503 reloading while a reload drains (a slow receiver), and ok after; a SIGTERM then exits 0', async () => {
    const receiver = await startReceiver(() => ({ status: 200, body: 'ok', delayMs: 400 }));
    const dir = await tempDir('dl-e2e-');
    const file = path.join(dir, 'pipeline.yaml');
    const log = path.join(dir, 'app.log');
    await writeFile(log, 'a\nb\nc\nd\n');
    await writeFile(file, `data_dir: ${dir}/data
api: { enabled: true, address: "127.0.0.1:0" }
inputs: { app: { type: file, include: [${log}], start_at: beginning } }
outputs: { hook: { type: webhook, inputs: [app], url: "${receiver.url}", batch: { max_events: 1 } } }
`);
    const cli = startCli(['run', '-c', file]);
    try {
      await cli.waitFor(/API listening/);
      const address = logLines(cli.stderr()).find((l) => String(l.msg).startsWith('API listening'))!.address as string;
      await receiver.waitFor(() => receiver.requests.length >= 1, 10_000, 'the first request');
      // A change (an unchanged config is not rebuilt): the webhook output drains and is built anew.
      await writeFile(file, (await readFile(file, 'utf8')).replace('batch: { max_events: 1 }', 'batch: { max_events: 1 }, buffer: { max_events: 5000 }'));
      cli.child.kill('SIGHUP');
      const seen: string[] = [];
      const liveSeen: string[] = [];
      while (!cli.stderr().includes('config reloaded')) {
        const res = await fetch(`http://${address}/health`);
        seen.push(`${res.status} ${(await res.json() as { status: string }).status}`);
        const live = await fetch(`http://${address}/livez`);
        liveSeen.push(`${live.status} ${(await live.json() as { state: string }).state}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(seen).toContain('503 reloading');
      expect(liveSeen).toContain('200 reloading');
      expect(liveSeen.filter((l) => !l.startsWith('200 '))).toEqual([]);
      const after = await fetch(`http://${address}/health`);
      expect(after.status).toBe(200);
    } finally {
      cli.child.kill('SIGTERM');
      await receiver.close();
    }
    expect((await cli.exited).code).toBe(0);
  });

  it('a daemon paused until another took over its data_dir: on waking, one of the two exits 75 at once, never both run on', async () => {
    const { dir, first } = await firstOfTwoDaemons();
    // Paused (Ctrl-Z, docker pause): its lock goes stale and a second daemon takes the folder over.
    first.child.kill('SIGSTOP');
    const second = startCli(['run', '-c', path.join(dir, 'b.yaml')]);
    try {
      await second.waitFor(/driftlock running/, 'stderr', 20_000);
      first.child.kill('SIGCONT');
      // Almost always the woken one finds its lock taken and exits. If it was paused in the middle of a
      // refresh, that refresh lands on the new lock and the second finds it changed: the second exits then.
      const gone = await Promise.race([first.exited.then((r) => ({ who: 'first', r })), second.exited.then((r) => ({ who: 'second', r }))]);
      expect(gone.r.code).toBe(75);
      expect(gone.r.stderr).toContain(`driftlock: lost the lock of data_dir ${dir}/data; exiting at once without saving`);
      const survivor = gone.who === 'first' ? second : first;
      // The one that lost the lock left the survivor's owner file alone (it names who holds the folder).
      expect(JSON.parse(await readFile(path.join(dir, 'data', 'driftlock.lock.owner'), 'utf8')).pid).toBe(survivor.child.pid);
      // The one that exited writes no more; the other runs on.
      const out = path.join(dir, gone.who === 'first' ? 'a.log' : 'b.log');
      const size = existsSync(out) ? (await stat(out)).size : 0;
      await new Promise((r) => setTimeout(r, 500));
      expect(existsSync(out) ? (await stat(out)).size : 0).toBe(size);
      expect(survivor.child.exitCode).toBeNull();
      survivor.child.kill('SIGTERM');
      expect((await survivor.exited).code).toBe(0);
    } finally {
      first.child.kill('SIGCONT');
      first.child.kill('SIGKILL');
      second.child.kill('SIGKILL');
    }
  }, 40_000);

  it('says which component could not be built when its build throws (exit 78)', async () => {
    const dir = await tempDir('dl-e2e-');
    await writeFile(path.join(dir, 'plugin.mjs'), `export default ({ z, defineOutput }) => [defineOutput({
  type: 'backend', description: 'Fails to build.', config: z.object({}),
  build() { throw new Error('cannot connect to backend X'); },
})];
`);
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, `data_dir: ${dir}/data
plugins: [./plugin.mjs]
inputs: { in: { type: stdin } }
outputs: { out: { type: backend, inputs: [in] } }
`);
    const result = await runCli(['run', '-c', file], { input: 'x\n' });
    expect(result.code).toBe(78);
    expect(result.stderr).toContain('driftlock: output "out" cannot start: cannot connect to backend X');
    // A plugin's own error may be its bug: its stack is kept (the start error around it, driftlock's words, has none).
    const logged = logLines(result.stderr).find((l) => l.msg === 'cannot start the pipeline')!.err as { stack?: string; cause: { message?: string; stack?: string } };
    expect(logged.stack).toBeUndefined();
    expect(logged.cause.stack).toContain('plugin.mjs');
    // Its message is the start error's already: not written again (its stack, which begins with it, says it).
    expect(logged.cause.message).toBeUndefined();
  });

  it('never writes the value of a substituted environment variable to its logs', async () => {
    const dir = await tempDir('dl-e2e-');
    const file = path.join(dir, 'pipeline.yaml');
    const token = 'xoxb-SECRET-0123456789';
    await writeFile(file, `data_dir: ${dir}/data
inputs: { in: { type: stdin } }
outputs: { out: { type: file, inputs: [in], path: "${dir}/\${TOKEN}.log" } }
`);
    const result = await runCli(['run', '-c', file, '--log-level', 'debug'], { input: 'x\n', env: { TOKEN: token } });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('building component');
    expect(result.stderr).not.toContain(token);
    expect(result.stderr).toContain('<redacted>');
  });

  it('serves /health and /metrics when the API is enabled', async () => {
    const dir = await tempDir('dl-e2e-');
    const { cli, address } = await startDemoWithApi(dir, 100, `${dir}/out.log`);
    await cli.waitFor(/driftlock running/);
    const health = await fetch(`http://${address}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    await new Promise((r) => setTimeout(r, 300));
    const metrics = await (await fetch(`http://${address}/metrics`)).text();
    const m = /driftlock_sent_events_total\{component_id="demo",component_kind="input",component_type="demo"\} (\d+)/.exec(metrics);
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(0);
    expect(metrics).toContain('driftlock_buffer_events{component_id="out"');
    // Types as Prometheus reads them: every *_total is a counter (a buffer's dropped events too), depths are gauges.
    const types = new Map([...metrics.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((t) => [t[1]!, t[2]!]));
    expect(types.get('driftlock_discarded_events_total')).toBe('counter');
    expect(types.get('driftlock_buffer_events')).toBe('gauge');
    for (const [name, type] of types) if (name.endsWith('_total')) expect(type, name).toBe('counter');
    // Error counters exist from the start, at 0, so that increase() and absent() can be alerted on.
    expect(metrics).toMatch(/^driftlock_errors_total\{component_id="demo",component_kind="input",component_type="demo"\} 0$/m);
    expect(metrics).toMatch(/^driftlock_restarts_total\{component_id="out",component_kind="output",component_type="file"\} 0$/m);
    expect(metrics).not.toMatch(/^# HELP (\S+) \1$/m); // every series has a description, not its own name
    cli.child.kill('SIGTERM');
    expect((await cli.exited).code).toBe(0);
  });

  it('describes on /metrics every series of every built-in component type', async () => {
    // Before, the file input's deferred_opens_total and file_lost_bytes_total and redact's three series had
    // their own name as their HELP text.
    const dir = await tempDir('dl-e2e-');
    await writeFile(path.join(dir, 'app.log'), 'a line\n');
    const receiver = await startReceiver(() => ({ status: 200, body: 'ok' }));
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, `data_dir: ${dir}/data
api: { enabled: true, address: "127.0.0.1:0" }
inputs:
  demo: { type: demo, rate: 20 }
  files: { type: file, include: ["${dir}/*.log"], start_at: beginning }
  stdin: { type: stdin }
  udp: { type: syslog, mode: udp, address: "127.0.0.1:0" }
  tcp: { type: syslog, mode: tcp, address: "127.0.0.1:0" }
  otlp: { type: otlp_grpc, address: "127.0.0.1:0" }
  forward: { type: fluent_forward, address: "127.0.0.1:0" }
transforms:
  parse: { type: parse, inputs: [demo], format: nginx }
  keep: { type: filter, inputs: [parse], min_severity: DEBUG }
  scrub: { type: redact, inputs: [keep, files, stdin, udp, tcp, otlp, forward], patterns: [credentials, ip], custom: [hunter2], remove: [body.cookie] }
  detect: { type: anomaly_detect, inputs: [scrub], stream_id: "{body.service}" }
outputs:
  screen: { type: console, inputs: [detect] }
  archive: { type: file, inputs: [detect], path: "${dir}/out.jsonl" }
  slack: { type: slack, inputs: [detect], webhook_url: "${receiver.url}/slack" }
  hook: { type: webhook, inputs: [detect], url: "${receiver.url}/hook" }
`);
    const cli = startCli(['run', '-c', file]);
    await cli.waitFor(/driftlock running/);
    const address = logLines(cli.stderr()).find((l) => String(l.msg).startsWith('API listening'))!.address as string;
    const metrics = await (await fetch(`http://${address}/metrics`)).text();
    const types = new Set([...metrics.matchAll(/component_type="(\w+)"/g)].map((m) => m[1]));
    expect([...types].sort()).toEqual(['anomaly_detect', 'console', 'demo', 'file', 'filter', 'fluent_forward', 'otlp_grpc', 'parse', 'redact', 'slack', 'stdin', 'syslog', 'webhook']);
    for (const name of ['driftlock_deferred_opens_total', 'driftlock_file_lost_bytes_total', 'driftlock_redacted_events_total', 'driftlock_redactions_total', 'driftlock_redaction_failed_events_total']) {
      expect(metrics).toContain(`# TYPE ${name} counter`);
    }
    const undescribed = [...metrics.matchAll(/^# HELP (\S+) (.*)$/gm)].filter(([, name, help]) => help === name!.replace(/^driftlock_/, '')).map((m) => m[1]);
    expect(undescribed).toEqual([]);
    cli.child.kill('SIGTERM');
    expect((await cli.exited).code).toBe(0);
    await receiver.close();
  });
});
