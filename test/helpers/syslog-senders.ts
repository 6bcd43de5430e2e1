/**
 * Real syslog senders from Debian's packages for the tests: util-linux `logger` and a private `rsyslogd`
 * (its own config, pid file and work folder in a temp dir; no root, no system socket). Both are killed, and
 * the folder removed, when the test ends.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { spawnForTest } from './processes.js';
import { tempDirSync } from './temp.js';

function which(cmd: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

export const LOGGER = which('logger');
export const RSYSLOGD = which('rsyslogd') ?? (spawnSync('test', ['-x', '/usr/sbin/rsyslogd']).status === 0 ? '/usr/sbin/rsyslogd' : undefined);

/** Runs `logger` with the arguments; resolves with its exit code. */
export function runLogger(args: string[]): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawnForTest(LOGGER!, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('error', reject);
    child.on('close', resolve);
  });
}

/** A free TCP port on 127.0.0.1 (for programs that cannot be told to use port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface PrivateRsyslog {
  /** The TCP port rsyslog itself listens on (imtcp). */
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Starts rsyslogd in the foreground: imtcp on a free port, everything forwarded to `forwardPort` (omfwd TCP)
 * with `template`: RFC 5424 by default; `json` is rsyslog's jsonf list template (messages with no PRI).
 */
export async function startRsyslog(forwardPort: number, framing: 'octet-counted' | 'traditional', template: 'rfc5424' | 'json' = 'rfc5424'): Promise<PrivateRsyslog> {
  const dir = tempDirSync('dl-rsyslog-');
  const port = await freePort();
  const config = path.join(dir, 'rsyslog.conf');
  writeFileSync(config, `global(workDirectory="${dir}" maxMessageSize="64k")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="${port}")
template(name="jsonLine" type="list" option.jsonf="on") {
  property(outname="host" name="hostname" format="jsonf")
  property(outname="app" name="app-name" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
}
*.* action(type="omfwd" target="127.0.0.1" port="${forwardPort}" protocol="tcp" TCP_Framing="${framing}"
           template="${template === 'json' ? 'jsonLine' : 'RSYSLOG_SyslogProtocol23Format'}" queue.type="Direct")
`);
  const child = spawnForTest(RSYSLOGD!, ['-n', '-f', config, '-i', path.join(dir, 'rsyslogd.pid')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  // Ready when imtcp accepts connections.
  const started = Date.now();
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) break;
    if (child.exitCode !== null || Date.now() - started > 10_000) throw new Error(`rsyslogd did not start: ${output}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    child,
    stop: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('close', () => resolve());
      child.kill('SIGTERM');
    }),
  };
}
