/**
 * TLS inputs across a SIGHUP through the real CLI: a renewal half done (a certificate that no longer matches
 * its key, a certificate file gone) at the moment of a reload must not take the daemon down, and a finished
 * renewal must be taken.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, readFile, rename, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import { logLines, runCli, startCli, type RunningCli } from '../helpers/cli.js';
import { HAVE_OPENSSL, makeSelfSignedCert, type TestCert } from '../helpers/tls-cert.js';
import { freePort } from '../helpers/metrics.js';
import { tempDir } from '../helpers/temp.js';
import { until } from '../helpers/wait.js';


/** The SHA-256 fingerprint of the certificate a TLS server presents; `line`, when given, is sent (syslog). */
function servedCert(port: number, options: { alpn?: string[]; line?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...(options.alpn ? { ALPNProtocols: options.alpn } : {}) }, () => {
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      if (options.line === undefined) socket.destroy();
      else socket.end(options.line);
      resolve(fingerprint);
    });
    socket.on('error', reject);
  });
}

function fingerprintOf(cert: TestCert): string {
  return new X509Certificate(cert.cert).fingerprint256;
}

describe.skipIf(!HAVE_OPENSSL)('TLS inputs and SIGHUP (e2e)', () => {
  /** A daemon with a syslog TLS input and an otlp_grpc TLS input on server.crt/server.key, writing to out.log. */
  async function start(dir: string): Promise<{ cli: RunningCli; file: string; sysPort: number; otlpPort: number; out: string; config: (pair?: string, extraPort?: number) => string }> {
    const file = path.join(dir, 'pipeline.yaml');
    const out = path.join(dir, 'out.log');
    const [sysPort, otlpPort] = [await freePort(), await freePort()];
    const config = (pair = 'server', extraPort?: number) => `data_dir: ${dir}/data
inputs:
  sys_tls: { type: syslog, mode: tls, address: 127.0.0.1:${sysPort}, tls: { cert_file: ${dir}/${pair}.crt, key_file: ${dir}/${pair}.key } }
  otlp: { type: otlp_grpc, address: 127.0.0.1:${otlpPort}, tls: { cert_file: ${dir}/${pair}.crt, key_file: ${dir}/${pair}.key } }
${extraPort === undefined ? '' : `  extra: { type: syslog, mode: tcp, address: 127.0.0.1:${extraPort} }\n`}outputs:
  out: { type: file, inputs: [sys_tls, otlp${extraPort === undefined ? '' : ', extra'}], path: ${out}, encoding: text }
`;
    await writeFile(file, config());
    const cli = startCli(['run', '-c', file]);
    await cli.waitFor(/driftlock running/);
    return { cli, file, sysPort, otlpPort, out, config };
  }

  const received = async (out: string, text: string) => existsSync(out) && (await readFile(out, 'utf8')).includes(text);

  it('a SIGHUP while the certificate does not match its key, or is gone (a renewal half done), leaves the running pipeline serving its certificate; a finished renewal is then taken', async () => {
    const dir = await tempDir('dl-tls-reload-');
    const [a, b] = [makeSelfSignedCert()!, makeSelfSignedCert()!];
    await copyFile(a.certFile, path.join(dir, 'server.crt'));
    await copyFile(a.keyFile, path.join(dir, 'server.key'));
    const { cli, file, sysPort, otlpPort, out, config } = await start(dir);
    try {
      expect(await servedCert(sysPort, { line: '<11>1 2026-01-01T00:00:00Z host app 1 - - before\n' })).toBe(fingerprintOf(a));
      await until(() => received(out, 'before'), 'out.log holding the "before" line', { timeoutMs: 15_000, detail: () => cli.stderr().slice(-2000) });

      // The new certificate is in place, its key not yet: the reload is refused before anything stops.
      await copyFile(b.certFile, path.join(dir, 'server.crt'));
      cli.child.kill('SIGHUP');
      await cli.waitFor(/SIGHUP: the new config's TLS files cannot be used; the running pipeline goes on unchanged/);
      const refused = logLines(cli.stderr()).find((l) => String(l.msg).startsWith("SIGHUP: the new config's TLS files"))!;
      // One problem a list item, the message one line (before: all in one multi-line msg).
      expect(refused.msg).toBe("SIGHUP: the new config's TLS files cannot be used; the running pipeline goes on unchanged");
      // Each at the file:line:column of its input's tls, as config errors are (before, without).
      const tlsAt = (line: number) => `${file}:${line}:${config().split('\n')[line - 1]!.indexOf('{ cert_file') + 1}`;
      expect((refused.problems as string[]).map((p) => p.slice(0, p.indexOf(': input "')))).toEqual([tlsAt(3), tlsAt(4)]);
      expect(refused.problems).toEqual([
        expect.stringContaining(`: input "sys_tls" cannot start: TLS certificate ${dir}/server.crt does not match the key ${dir}/server.key`),
        expect.stringContaining(`: input "otlp" cannot start: TLS certificate ${dir}/server.crt does not match the key ${dir}/server.key`),
      ]);
      expect(cli.stderr()).not.toMatch(/draining the running pipeline|starting the previous config again/);
      // Still serving, with the certificate it has in memory, on both inputs.
      expect(await servedCert(sysPort, { line: '<11>1 2026-01-01T00:00:00Z host app 1 - - mismatched\n' })).toBe(fingerprintOf(a));
      expect(await servedCert(otlpPort, { alpn: ['h2'] })).toBe(fingerprintOf(a));
      await until(() => received(out, 'mismatched'), 'out.log holding the "mismatched" line', { timeoutMs: 15_000, detail: () => cli.stderr().slice(-2000) });

      // The certificate file gone (moved aside): the same.
      await rename(path.join(dir, 'server.crt'), path.join(dir, 'server.crt.bak'));
      const before = cli.stderr().length;
      cli.child.kill('SIGHUP');
      await until(() => cli.stderr().slice(before).includes("SIGHUP: the new config's TLS files cannot be used"), 'the daemon\'s "TLS files cannot be used" line for the missing certificate', { timeoutMs: 15_000, detail: () => cli.stderr().slice(-2000) });
      expect(logLines(cli.stderr().slice(before)).flatMap((l) => (l.problems as string[] | undefined) ?? []).join('\n')).toContain(`input "sys_tls" cannot start: cannot read TLS certificate ${dir}/server.crt: ENOENT`);
      expect(await servedCert(sysPort, { line: '<11>1 2026-01-01T00:00:00Z host app 1 - - missing\n' })).toBe(fingerprintOf(a));
      await until(() => received(out, 'missing'), 'out.log holding the "missing" line', { timeoutMs: 15_000, detail: () => cli.stderr().slice(-2000) });

      // The renewal finished: the next SIGHUP reloads, and the new certificate is served.
      await copyFile(b.certFile, path.join(dir, 'server.crt'));
      await copyFile(b.keyFile, path.join(dir, 'server.key'));
      cli.child.kill('SIGHUP');
      await cli.waitFor(/config reloaded: the new pipeline is running/);
      expect(await servedCert(sysPort, { line: '<11>1 2026-01-01T00:00:00Z host app 1 - - renewed\n' })).toBe(fingerprintOf(b));
      expect(await servedCert(otlpPort, { alpn: ['h2'] })).toBe(fingerprintOf(b));
      await until(() => received(out, 'renewed'), 'out.log holding the "renewed" line', { timeoutMs: 15_000, detail: () => cli.stderr().slice(-2000) });
    } finally {
      cli.child.kill('SIGTERM');
    }
    const result = await cli.exited;
    expect(result.code, result.stderr.slice(-3000)).toBe(0);
  }, 60_000);

  it('a SIGHUP with nothing changed (the file as it was, or only a comment added, the same TLS files) rebuilds nothing; a certificate renewed under the same file names is still taken', async () => {
    const dir = await tempDir('dl-tls-reload-');
    const [a, b] = [makeSelfSignedCert()!, makeSelfSignedCert()!];
    await copyFile(a.certFile, path.join(dir, 'server.crt'));
    await copyFile(a.keyFile, path.join(dir, 'server.key'));
    const { cli, file, sysPort, out } = await start(dir);
    const unchanged = () => logLines(cli.stderr()).filter((l) => String(l.msg).startsWith('SIGHUP: config unchanged')).length;
    try {
      // A client connected before the SIGHUPs: an unchanged config does not disconnect it.
      const client = tls.connect({ host: '127.0.0.1', port: sysPort, rejectUnauthorized: false });
      await new Promise((resolve) => client.once('secureConnect', resolve));
      client.write('<11>1 2026-01-01T00:00:00Z host app 1 - - first\n');
      await until(() => received(out, 'first'), 'out.log holding the "first" line', { timeoutMs: 15_000, detail: () => cli.stderr().slice(-2000) });

      cli.child.kill('SIGHUP');
      await until(() => unchanged() === 1, 'the daemon\'s first "SIGHUP: config unchanged" line', { timeoutMs: 15_000, detail: () => cli.stderr().slice(-2000) });
      // Only a comment and spacing: the same config once read.
      await writeFile(file, `# edited, to no effect\n${(await readFile(file, 'utf8')).replace('outputs:', '\noutputs:')}`);
      cli.child.kill('SIGHUP');
      await until(() => unchanged() === 2, 'the daemon\'s second "SIGHUP: config unchanged" line', { timeoutMs: 15_000, detail: () => cli.stderr().slice(-2000) });
      // Before: each drained the pipeline and built it again (otlp_grpc was stopped and started, the syslog
      // connection handed over to a new pipeline).
      expect(cli.stderr()).not.toMatch(/SIGHUP: reloading the config|config reloaded/);
      expect(cli.stderr().split('"msg":"pipeline started"').length - 1).toBe(1);
      client.write('<11>1 2026-01-01T00:00:00Z host app 1 - - second\n');
      await until(() => received(out, 'second'), 'out.log holding the "second" line', { timeoutMs: 15_000, detail: () => cli.stderr().slice(-2000) });
      client.destroy();

      // cert-manager renewed the pair in place: the file is unchanged, its TLS files are not, so it reloads.
      await copyFile(b.certFile, path.join(dir, 'server.crt'));
      await copyFile(b.keyFile, path.join(dir, 'server.key'));
      cli.child.kill('SIGHUP');
      await cli.waitFor(/config reloaded: the new pipeline is running/);
      expect(unchanged()).toBe(2);
      expect(await servedCert(sysPort, { line: '<11>1 2026-01-01T00:00:00Z host app 1 - - renewed\n' })).toBe(fingerprintOf(b));
      await until(() => received(out, 'renewed'), 'out.log holding the "renewed" line', { timeoutMs: 15_000, detail: () => cli.stderr().slice(-2000) });
    } finally {
      cli.child.kill('SIGTERM');
    }
    const result = await cli.exited;
    expect(result.code, result.stderr.slice(-3000)).toBe(0);
  }, 60_000);

  it('a reload whose new pipeline cannot start (a port taken) starts the previous config again with the TLS material it had, though its files changed since', async () => {
    const dir = await tempDir('dl-tls-reload-');
    const [a, b] = [makeSelfSignedCert()!, makeSelfSignedCert()!];
    await copyFile(a.certFile, path.join(dir, 'server.crt'));
    await copyFile(a.keyFile, path.join(dir, 'server.key'));
    const { cli, file, sysPort, out, config } = await start(dir);
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      // The new config takes a renewed pair under new names, and adds an input on a port another process
      // holds; the old certificate file was overwritten, no longer matching the old key.
      await copyFile(b.certFile, path.join(dir, 'renewed.crt'));
      await copyFile(b.keyFile, path.join(dir, 'renewed.key'));
      await copyFile(b.certFile, path.join(dir, 'server.crt'));
      await writeFile(file, config('renewed', (taken.address() as net.AddressInfo).port));
      cli.child.kill('SIGHUP');
      await cli.waitFor(/reloading the config: draining the running pipeline/);
      await cli.waitFor(/starting the previous config again/);
      await until(
        () => cli.stderr().includes('"msg":"pipeline started"') && cli.stderr().lastIndexOf('"msg":"pipeline started"') > cli.stderr().indexOf('starting the previous config again'),
        'the daemon\'s "pipeline started" line after "starting the previous config again"',
        { timeoutMs: 15_000, detail: () => cli.stderr().slice(-2000) },
      );
      expect(cli.child.exitCode).toBeNull();
      expect(await servedCert(sysPort, { line: '<11>1 2026-01-01T00:00:00Z host app 1 - - fallback\n' })).toBe(fingerprintOf(a));
      await until(() => received(out, 'fallback'), 'out.log holding the "fallback" line', { timeoutMs: 15_000, detail: () => cli.stderr().slice(-2000) });
    } finally {
      cli.child.kill('SIGTERM');
      taken.close();
    }
    const result = await cli.exited;
    expect(result.code, result.stderr.slice(-3000)).toBe(0);
    expect(result.stderr).not.toContain('cannot start again either');
  }, 60_000);

  it('at start, a certificate that does not match its key is a config error (exit 78) naming the files', async () => {
    const dir = await tempDir('dl-tls-reload-');
    const [a, b] = [makeSelfSignedCert()!, makeSelfSignedCert()!];
    const file = path.join(dir, 'pipeline.yaml');
    // Before, this failed only when the input listened, with OpenSSL's words alone ("key values mismatch"):
    // which files, of which input, was not said.
    await writeFile(file, `data_dir: ${dir}/data
inputs:
  otlp: { type: otlp_grpc, address: 127.0.0.1:0, tls: { cert_file: ${b.certFile}, key_file: ${a.keyFile} } }
outputs:
  out: { type: file, inputs: [otlp], path: ${dir}/out.log }
`);
    const result = await runCli(['run', '-c', file]);
    expect(result.code, result.stderr.slice(-3000)).toBe(78);
    expect(result.stderr).toContain(`driftlock: input "otlp" cannot start: TLS certificate ${b.certFile} does not match the key ${a.keyFile}: `);
  }, 30_000);
});
