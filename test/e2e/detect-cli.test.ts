/**
 * End-to-end tests of `driftlock stream`, `driftlock scan` and the anomaly_detect transform, through the
 * real CLI binary, on generated nginx access lines with incidents placed at known lines.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { CLI, exitSummary, readDetectorState, runCli, startCli } from '../helpers/cli.js';
import { spawnForTest } from '../helpers/processes.js';
import { NginxLines, SQL_INJECTION } from '../helpers/nginx-lines.js';
import { tempDir } from '../helpers/temp.js';
import { seededRandom } from '../../eval/random.js';

function jsonLines(text: string): Array<Record<string, unknown>> {
  return text.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** 2,000 normal lines, then a slow response (line 2001), normal lines, an injection (line 2102), normal lines. */
function incidentLog(format: 'json' | 'combined' = 'json'): string[] {
  const gen = new NginxLines(7);
  const make = (o: Parameters<NginxLines['line']>[0] = {}) => (format === 'json' ? gen.line(o) : gen.combined(o));
  const lines: string[] = [];
  for (let i = 0; i < 2000; i++) lines.push(make());
  lines.push(make({ response_time: 5.2 }));
  for (let i = 0; i < 100; i++) lines.push(make());
  lines.push(make({ http_user_agent: SQL_INJECTION }));
  for (let i = 0; i < 100; i++) lines.push(make());
  return lines;
}

/** 2,000 normal lines, 30 s of slow responses at 20/s (600 lines), 100 normal lines. */
function slowIncidentLog(): string[] {
  const gen = new NginxLines(11);
  const lines: string[] = [];
  for (let i = 0; i < 2000; i++) lines.push(gen.line());
  // A run of numbers alerts on every slow response until it has lasted learn_after.
  for (let i = 0; i < 600; i++) lines.push(gen.line({ response_time: 5.0 }));
  for (let i = 0; i < 100; i++) lines.push(gen.line());
  return lines;
}


/**
 * Secrets for the `--state` tests: `secret()` makes one (16 letters: masking numbers and hex ids alone would
 * leave it whole) and keeps it in `secrets`; `at()` is a line's time, a second after the last.
 */
function secretLines(seed: number): { secrets: string[]; secret: () => string; at: () => string } {
  const rnd = seededRandom(seed);
  const letters = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
  const secrets: string[] = [];
  let t = Date.parse('2026-01-05T10:00:00Z');
  return {
    secrets,
    secret: () => {
      const s = Array.from({ length: 16 }, () => letters[Math.floor(rnd() * letters.length)]).join('');
      secrets.push(s);
      return s;
    },
    at: () => new Date((t += 1000)).toISOString(),
  };
}

/**
 * `driftlock stream --state` over `lines`: none of `secrets` reaches the state file, nor the why or template of
 * the alert on the last line (a new error quoting one of them); returns the state file's text and that alert.
 */
async function streamKeepsSecretsOut(lines: string[], secrets: string[]): Promise<{ saved: string; alert: Record<string, unknown> | undefined }> {
  const state = path.join(await tempDir('dl-detect-'), 'detector.json');
  const r = await runCli(['stream', '--format', 'text', '--state', state, '--stream-id', 'app'], { input: lines.join('\n') + '\n' });
  expect(r.code, r.stderr).toBe(0);
  const saved = await readFile(state, 'utf8');
  expect((await readDetectorState(state)).streams).toMatchObject([{ id: 'app', events: lines.length }]);
  expect(secrets.filter((s) => saved.includes(s))).toEqual([]);
  const alert = jsonLines(r.stdout).find((a) => a.line === lines.length);
  expect(alert, 'the alert on the last line').toBeDefined();
  expect(secrets.filter((s) => String(alert?.why).includes(s) || String(alert?.template).includes(s))).toEqual([]);
  return { saved, alert };
}

describe('driftlock stream', () => {
  it('prints one JSON alert per anomaly for piped nginx JSON lines, naming the field, and a summary on stderr', async () => {
    const lines = incidentLog();
    const result = await runCli(['stream', '--stream-id', 'nginx-logs', '--format', 'nginx'], { input: lines.join('\n') + '\n' });
    expect(result.code, result.stderr).toBe(0);
    const alerts = jsonLines(result.stdout);
    const slow = alerts.find((a) => a.line === 2001);
    expect(slow, result.stdout).toBeDefined();
    expect(slow).toMatchObject({ stream_id: 'nginx-logs', kind: 'field_value', field: 'response_time' });
    expect(String(slow!.why)).toMatch(/response_time 5\.2 is \d+x its typical/);
    expect(slow!.confidence).toBeGreaterThanOrEqual(0.9);
    expect(String(slow!.entry)).toContain('"response_time":5.2');
    const injection = alerts.find((a) => a.line === 2102);
    // Four user agents in the baseline: the field is categorical, and the injection a value never seen.
    expect(injection).toMatchObject({ stream_id: 'nginx-logs', kind: expect.stringMatching(/^field_(category|content)$/), field: 'http_user_agent' });
    expect(String(injection!.why)).toContain('UNION SELECT');
    // Steady traffic around the incidents stays quiet.
    expect(alerts.length).toBeLessThanOrEqual(2 + Math.ceil(lines.length * 0.01));
    expect(result.stderr).toMatch(/2,202 events in [\d.]+ s, \d+ anomalies/);
  });

  it.skipIf(!existsSync('/usr/bin/script'))('on a terminal: readable colored alerts and a live status line on stderr', async () => {
    const dir = await tempDir('dl-detect-');
    const input = path.join(dir, 'access.log');
    await writeFile(input, incidentLog().join('\n') + '\n');
    // util-linux `script` gives the command a pseudo-terminal; the input still comes from a pipe, held
    // open for 1.5 s so that the status line (every 0.5 s on a terminal) has time to show.
    const command = `(cat ${JSON.stringify(input)}; sleep 1.5) | ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} stream --format nginx --stream-id nginx-logs`;
    const result = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawnForTest('script', ['-qec', command, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.on('close', (code) => resolve({ code, out }));
    });
    expect(result.code).toBe(0);
    // eslint-disable-next-line no-control-regex
    const plain = result.out.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
    expect(result.out).toContain('\x1b[1m'); // colored
    expect(plain).toMatch(/▲ field_value {2}nginx-logs {2}confidence [\d.+]+% {2}2025-01-01 \S+Z {2}line 2001/);
    expect(plain).toMatch(/^ {2}response_time 5\.2 is \d+x its typical/m);
    expect(plain).toMatch(/events 2,202 \([\d,]+\/s\), anomalies \d+, streams 1/);
    expect(plain).toMatch(/driftlock: 2,202 events in [\d.]+ s/);
  });

  it.skipIf(!existsSync('/usr/bin/script'))('on a terminal, an incident\'s repeats are folded into a line (--group-window); piped JSON has every alert', async () => {
    const dir = await tempDir('dl-detect-');
    const input = path.join(dir, 'access.log');
    const lines = slowIncidentLog();
    await writeFile(input, lines.join('\n') + '\n');
    const piped = await runCli(['stream', '--format', 'nginx', '--stream-id', 'nginx-logs'], { input: lines.join('\n') + '\n' });
    const slow = jsonLines(piped.stdout).filter((a) => a.field === 'response_time');
    expect(slow.length).toBeGreaterThanOrEqual(590);
    const onTerminal = async (extra: string): Promise<string> => {
      const command = `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} stream -q --format nginx --stream-id nginx-logs ${extra} < ${JSON.stringify(input)}`;
      const out = await new Promise<string>((resolve) => {
        const child = spawnForTest('script', ['-qec', command, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
        let text = '';
        child.stdout.setEncoding('utf8').on('data', (d: string) => (text += d));
        child.on('close', () => resolve(text));
      });
      // eslint-disable-next-line no-control-regex
      return out.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').replace(/\r/g, '');
    };
    // Read in well under 10 s: the first slow response in full, the rest in one line at the end.
    const folded = await onTerminal('');
    expect(folded.match(/^ {2}response_time 5 is \d+x its typical/gm)).toHaveLength(1);
    const line = new RegExp(`^ {2}↳ ${(slow.length - 1).toLocaleString('en-US')} more like it(?: in \\d+ s)? \\(${slow.length.toLocaleString('en-US')} in all\\); latest: response_time 5 is \\d+x`, 'm');
    expect(folded).toMatch(line);
    const every = await onTerminal('--group-window 0');
    expect(every.match(/^ {2}response_time 5 is \d+x its typical/gm)).toHaveLength(slow.length);
    expect(every).not.toContain('more like it');
  });

  it('--stream-id: a field no event could have is a usage error; a field some lines lack is said once, with a hint', async () => {
    const bad = await runCli(['stream', '--stream-id', '{servce}'], { input: '' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--stream-id: \{servce\} names no field of an event/);
    const lines = Array.from({ length: 50 }, (_, i) => JSON.stringify({ service: `s${i % 3}`, msg: 'hello' }));
    const typo = await runCli(['stream', '--format', 'json', '--stream-id', '{body.servce}'], { input: lines.join('\n') + '\n' });
    expect(typo.code).toBe(0);
    const told = typo.stderr.split('\n').filter((l) => l.includes('--stream-id'));
    expect(told).toEqual(['driftlock: --stream-id: line 1 has no {body.servce} (body has no servce; did you mean {body.service}?); such lines share the stream "-"']);
  });

  it('one line read is counted as 1 event, not 1 events (stream and scan summaries)', async () => {
    const stream = await runCli(['stream', '--warmup', '0'], { input: 'hello\n' });
    expect(stream.code).toBe(0);
    expect(stream.stderr).toMatch(/^driftlock: 1 event in [\d.]+ s, 0 anomalies\n$/m);
    // --warmup 0: a line learned from without being judged is said after the summary, and makes scan exit 2 (below).
    const scan = await runCli(['scan', '--no-progress', '--warmup', '0', '-'], { input: 'hello\n' });
    expect(scan.code).toBe(0);
    expect(scan.stdout).toMatch(/^Scanned 1 of 1 file: 1 event in [\d.]+ s /m);
  });

  it('--state naming a file that is no detector state (a log, by mistake) is refused, and the file left as it was', async () => {
    const dir = await tempDir('dl-detect-');
    const log = path.join(dir, 'app.log.1');
    const text = incidentLog().slice(0, 300).join('\n') + '\n';
    await writeFile(log, text);
    for (const args of [['scan', '--no-progress', '--state', log, '-'], ['stream', '--state', log]]) {
      // Before: 'cannot restore ...; starting a new warm-up', and at the end the log replaced by the state.
      const refused = await runCli(args, { input: 'hello\n' });
      expect(refused.code, args[0]).toBe(2);
      expect(refused.stderr, args[0]).toBe(`driftlock: --state ${log}: ${log} is not a detector state (its first line is not a detector state header); it is not replaced: name another file (one not there yet starts a new warm-up)\n`);
      expect(await readFile(log, 'utf8')).toBe(text);
    }
  });

  it('--quiet leaves out the status and the summary, not a --state it cannot restore', async () => {
    const dir = await tempDir('dl-detect-');
    const state = path.join(dir, 'state.json');
    // A state of another version of driftlock: its own, not to be read, replaced by this run's.
    await writeFile(state, '{"driftlock":"detector-state","version":99}\n');
    // Before: nothing on stderr, and a new warm-up that no one was told of.
    const quiet = await runCli(['stream', '--quiet', '--state', state], { input: 'hello\n' });
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stderr).toMatch(new RegExp(`^driftlock: cannot restore ${state} \\(.+\\); starting a new warm-up\n$`));
  });

  it('a scan that judged no line (all in the warm-up) says so and exits 2, not 0 "nothing found"; lines read as text or cut change no exit code', async () => {
    const dir = await tempDir('dl-detect-');
    const short = path.join(dir, 'short.log');
    await writeFile(short, incidentLog().slice(0, 50).join('\n') + '\n');
    const many = path.join(dir, 'many.log');
    await writeFile(many, Array.from({ length: 30 }, (_, i) => JSON.stringify({ rid: `r${i}`, ms: 5 })).join('\n') + '\n');
    const mixed = path.join(dir, 'mixed.log');
    await writeFile(mixed, [...incidentLog().slice(0, 300), 'not json at all', 'x'.repeat(100_000)].join('\n') + '\n');
    // The runs side by side: they share nothing.
    const [scan, evicted, stream, partial, help] = await Promise.all([
      runCli(['scan', '--no-progress', short]),
      runCli(['scan', '--no-progress', '--output', 'json', '--max-streams', '10', '--stream-id', '{body.rid}', many]),
      runCli(['stream'], { input: 'hello\n' }),
      runCli(['scan', '--no-progress', '--format', 'json', '--max-line-bytes', '64KiB', mixed]),
      runCli(['scan', '--help']),
    ]);
    // Before: 'Scanned 1 of 1 file: 50 events ..., 0 anomalies' and exit 0, a clean result though no line was looked at.
    expect(scan.code, scan.stdout).toBe(2);
    expect(scan.stdout).toContain('0 anomalies\nNot a clean result: no event was judged: every stream was still in its warm-up (its first 100 events); give it more lines, a lower --warmup, or the baseline of an earlier run with --state.\n');
    // A stream id per line: every stream evicted in its warm-up.
    expect(evicted.code).toBe(2);
    expect(evicted.stderr).toContain('or evicted before its end (more streams than --max-streams 10)');
    // stream's exit code says whether it ran, not what it found: 0, with the same words after its summary.
    expect(stream.code).toBe(0);
    expect(stream.stderr).toContain('driftlock: no event was judged: every stream was still in its warm-up');
    // Lines cut or not in the --format asked for are judged, as text: counted in the summary, exit code as usual.
    expect(partial.code, partial.stdout).toBe(0);
    expect(partial.stdout).toContain('0 anomalies, 1 malformed line (cut or invalid UTF-8), 2 lines not json (read as text)\n');
    expect(partial.stdout).not.toContain('Not a clean result');
    // And the help says what 2 means.
    expect(help.stdout.replace(/\s+/g, ' ')).toContain('2 error (a file not read, --state not saved, or no line judged: the files empty or blank, or all in the warm-up)');
  });

  it('an empty file, or one of blank lines only, judged nothing: said with why, exit 2 as for a scan all in the warm-up', async () => {
    const dir = await tempDir('dl-detect-');
    const empty = path.join(dir, 'empty.log');
    const blank = path.join(dir, 'blank.log');
    await writeFile(empty, '');
    await writeFile(blank, '\n  \n\t\n');
    const state = path.join(dir, 'state.json');
    const base = path.join(dir, 'base.log');
    await writeFile(base, Array.from({ length: 300 }, (_, i) => `GET /item/${i} 200 in 5ms`).join('\n') + '\n');
    // The runs side by side but for the two that share a --state file, one after the other.
    const [none, blanks, both, stdin, [saved, restored], missing, stream] = await Promise.all([
      runCli(['scan', '--no-progress', empty]),
      runCli(['scan', '--no-progress', '--warmup', '0', blank]),
      runCli(['scan', '--no-progress', '--output', 'json', empty, blank]),
      runCli(['scan', '--no-progress', '-'], { input: '' }),
      (async () => {
        const saved = await runCli(['scan', '--no-progress', '--stream-id', 'app', '--state', state, base]);
        return [saved, await runCli(['scan', '--no-progress', '--stream-id', 'app', '--state', state, blank])] as const;
      })(),
      runCli(['scan', '--no-progress', path.join(dir, 'nope.log')]),
      runCli(['stream'], { input: '' }),
    ]);
    // Before: 'Scanned 1 of 1 file: 0 events ..., 0 anomalies' and exit 0, nothing found where there was nothing to look at.
    expect(none.code, none.stdout).toBe(2);
    expect(none.stdout).toContain(`0 anomalies\nNot a clean result: no event was judged: ${empty} is empty, nothing to look at.\n`);
    // Before: 'every stream was still in its warm-up (its first 0 events)' with --warmup 0, though no line was one to judge.
    expect(blanks.code, blanks.stdout).toBe(2);
    expect(blanks.stdout).toContain(`Not a clean result: no event was judged: ${blank} holds only blank lines, nothing to look at.\n`);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('no event was judged: the 2 files read hold only blank lines');
    expect(stdin.code).toBe(2);
    expect(stdin.stdout).toContain('no event was judged: standard input is empty');
    // A baseline from --state judges the next line; a blank one is not judged (before: counted, exit 0).
    expect(saved.code).toBe(0);
    expect(restored.code, restored.stdout).toBe(2);
    expect(restored.stdout).toContain('holds only blank lines');
    // A file not read is said as such, not as empty.
    expect(missing.code).toBe(2);
    expect(missing.stdout).not.toContain('Not a clean result');
    // stream exits 0 whatever it read, and says it.
    expect(stream.code).toBe(0);
    expect(stream.stderr).toContain('driftlock: no event was judged: standard input is empty, nothing to look at\n');
  });

  it('reads the combined access format with --format nginx', async () => {
    const lines = incidentLog('combined');
    const result = await runCli(['stream', '--format', 'nginx', '--quiet'], { input: lines.join('\n') + '\n' });
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    const injection = jsonLines(result.stdout).find((a) => a.line === 2102);
    expect(injection).toMatchObject({ stream_id: 'stdin', field: 'http_user_agent' });
  });

  it('says once when the lines are not in the --format asked for, and counts them in the summary', async () => {
    const dir = await tempDir('dl-fmt-');
    const file = path.join(dir, 'app.log');
    const text = Array.from({ length: 400 }, (_, i) => `2026-11-25T10:00:${String(i % 60).padStart(2, '0')}Z INFO worker ${i % 7} picked job ${1000 + i}`);
    await writeFile(file, text.join('\n') + '\n');
    // Before: not a word; the lines were quietly read as text.
    const wrong = await runCli(['scan', '--format', 'json', '--no-progress', file]);
    const warnings = wrong.stderr.split('\n').filter((l) => l.includes('lines are not json'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^driftlock: 400 of the first 400 lines are not json: they are read as plain text \(is --format json right\?/);
    expect(wrong.stdout).toMatch(/400 events in .*, 400 lines not json \(read as text\)/);
    // The right format, or auto: no such word.
    const right = await runCli(['scan', '--format', 'text', '--no-progress', file]);
    expect(right.stderr + right.stdout).not.toMatch(/not json|not text/);
    const auto = await runCli(['stream', '--format', 'auto'], { input: text.join('\n') + '\n' });
    expect(auto.stderr).not.toMatch(/lines are not/);
  });

  it('scan reads standard input for -, as grep and jq do', async () => {
    const lines = incidentLog('combined');
    // Before: "cannot read -: ENOENT", exit 2.
    const result = await runCli(['scan', '--format', 'nginx', '--no-progress', '--output', 'json', '-'], { input: lines.join('\n') + '\n' });
    expect(result.code).toBe(1);
    expect(jsonLines(result.stdout).find((a) => a.line === 2102)).toMatchObject({ file: '-', stream_id: 'stdin', field: 'http_user_agent' });
    // A file redirected to it (read 256 KiB at a time): the same flags.
    const redirected = await runCli(['scan', '--format', 'nginx', '--no-progress', '--output', 'json', '-'], { input: lines.join('\n') + '\n', inputFile: path.join(await tempDir('dl-detect-'), 'in.log') });
    expect(redirected.code).toBe(1);
    expect(jsonLines(redirected.stdout)).toEqual(jsonLines(result.stdout));
  });

  it('stream and scan --help show the default --max-line-bytes as a size (1MiB), as the docs write sizes', async () => {
    for (const command of ['stream', 'scan']) {
      const help = await runCli([command, '--help']);
      expect(help.code).toBe(0);
      // Before: "(default: 1048576)".
      expect(help.stdout.replace(/\s+/g, ' ')).toMatch(/--max-line-bytes <size> [^-]*\(default: 1MiB\)/);
    }
    // The default is still 1 MiB: a line of 1 MiB is whole, one byte more is cut (and counted as malformed).
    const whole = await runCli(['stream', '--format', 'text'], { input: 'y'.repeat(1 << 20) + '\n' });
    expect(whole.stderr).not.toMatch(/malformed/);
    const cut = await runCli(['stream', '--format', 'text'], { input: 'y'.repeat((1 << 20) + 1) + '\n' });
    expect(cut.stderr).toMatch(/1 malformed line/);
  });

  it('keeps going through invalid UTF-8 and over-long lines, and counts them', async () => {
    const gen = new NginxLines(3);
    const parts: Buffer[] = [];
    for (let i = 0; i < 300; i++) parts.push(Buffer.from(gen.line() + '\n'));
    parts.push(Buffer.from([0x7b, 0xff, 0xfe, 0x7d, 0x0a]));
    parts.push(Buffer.from('x'.repeat(5000) + '\n'));
    for (let i = 0; i < 300; i++) parts.push(Buffer.from(gen.line() + '\n'));
    const result = await runCli(['stream', '--format', 'json', '--max-line-bytes', '1KiB'], { input: Buffer.concat(parts) });
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/602 events in .*2 malformed lines/);
    // A size below the floor is a usage error (exit 2) that says what is expected.
    const bad = await runCli(['stream', '--max-line-bytes', '10'], { input: '' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--max-line-bytes must be a size from 64 to 1073741824 bytes (such as 64KiB or 1MiB), got "10"');
  });

  it('stops on SIGINT with a summary and exit 0, and --state carries the baseline to the next run', async () => {
    const dir = await tempDir('dl-detect-');
    const state = path.join(dir, 'state', 'detector.json');
    const gen = new NginxLines(11);
    const running = startCli(['stream', '--format', 'nginx', '--state', state, '--stream-id', 'web']);
    // 1,500 lines, then one whose alert says it was read, and every line before it (the status line would
    // say so only every 10 s off a terminal).
    running.child.stdin!.write(gen.lines(1500).join('\n') + '\n' + gen.line({ http_user_agent: SQL_INJECTION }) + '\n');
    await running.waitFor(/"line":1501,/, 'stdout', 20_000);
    running.child.kill('SIGINT');
    const first = await running.exited;
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/1,501 events in/);
    expect(existsSync(state)).toBe(true);

    // A second run with only 20 lines (fewer than the warm-up of 100) still flags the slow response:
    // the baseline came from the state file, not a new warm-up.
    const next = [...gen.lines(19), gen.line({ response_time: 6 })];
    const second = await runCli(['stream', '--format', 'nginx', '--state', state, '--stream-id', 'web'], { input: next.join('\n') + '\n' });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(/restored 1 stream/);
    expect(jsonLines(second.stdout).find((a) => a.line === 20)).toMatchObject({ field: 'response_time', stream_id: 'web' });

    const fresh = await runCli(['stream', '--format', 'nginx', '--stream-id', 'web'], { input: next.join('\n') + '\n' });
    expect(jsonLines(fresh.stdout)).toEqual([]);
  });

  it('--state: a secret written after its key in a text line (token=, password=, Bearer, JSON) is in neither the state file nor a why', async () => {
    const { secrets, secret, at } = secretLines(3);
    const lines: string[] = [];
    for (let i = 0; i < 400; i++) {
      lines.push([
        () => `${at()} INFO GET /api/orders?page=${i % 9}&token=${secret()} 200`,
        () => `${at()} INFO login ok user=u${i % 20} password=${secret()}`,
        () => `${at()} INFO called billing with Authorization: Bearer ${secret()}`,
        () => `${at()} INFO config loaded {"db":"orders","api_key":"${secret()}"}`,
      ][i % 4]!());
    }
    // A new error that quotes its own secret: still news, its why quoting the key but not the value.
    lines.push(`${at()} ERROR payment refused: client_secret=${secret()} rejected by gateway`);
    // Before: all 401 of them in the state file, and the last in the why.
    const { alert } = await streamKeepsSecretsOut(lines, secrets);
    expect(alert).toMatchObject({ kind: 'new_pattern', template: '<ts> ERROR payment refused: client_secret=<secret> rejected by gateway' });
    expect(alert!.why).toContain('"<ts> ERROR payment refused: client_secret=<secret> rejected by gateway"');
  });

  it('--state: a secret in a URL, after `-u root -p`, `DB_PASS=`, in a Digest header, with spaces after `password: ` or an escaped quote is in neither the state file nor a why', async () => {
    const { secrets, secret, at } = secretLines(5);
    const lines: string[] = [];
    for (let i = 0; i < 600; i++) {
      lines.push([
        () => `${at()} INFO fetching https://u${i % 20}:${secret()}@files.example.com/export`,
        () => `${at()} INFO backup ran mysqldump -u root -p ${secret()} orders`,
        () => `${at()} INFO env DB_PASS=${secret()} loaded`,
        () => `${at()} INFO sent Authorization: Digest username="u${i % 20}", realm="api", response="${secret()}"`,
        () => `${at()} INFO user u${i % 20} set password: ${secret()} ${secret()}`,
        () => `${at()} INFO config ${JSON.stringify(JSON.stringify({ password: `q"${secret()}`, user: `u${i % 20}` }))}`,
      ][i % 6]!());
    }
    // A new error that quotes a URL's password: news, its why quoting the URL but not the password.
    lines.push(`${at()} ERROR replica refused postgres://replicator:${secret()}@db-2.internal/orders`);
    // Before: 601 of the 701 secrets were in the state file (all but the first word of each `password: a b`), and
    // the URL's password in the alert's why and template.
    const { alert } = await streamKeepsSecretsOut(lines, secrets);
    expect(alert).toMatchObject({ kind: 'new_pattern', template: '<ts> ERROR replica refused postgres://replicator:<secret>@db-<num>.internal/orders' });
  });

  it("--state: keytool's store and key passwords, curl's -U proxy password, a password's hash and a password that begins with `-` are in neither the state file nor a why", async () => {
    const { secrets, secret, at } = secretLines(7);
    const lines: string[] = [];
    for (let i = 0; i < 400; i++) {
      lines.push([
        () => `${at()} INFO import ran keytool -importkeystore -srcstorepass ${secret()} -deststorepass ${secret()} -srckeypass ${secret()}`,
        () => `${at()} INFO sync ran curl -U proxy${i % 20}:${secret()} -x http://proxy:3128 https://files.example.com/export`,
        () => `${at()} INFO user u${i % 20} updated passwordHash=$2b$12$${secret()}`,
        () => `${at()} INFO job ran tool --password -${secret()}! --user u${i % 20}`,
      ][i % 4]!());
    }
    // A new error that quotes a key password: news, its why quoting the option but not the password.
    lines.push(`${at()} ERROR signing refused: jarsigner -keypass ${secret()} could not open the keystore`);
    // Before (the code of c13c347): 600 of the 601 in the state file.
    const { alert } = await streamKeepsSecretsOut(lines, secrets);
    expect(alert).toMatchObject({ kind: 'new_pattern', template: '<ts> ERROR signing refused: jarsigner -keypass <secret> could not open the keystore' });
  });

  it("--state: sqlcmd's -P, Samba's -U user%password, keytool's -new, a bcrypt hash without a key and dbPassHash are in neither the state file nor a why", async () => {
    const { secrets, secret, at } = secretLines(11);
    const lines: string[] = [];
    for (let i = 0; i < 400; i++) {
      lines.push([
        () => `${at()} INFO export ran sqlcmd -S db -U sa -P ${secret()} -Q "exec nightly"`,
        () => `${at()} INFO backup ran smbclient //files/share -U svc${i % 20}%${secret()} -c ls`,
        () => `${at()} INFO rotate ran keytool -storepasswd -new ${secret()} -storepass:env STOREPASS -keystore k.jks`,
        () => `${at()} INFO user u${i % 20} saved {"hash":"$2b$12$${secret()}${secret()}${secret()}abcde"} dbPassHash=${secret()}`,
      ][i % 4]!());
    }
    // A new error that quotes ipmitool's password: news, its why quoting the option but not the password.
    lines.push(`${at()} ERROR power cycle refused: ipmitool -H bmc -U admin -P ${secret()} could not open a session`);
    const { saved, alert } = await streamKeepsSecretsOut(lines, secrets);
    // keytool's `:env` names a variable: kept as it is.
    expect(saved).toContain('-storepass:env STOREPASS');
    expect(alert).toMatchObject({ kind: 'new_pattern', template: '<ts> ERROR power cycle refused: ipmitool -H bmc -U admin -P <secret> could not open a session' });
  });

  it('--state: a JSON Web Token and an AWS access key id with no key before them are in neither the state file nor a why', async () => {
    const { secrets, secret, at } = secretLines(13);
    const jwt = () => `eyJ${secret()}.eyJ${secret()}.${secret()}`;
    const awsKeyId = () => {
      const id = `AKIA${secret().toUpperCase()}`;
      secrets.push(id);
      return id;
    };
    const lines: string[] = [];
    for (let i = 0; i < 400; i++) {
      lines.push([
        () => `${at()} INFO session opened for u${i % 20} with ${jwt()}`,
        () => `${at()} INFO report uploaded by ${awsKeyId()} to the archive`,
      ][i % 2]!());
    }
    // A new error that quotes both: news, its why quoting the line with neither.
    lines.push(`${at()} ERROR upload refused for ${awsKeyId()}: ${jwt()} expired`);
    // Before: all 804 of them (the JWTs' parts, the key ids) were in the state file.
    const { alert } = await streamKeepsSecretsOut(lines, secrets);
    expect(alert).toMatchObject({ kind: 'new_pattern', template: '<ts> ERROR upload refused for <secret>: <secret> expired' });
  });
});

describe('driftlock scan', () => {
  it('--output json prints one object per flagged line with the agreed keys and exits 1', async () => {
    const dir = await tempDir('dl-detect-');
    const file = path.join(dir, 'access.log');
    await writeFile(file, incidentLog().join('\n') + '\n');
    const result = await runCli(['scan', '--output', 'json', '--format', 'nginx', file]);
    expect(result.code, result.stderr).toBe(1);
    const objects = jsonLines(result.stdout);
    expect(objects[0]).toMatchObject({ warmup_lines: 100, profile: 'balanced' });
    const flags = objects.filter((o) => 'line' in o);
    for (const f of flags) {
      expect(Object.keys(f)).toEqual(expect.arrayContaining(['file', 'line', 'kind', 'score', 'confidence', 'why', 'field', 'template']));
      expect(f.file).toBe(file);
    }
    expect(flags.find((f) => f.line === 2001)).toMatchObject({ kind: 'field_value', field: 'response_time' });
    expect(flags.find((f) => f.line === 2102)).toMatchObject({ field: 'http_user_agent' });
    expect(result.stderr).toMatch(/Scanned 1 of 1 file: 2,202 events/);
  });

  it('prints readable alerts and a summary by kind with the top anomalies; exit 0 on a clean file', async () => {
    const dir = await tempDir('dl-detect-');
    const noisy = path.join(dir, 'noisy.log');
    const clean = path.join(dir, 'clean.log');
    await writeFile(noisy, incidentLog().join('\n') + '\n');
    await writeFile(clean, new NginxLines(5).lines(1500).join('\n') + '\n');
    const result = await runCli(['scan', '--format', 'nginx', noisy]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/▲ field_value {2}.*noisy\.log {2}confidence [\d.+]+%/);
    expect(result.stdout).toMatch(/By kind: .*field_value \d+/);
    expect(result.stdout).toMatch(/Top anomalies:\n.*noisy\.log:\d+ {2}\w+: /);
    const quiet = await runCli(['scan', '--format', 'nginx', clean]);
    expect(quiet.stdout).toMatch(/1,500 events .* 0 anomalies/);
    expect(quiet.code).toBe(0);
  });

  it('folds an incident\'s repeats into a line per --group-window of the log\'s own time; --output json has every alert', async () => {
    const dir = await tempDir('dl-detect-');
    const log = path.join(dir, 'access.log');
    await writeFile(log, slowIncidentLog().join('\n') + '\n');
    const json = await runCli(['scan', '--output', 'json', '--format', 'nginx', log]);
    const slow = jsonLines(json.stdout).filter((a) => a.field === 'response_time');
    expect(slow.length).toBeGreaterThanOrEqual(590);
    const text = await runCli(['scan', '--no-progress', '--format', 'nginx', log]);
    expect(text.code).toBe(1);
    // The first in full; then a line each 10 s of the log (read in well under a second), the rest at the end.
    expect(text.stdout.match(/^ {2}response_time 5 is \d+x its typical/gm)).toHaveLength(1);
    const folded = [...text.stdout.matchAll(/^ {2}↳ ([\d,]+) more like it(?: in (\d+) s)? \(([\d,]+) in all\); latest: response_time 5 is/gm)];
    expect(folded.length).toBeGreaterThanOrEqual(3);
    expect(folded.reduce((sum, m) => sum + Number(m[1]!.replace(/,/g, '')), 0)).toBe(slow.length - 1);
    expect(Number(folded.at(-1)![3]!.replace(/,/g, ''))).toBe(slow.length);
    for (const m of folded.slice(0, -1)) expect(Number(m[2])).toBeGreaterThanOrEqual(10);
    const every = await runCli(['scan', '--no-progress', '--group-window', '0', '--format', 'nginx', log]);
    expect(every.stdout.match(/^ {2}response_time 5 is \d+x its typical/gm)).toHaveLength(slow.length);
  });

  it('shows control characters of a log line as escapes: a line cannot send escape sequences to the terminal', async () => {
    const dir = await tempDir('dl-detect-');
    const file = path.join(dir, 'access.log');
    // Access lines as nginx writes them (text, not JSON: JSON would have escaped the bytes already).
    const lines = incidentLog('combined');
    // The injection's user agent also sets the window title, clears the screen and hides what follows.
    const hostile = `\x1b]0;pwned\x07\x1b[2J\x1b[8m${SQL_INJECTION}`;
    lines[2101] = new NginxLines(7).combined({ http_user_agent: hostile });
    await writeFile(file, lines.join('\n') + '\n');
    const result = await runCli(['scan', '--format', 'nginx', file]);
    expect(result.code, result.stderr).toBe(1);
    // eslint-disable-next-line no-control-regex
    expect(result.stdout).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
    const alert = result.stdout.split('▲').find((a) => a.includes(':2102'));
    expect(alert, result.stdout).toBeDefined();
    // The entry shows the bytes as escapes.
    expect(alert).toContain('\\x1b]0;pwned\\x07\\x1b[2J\\x1b[8m');
  });

  it('a file that cannot be read is an error (exit 2) but the other files are still scanned', async () => {
    const dir = await tempDir('dl-detect-');
    const file = path.join(dir, 'access.log');
    await writeFile(file, incidentLog().join('\n') + '\n');
    const result = await runCli(['scan', '--output', 'json', '--format', 'nginx', path.join(dir, 'missing.log'), file]);
    expect(result.code).toBe(2);
    // Said plainly, once: before, the system's message followed ("ENOENT: no such file or directory, stat '...'").
    expect(result.stderr).toMatch(/cannot read .*missing\.log: no such file\n/);
    expect(result.stderr).not.toContain('ENOENT');
    expect(jsonLines(result.stdout).some((o) => o.line === 2001)).toBe(true);
    expect(result.stderr).toMatch(/Scanned 1 of 2 files/);
  });

  it('text files: a new error after only INFO lines is a new pattern whose why names it', async () => {
    const dir = await tempDir('dl-detect-');
    const file = path.join(dir, 'app.log');
    const lines: string[] = [];
    let t = Date.parse('2025-01-01T00:00:00Z');
    for (let i = 0; i < 1500; i++) lines.push(`${new Date((t += 50)).toISOString()} INFO: User logged in user_id=${1000 + ((i * 7919) % 9000)}`);
    lines.push(`${new Date((t += 50)).toISOString()} ERROR: Database connection failed`);
    for (let i = 0; i < 50; i++) lines.push(`${new Date((t += 50)).toISOString()} INFO: User logged in user_id=${2000 + i}`);
    await writeFile(file, lines.join('\n') + '\n');
    const result = await runCli(['scan', '--output', 'json', '--format', 'text', file]);
    expect(result.code).toBe(1);
    const flags = jsonLines(result.stdout).filter((o) => 'line' in o);
    expect(flags.map((f) => f.line)).toEqual([1501]);
    expect(flags[0]).toMatchObject({ kind: 'new_pattern' });
    expect(String(flags[0]!.why)).toMatch(/new error pattern .*Database connection failed/);
  });

  it('--multiline java: a new stack trace is one alert at its first line, not one per frame; stream passes a trace on a second after its last line', async () => {
    const lines: string[] = [];
    let t = Date.parse('2025-01-01T00:00:00Z');
    const info = (i: number) => `${new Date((t += 50)).toISOString()} INFO [main] c.a.Orders - order ${1000 + ((i * 7919) % 9000)} placed`;
    for (let i = 0; i < 1500; i++) lines.push(info(i));
    const trace = [
      `${new Date((t += 50)).toISOString()} ERROR [http-1] c.a.Payments - payment failed`,
      'java.lang.IllegalStateException: connection pool exhausted',
      ...Array.from({ length: 12 }, (_, i) => `\tat com.acme.pay.Gateway${i}.call(Gateway${i}.java:${40 + i})`),
      'Caused by: java.net.SocketTimeoutException: Read timed out',
      '\tat java.base/sun.nio.ch.NioSocketImpl.timedRead(NioSocketImpl.java:288)',
      '\t... 14 more',
    ];
    lines.push(...trace);
    for (let i = 0; i < 50; i++) lines.push(info(2000 + i));
    const input = lines.join('\n') + '\n';
    const flagsOf = (stdout: string) => jsonLines(stdout).filter((o) => 'line' in o);
    const joined = await runCli(['scan', '--output', 'json', '--format', 'text', '--multiline', 'java', '-'], { input });
    expect(joined.code, joined.stderr).toBe(1);
    const flags = flagsOf(joined.stdout);
    expect(flags.map((f) => f.line)).toEqual([1501]);
    expect(String(flags[0]!.why)).toMatch(/payment failed.* and 16 more lines/);
    // Without it, the frames are lines of their own, and alert as such.
    const apart = await runCli(['scan', '--output', 'json', '--format', 'text', '-'], { input });
    expect(flagsOf(apart.stdout).length).toBeGreaterThan(5);

    // stream, stdin left open after the trace: the last event is passed on by the timeout, not at EOF.
    const cli = startCli(['stream', '--format', 'text', '--multiline', 'java', '--quiet']);
    try {
      cli.child.stdin!.write(lines.slice(0, 1500 + trace.length).join('\n') + '\n');
      await cli.waitFor(/payment failed/, 'stdout', 10_000);
      expect(cli.stdout()).toMatch(/and 16 more lines/);
    } finally {
      cli.child.stdin!.end();
    }
    expect((await cli.exited).code).toBe(0);
  });

  it('--max-streams: streams taking turns beyond it are evicted before their warm-up, and stderr says so once', async () => {
    const input = Array.from({ length: 300 }, (_, i) => JSON.stringify({ service: `svc-${i % 3}`, msg: `order ${i} placed` })).join('\n') + '\n';
    const few = await runCli(['scan', '--format', 'json', '--stream-id', '{body.service}', '--max-streams', '2', '-'], { input });
    const told = few.stderr.split('\n').filter((l) => l.includes('more streams take turns than --max-streams (2)'));
    expect(told).toHaveLength(1);
    const enough = await runCli(['scan', '--format', 'json', '--stream-id', '{body.service}', '--max-streams', '3', '-'], { input });
    expect(enough.stderr).not.toContain('more streams take turns');
    const bad = await runCli(['scan', '--max-streams', '0', '-'], { input: '' });
    expect(bad.code).toBe(2);
  });

  it('--state: a rotated file and the current one are one stream, so the next scan starts from the saved baseline', async () => {
    const dir = await tempDir('dl-detect-');
    const state = path.join(dir, 'state.json');
    let t = Date.parse('2025-01-01T00:00:00Z');
    const info = (i: number) => `${new Date((t += 50)).toISOString()} INFO: User logged in user_id=${1000 + ((i * 7919) % 9000)}`;
    await writeFile(path.join(dir, 'app.log.1'), Array.from({ length: 300 }, (_, i) => info(i)).join('\n') + '\n');
    const today = [...Array.from({ length: 50 }, (_, i) => info(i)), `${new Date((t += 50)).toISOString()} ERROR: Database connection failed`];
    await writeFile(path.join(dir, 'app.log'), today.join('\n') + '\n');
    const first = await runCli(['scan', '--output', 'json', '--format', 'text', '--state', state, path.join(dir, 'app.log.1')]);
    expect(first.code, first.stderr).toBe(0);
    const second = await runCli(['scan', '--output', 'json', '--format', 'text', '--state', state, path.join(dir, 'app.log')]);
    // 51 lines alone would still be in the warm-up (100): the ERROR is found only on the restored baseline.
    expect(second.code, second.stderr).toBe(1);
    const flags = jsonLines(second.stdout).filter((o) => 'line' in o);
    expect(flags.map((f) => f.line)).toEqual([51]);
    expect(flags[0]!.stream_id).toBe(path.join(dir, 'app.log'));
  });

  it('--state in a folder that is not there: made (0700) and said, as run makes data_dir; one that cannot be made is refused before anything is read (exit 2)', async () => {
    const dir = await tempDir('dl-detect-');
    const log = path.join(dir, 'app.log');
    await writeFile(log, incidentLog().join('\n') + '\n');
    const folder = path.join(dir, 'states', 'nginx');
    const state = path.join(folder, 'state.json');
    // Before: made silently at the end, so that a mistyped folder kept the baseline where no one looked.
    const first = await runCli(['scan', '--no-progress', '--output', 'json', '--state', state, log]);
    expect(first.code, first.stderr).toBe(1);
    expect(first.stderr).toContain(`driftlock: no state in ${state} yet: a new warm-up, saved there at the end (its folder ${folder} did not exist: created it)\n`);
    expect((await stat(folder)).mode & 0o777).toBe(0o700);
    const again = await runCli(['stream', '--state', state], { input: '' });
    expect(again.stderr).toMatch(/^driftlock: restored 1 stream from /);

    // A folder that cannot be made (a file where its parent should be): said at once, with why, and nothing
    // scanned. Before, the whole scan ran, its alerts printed, and only then 'cannot save state ... ENOTDIR'.
    const blocked = path.join(dir, 'app.log', 'state.json');
    for (const args of [['scan', '--no-progress', '--state', blocked, log], ['stream', '--state', blocked]]) {
      const refused = await runCli(args, { input: '' });
      expect(refused.code, args[0]).toBe(2);
      expect(refused.stdout, args[0]).toBe('');
      expect(refused.stderr, args[0]).toBe(`driftlock: --state ${blocked}: its folder ${log} cannot be used: it is a file, not a folder: EEXIST: file already exists, mkdir '${log}'\n`);
    }
  });

  it('scan | head -1: the reader going away ends the scan as Ctrl-C would: state saved, exit code kept', async () => {
    const dir = await tempDir('dl-detect-');
    const state = path.join(dir, 'state.json');
    let t = Date.parse('2025-01-01T00:00:00Z');
    const lines = Array.from({ length: 400 }, (_, i) => `${new Date((t += 50)).toISOString()} INFO: User logged in user_id=${1000 + ((i * 7919) % 9000)}`);
    for (let i = 0; i < 300; i++) lines.push(`${new Date((t += 50)).toISOString()} ERROR: disk ${i % 7} failed with code E${i}`);
    const file = path.join(dir, 'app.log');
    await writeFile(file, lines.join('\n') + '\n');
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const shell = `${q(process.execPath)} ${q(CLI)} scan --no-progress --output json --format text --state ${q(state)} ${q(file)} | head -1 > /dev/null; echo "exit \${PIPESTATUS[0]}"`;
    const r = spawnSync('bash', ['-c', shell], { encoding: 'utf8' });
    // Before: exit 0 at the broken pipe, no state saved, no summary.
    expect(r.stdout.trim()).toBe('exit 1');
    expect(existsSync(state)).toBe(true);
    expect(r.stderr).toMatch(/anomalies/);
  });

  it('scan reads a gzipped rotation decompressed, and one log is one stream however its path is written', async () => {
    const dir = await tempDir('dl-detect-');
    const state = path.join(dir, 'state.json');
    let t = Date.parse('2025-01-01T00:00:00Z');
    const info = (i: number) => `${new Date((t += 50)).toISOString()} INFO: User logged in user_id=${1000 + ((i * 7919) % 9000)}`;
    await writeFile(path.join(dir, 'app.log.2.gz'), gzipSync(Array.from({ length: 300 }, (_, i) => info(i)).join('\n') + '\n'));
    const gz = await runCli(['scan', '--output', 'json', '--format', 'text', '--state', state, path.join(dir, 'app.log.2.gz')]);
    expect(gz.code, gz.stderr).toBe(0);
    expect(gz.stderr).toMatch(/300 events/);
    expect(gz.stderr).not.toMatch(/malformed/);
    // The same log through a relative path: the saved baseline is found (no new warm-up).
    await writeFile(path.join(dir, 'app.log'), [...Array.from({ length: 50 }, (_, i) => info(i)), `${new Date((t += 50)).toISOString()} ERROR: Database connection failed`].join('\n') + '\n');
    const second = await runCli(['scan', '--output', 'json', '--format', 'text', '--state', state, './app.log'], { cwd: dir });
    expect(second.code, second.stderr).toBe(1);
    const flags = jsonLines(second.stdout).filter((o) => 'line' in o);
    expect(flags.map((f) => [f.line, f.stream_id])).toEqual([[51, path.join(dir, 'app.log')]]);
  });

  it('summary: one line per kind of anomaly with how many more were alike; untimed lines show no time; blank lines are not scored', async () => {
    const dir = await tempDir('dl-detect-');
    const file = path.join(dir, 'app.log');
    const lines = Array.from({ length: 400 }, (_, i) => `INFO: User logged in user_id=${1000 + ((i * 7919) % 9000)}`);
    for (let i = 0; i < 5; i++) lines.push('ERROR: Database connection failed', '   ', '\t');
    await writeFile(file, lines.join('\n') + '\n');
    const result = await runCli(['scan', '--format', 'text', file]);
    expect(result.code, result.stderr).toBe(1);
    const summary = result.stdout.slice(result.stdout.indexOf('Top anomalies:'));
    const entries = summary.split('\n').slice(1).filter((l) => l.trim());
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatch(/app\.log:401 {2}new_pattern: .*Database connection failed.*\(and 4 more alike\)$/);
    // The headline of an alert: no date (the lines have none; the scan's own time would be a lie).
    const headline = result.stdout.split('\n').find((l) => l.startsWith('▲'))!;
    expect(headline).not.toMatch(/\d{4}-\d\d-\d\d/);
    expect(result.stdout).not.toContain('unusual text ""');
  });

  it('rejects bad options with a usage error', async () => {
    const bad = await runCli(['scan', '--profile', 'paranoid', 'x.log']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/paranoid/);
    const threshold = await runCli(['stream', '--threshold', '7']);
    expect(threshold.code).toBe(2);
    expect(threshold.stderr).toMatch(/--threshold must be a number from 0 to 0.9999/);
    // 1 would never flag anything: no confidence reaches it.
    const one = await runCli(['stream', '--threshold', '1']);
    expect(one.code).toBe(2);
    expect(one.stderr).toMatch(/--threshold must be a number from 0 to 0.9999, got "1"/);
  });
});

describe('anomaly_detect in a pipeline', () => {
  it('stdin -> parse -> anomaly_detect -> file writes flagged events with attributes.anomaly and snapshots state', async () => {
    const dir = await tempDir('dl-detect-');
    const out = path.join(dir, 'alerts.jsonl');
    const config = path.join(dir, 'pipeline.yaml');
    await writeFile(
      config,
      `data_dir: ${JSON.stringify(path.join(dir, 'data'))}
inputs:
  access:
    type: stdin
transforms:
  parse_access:
    type: parse
    inputs: [access]
    format: nginx
  detect:
    type: anomaly_detect
    inputs: [parse_access]
    stream_id: nginx-logs
outputs:
  alerts:
    type: file
    inputs: [detect]
    path: ${JSON.stringify(out)}
`,
    );
    const result = await runCli(['run', '-c', config], { input: incidentLog().join('\n') + '\n' });
    expect(result.code, result.stderr).toBe(0);
    const events = (await readFile(out, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { body: Record<string, unknown>; attributes: { anomaly: Record<string, unknown> } });
    const slow = events.find((e) => e.body.response_time === 5.2);
    expect(slow?.attributes.anomaly).toMatchObject({ kind: 'field_value', field: 'response_time', stream_id: 'nginx-logs' });
    expect(events.find((e) => e.body.http_user_agent === SQL_INJECTION)?.attributes.anomaly).toMatchObject({ field: 'http_user_agent' });
    // Only anomalies pass (emit: anomalies), and far fewer than the input.
    expect(events.length).toBeLessThan(30);
    // The detector's own metrics are in the summary the daemon logs when it stops.
    expect(exitSummary(result.stderr, 'all inputs finished; stopped').detect).toMatchObject({ anomalies_total: events.length, detector_streams: 1, received_events_total: 2202 });
    const snapshot = await readDetectorState(path.join(dir, 'data', 'detect', 'detector.json'));
    expect(snapshot.streams).toEqual([expect.objectContaining({ id: 'nginx-logs', events: 2202 })]);
  });
});
