/**
 * SIGHUP keeps the inputs whose config did not change running: a syslog UDP socket stays bound, a syslog TCP
 * connection stays open, a tailed file stays open where it is. Before, every input was stopped and built
 * anew: datagrams sent while the port was closed were lost, and every TCP sender was disconnected.
 */
import dgram from 'node:dgram';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { logLines, startCli } from '../helpers/cli.js';
import { scrape } from '../helpers/metrics.js';
import { freePort } from '../helpers/syslog-senders.js';
import { tempDir } from '../helpers/temp.js';
import { until } from '../helpers/wait.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function readLines(file: string): Promise<string[]> {
  try {
    return (await readFile(file, 'utf8')).split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

describe('SIGHUP with inputs that did not change', () => {
  it('keeps them running: every UDP datagram, TCP line and file line sent through the reload arrives once, and the TCP connection is never closed', async () => {
    const dir = await tempDir('dl-reload-keep-');
    const [tcpPort, udpPort] = [await freePort(), await freePort()];
    const log = path.join(dir, 'app.log');
    const out = path.join(dir, 'out.jsonl');
    await writeFile(log, '');
    const config = path.join(dir, 'pipeline.yaml');
    const pipeline = (extra: string) => `data_dir: ${dir}/data
inputs:
  udp: { type: syslog, mode: udp, address: 127.0.0.1:${udpPort} }
  tcp: { type: syslog, mode: tcp, address: 127.0.0.1:${tcpPort} }
  tail: { type: file, include: [${log}], start_at: beginning, check_interval: 100ms }
outputs:
  out: { type: file, inputs: [udp, tcp, tail], path: ${out} }
${extra}`;
    await writeFile(config, pipeline(''));
    const cli = startCli(['run', '-c', config], { stdin: 'ignore' });
    const udp = dgram.createSocket('udp4');
    let tcp: net.Socket | undefined;
    let sending = true;
    try {
      await cli.waitFor(/driftlock running/);
      tcp = net.connect({ port: tcpPort, host: '127.0.0.1' });
      await new Promise<void>((resolve, reject) => tcp!.once('connect', resolve).once('error', reject));
      let tcpClosed = false;
      tcp.on('close', () => (tcpClosed = true));
      tcp.on('error', () => undefined);
      // Three senders, one message each every 2 ms, from before the SIGHUP until after the new pipeline runs.
      const sent = { udp: 0, tcp: 0, file: 0 };
      const senders = (async () => {
        while (sending) {
          udp.send(`<13>1 - host app - - - udp ${sent.udp++}`, udpPort, '127.0.0.1');
          if (!tcpClosed) tcp!.write(`<13>1 - host app - - - tcp ${sent.tcp++}\n`);
          await appendFile(log, `file ${sent.file++}\n`);
          await sleep(2); // the senders' pace
        }
      })();
      // The output has 50 messages of each sender, and again 50 sent after the new pipeline runs.
      const arrived = async (prefix: string, n: number) => (await readLines(out)).some((l) => l.includes(`"${prefix} ${n}"`));
      const allArrived = async (n: number) => (await arrived('udp', n)) && (await arrived('tcp', n)) && (await arrived('file', n));
      const state = () => `sent: ${JSON.stringify(sent)}, TCP connection closed: ${tcpClosed}\n${cli.stderr().slice(-3000)}`;
      await until(() => allArrived(50), 'message 50 of each sender (udp, tcp, file) in the output before the reload', { detail: state });
      // The new config adds an output: the pipeline changes, the inputs do not.
      await writeFile(config, pipeline(`  copy: { type: file, inputs: [udp], path: ${dir}/copy.jsonl }\n`));
      cli.child.kill('SIGHUP');
      await cli.waitFor(/config reloaded: the new pipeline is running/);
      const atReload = Math.max(sent.udp, sent.tcp, sent.file);
      await until(() => allArrived(atReload + 50), `message ${atReload + 50} of each sender in the output, 50 after the reload`, { detail: state });
      sending = false;
      await senders;
      const expected = sent.udp + sent.tcp + sent.file;
      await until(async () => (await readLines(out)).length >= expected, `all ${expected} messages sent in the output`, { detail: state });
      expect(tcpClosed).toBe(false);
      cli.child.kill('SIGTERM');
      const exit = await cli.exited;
      expect(exit.code, exit.stderr).toBe(0);
      const reloading = logLines(exit.stderr).find((l) => l.msg === 'SIGHUP: reloading the config: draining the running pipeline');
      expect(reloading?.kept_running).toEqual(['udp', 'tcp', 'tail']);
      expect(logLines(exit.stderr).find((l) => l.msg === 'config reloaded: the new pipeline is running')?.kept_running).toEqual(['udp', 'tcp', 'tail']);
      const bodies = (await readLines(out)).map((l) => (JSON.parse(l) as { body: string }).body);
      const numbered = (prefix: string) => bodies.filter((b) => b.startsWith(prefix)).map((b) => Number(b.slice(prefix.length)));
      const range = (n: number) => Array.from({ length: n }, (_, i) => i);
      // Each sender's messages, all of them, once each (UDP and TCP in order; the file too).
      expect(numbered('udp ')).toEqual(range(sent.udp));
      expect(numbered('tcp ')).toEqual(range(sent.tcp));
      expect(numbered('file ')).toEqual(range(sent.file));
      expect(sent.udp).toBeGreaterThan(100);
    } finally {
      sending = false;
      udp.close();
      tcp?.destroy();
      if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
    }
  });

  it('a pipeline that reads standard input reloads when its stdin input is unchanged (it goes on reading), and refuses a change to it', async () => {
    const dir = await tempDir('dl-reload-stdin-');
    const out = path.join(dir, 'out.jsonl');
    const config = path.join(dir, 'pipeline.yaml');
    const pipeline = (input: string, extra: string) => `data_dir: ${dir}/data
inputs:
  in: { type: stdin${input} }
outputs:
  out: { type: file, inputs: [in], path: ${out} }
${extra}`;
    await writeFile(config, pipeline('', ''));
    const cli = startCli(['run', '-c', config]);
    try {
      await cli.waitFor(/driftlock running/);
      cli.child.stdin!.write('one\ntwo\n');
      await until(async () => (await readLines(out)).length >= 2, 'lines one and two in the output');
      // A changed stdin input: refused, the running pipeline goes on.
      await writeFile(config, pipeline(', max_line_bytes: 2KiB', ''));
      cli.child.kill('SIGHUP');
      await cli.waitFor(/changes or removes the input that reads standard input/);
      cli.child.stdin!.write('three\n');
      await until(async () => (await readLines(out)).length >= 3, 'line three in the output, after the refused reload');
      // Unchanged, with an output added: reloaded, and standard input goes on being read.
      await writeFile(config, pipeline('', `  copy: { type: file, inputs: [in], path: ${dir}/copy.jsonl }\n`));
      cli.child.kill('SIGHUP');
      await cli.waitFor(/config reloaded: the new pipeline is running/);
      cli.child.stdin!.end('four\n');
      const exit = await cli.exited;
      expect(exit.code, exit.stderr).toBe(0);
      const bodies = (await readLines(out)).map((l) => (JSON.parse(l) as { body: string }).body);
      expect(bodies).toEqual(['one', 'two', 'three', 'four']);
      const copied = (await readLines(path.join(dir, 'copy.jsonl'))).map((l) => (JSON.parse(l) as { body: string }).body);
      expect(copied).toEqual(['four']);
    } finally {
      if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
    }
  });

  it('SIGTERM during a reload that keeps a file input: the daemon stops, and the next start delivers every line (what the held input had read is read again)', async () => {
    const dir = await tempDir('dl-reload-term-');
    const log = path.join(dir, 'app.log');
    const out = path.join(dir, 'out.txt');
    await writeFile(log, '');
    // A slow output (2 ms an event) behind a small buffer: the reload's drain takes a while.
    await writeFile(path.join(dir, 'slow.mjs'), `import fs from 'node:fs';
export default ({ z, defineOutput, ackBatch }) => [defineOutput({
  type: 'slow_file', description: 'a slow output', config: z.object({ path: z.string() }),
  build: (config) => ({ async consume(batches) {
    for await (const batch of batches) {
      await new Promise((r) => setTimeout(r, 2 * batch.events.length));
      fs.appendFileSync(config.path, batch.events.map((e) => e.body + '\\n').join(''));
      ackBatch(batch);
    }
  } }),
})];
`);
    const config = path.join(dir, 'pipeline.yaml');
    const api = await freePort();
    await writeFile(config, `data_dir: ${dir}/data
api: { enabled: true, address: "127.0.0.1:${api}" }
plugins: [./slow.mjs]
inputs:
  tail: { type: file, include: [${log}], start_at: beginning }
outputs:
  out: { type: slow_file, inputs: [tail], path: ${out}, buffer: { max_events: 200 } }
`);
    const first = startCli(['run', '-c', config], { stdin: 'ignore' });
    await first.waitFor(/driftlock running/);
    // Ten lines every 10 ms, faster than the output takes them: a backlog builds up.
    let written = 0;
    let writing = true;
    const writer = (async () => {
      while (writing) {
        await appendFile(log, Array.from({ length: 10 }, () => `line ${written++}\n`).join(''));
        await sleep(10); // the writer's pace
      }
    })();
    // The output's buffer full: the reload's drain takes a while (200 events at 2 ms each).
    await until(async () => ((await scrape(api)).get('buffer_events/out') ?? 0) >= 200, 'the output\'s buffer to fill (200 events)', { detail: () => first.stderr().slice(-3000) });
    // The output changes (its buffer), the input does not: it is kept running, its backlog held.
    await writeFile(config, (await readFile(config, 'utf8')).replace('max_events: 200', 'max_events: 201'));
    first.child.kill('SIGHUP');
    // Logged as the drain starts, the kept input held already: the SIGTERM comes during the drain.
    await first.waitFor(/SIGHUP: reloading the config/);
    first.child.kill('SIGTERM');
    const stopped = await first.exited;
    writing = false;
    await writer;
    // The held input stops reading at the SIGTERM. If it held a batch at the gate by then, that batch is not
    // delivered: said, and the exit is 1 (the next start reads it again); else the stop is clean.
    const discarded = logLines(stopped.stderr).find((l) => String(l.msg).startsWith('stopped during a reload'))?.discarded_events;
    expect(stopped.code, stopped.stderr).toBe(discarded === undefined ? 0 : 1);
    expect(logLines(stopped.stderr).find((l) => l.msg === 'SIGHUP: reloading the config: draining the running pipeline')?.kept_running).toEqual(['tail']);
    expect(logLines(stopped.stderr).some((l) => l.msg === 'config reloaded: the new pipeline is running'), stopped.stderr).toBe(false);
    expect((await readLines(out)).length).toBeLessThan(written);
    // The next start resumes from the checkpoint: every line arrives (at least once).
    const second = startCli(['run', '-c', config], { stdin: 'ignore' });
    await second.waitFor(/driftlock running/);
    await until(async () => new Set(await readLines(out)).size >= written, `all ${written} lines in the output after the next start`, { detail: () => second.stderr().slice(-3000) });
    second.child.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
    const lines = await readLines(out);
    expect(new Set(lines)).toEqual(new Set(Array.from({ length: written }, (_, i) => `line ${i}`)));
    // Only what was in flight is written twice.
    expect(lines.length - written).toBeLessThan(500);
  }, 60_000);
});
