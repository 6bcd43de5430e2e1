/**
 * A throwaway self-signed certificate for 127.0.0.1 / localhost, made with the openssl CLI (undefined without it),
 * in a temp folder removed when the test ends.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { tempDirSync } from './temp.js';

/** Whether the openssl CLI is here (TLS tests are skipped, and say so, without it). */
export const HAVE_OPENSSL = spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;

export interface TestCert {
  dir: string;
  certFile: string;
  keyFile: string;
  cert: Buffer;
  key: Buffer;
}

export function makeSelfSignedCert(): TestCert | undefined {
  const dir = tempDirSync('dl-tls-');
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  const r = spawnSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout', keyFile, '-out', certFile,
  ], { stdio: 'ignore' });
  if (r.status !== 0) return undefined;
  return { dir, certFile, keyFile, cert: readFileSync(certFile), key: readFileSync(keyFile) };
}

/**
 * A client certificate signed by `ca` (its key signs) that expired a day ago: `openssl x509 -days -1`.
 * Undefined if openssl cannot make one.
 */
export function makeExpiredCertSignedBy(ca: TestCert): TestCert | undefined {
  const dir = tempDirSync('dl-tls-');
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  const csr = path.join(dir, 'req.csr');
  const steps = [
    ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=expired-client', '-keyout', keyFile, '-out', csr],
    ['x509', '-req', '-in', csr, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-CAcreateserial', '-CAserial', path.join(dir, 'ca.srl'), '-days', '-1', '-out', certFile],
  ];
  for (const args of steps) if (spawnSync('openssl', args, { stdio: 'ignore' }).status !== 0) return undefined;
  return { dir, certFile, keyFile, cert: readFileSync(certFile), key: readFileSync(keyFile) };
}
