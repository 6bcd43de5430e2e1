/**
 * TLS settings shared by the network inputs: certificate and key files, and an optional CA that makes the
 * server require and verify client certificates (mutual TLS). The files are read, and checked (a PEM
 * certificate and key that go together, a CA file that holds certificates), when the component is built:
 * a missing, unreadable or mismatched file is a start-up error (exit 78) naming the file, not a failure at
 * the first client.
 *
 * A pipeline's material is read once and then kept (`TlsMaterials`): the daemon checks a reload's files
 * before it stops the running pipeline, builds the new one from what it checked, and starts the previous
 * config again, if it has to, with what that one had loaded, whatever the files hold by then (a renewal
 * half done).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import tls from 'node:tls';
import { z } from 'zod';
import { formatIssue } from '../../config/errors.js';
import type { PipelineConfig } from '../../config/load.js';

export const tlsConfig = z
  .object({
    cert_file: z.string().describe('PEM certificate (chain) the server presents.'),
    key_file: z.string().describe('PEM private key of the certificate.'),
    ca_file: z.string().optional().describe('PEM CA bundle: when set, clients must present a certificate signed by it.'),
  })
  .describe('TLS: certificate and key files, and an optional client CA for mutual TLS. Relative paths resolve against the working directory.');

export type TlsConfig = z.output<typeof tlsConfig>;

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca: Buffer | undefined;
}

/**
 * The TLS material of one pipeline, by file names: each set of files is read and checked once, then kept.
 * What a pipeline's components build under `use()` (and rebuild after a crash) comes from here.
 */
export class TlsMaterials {
  private readonly byFiles = new Map<string, Promise<TlsMaterial>>();

  /** The material of `config`: read and checked the first time, kept after (a failure is not kept). */
  load(config: TlsConfig): Promise<TlsMaterial> {
    const key = JSON.stringify([path.resolve(config.cert_file), path.resolve(config.key_file), config.ca_file === undefined ? null : path.resolve(config.ca_file)]);
    let material = this.byFiles.get(key);
    if (!material) {
      material = readTls(config);
      this.byFiles.set(key, material);
      material.catch(() => this.byFiles.delete(key));
    }
    return material;
  }

  /** Runs `fn` (a pipeline's start) so that `loadTls` in what it builds, now or later, takes material from here. */
  use<T>(fn: () => T): T {
    return inUse.run(this, fn);
  }
}

const inUse = new AsyncLocalStorage<TlsMaterials>();

/** The TLS settings in a component's options (`tls: { cert_file, key_file, ca_file? }`), if it has any. */
export function tlsSettingsOf(options: unknown): TlsConfig | undefined {
  const settings = (options as { tls?: unknown } | null | undefined)?.tls;
  if (settings === undefined || settings === null) return undefined;
  const parsed = tlsConfig.safeParse(settings);
  return parsed.success ? parsed.data : undefined;
}

/**
 * Reads and checks the TLS files of every component of `config` that has some, into `tls`: what cannot be
 * used, one line a component, at the file:line:column of its `tls` in `file` as config errors are
 * (`pipeline.yaml:3:60: input "syslog_tls" cannot start: cannot read TLS key ...`; before, without the
 * position). For a reload, and for `driftlock validate`, which would otherwise pass a config that `run` then
 * refuses.
 */
export async function tlsProblemsOf(config: Pick<PipelineConfig, 'components' | 'positionOf'>, file: string, tls: TlsMaterials = new TlsMaterials()): Promise<string[]> {
  const problems: string[] = [];
  for (const c of config.components) {
    const settings = tlsSettingsOf(c.options);
    if (!settings) continue;
    try {
      await tls.load(settings);
    } catch (err) {
      problems.push(formatIssue(file, { ...config.positionOf([`${c.kind}s`, c.id, 'tls']), message: `${c.kind} ${JSON.stringify(c.id)} cannot start: ${(err as Error).message}` }));
    }
  }
  return problems;
}

/** The material of `config`: from the pipeline's `TlsMaterials` when one is in use, else read and checked now. */
export async function loadTls(config: TlsConfig): Promise<TlsMaterial> {
  const materials = inUse.getStore();
  return materials ? materials.load(config) : readTls(config);
}

async function readTls(config: TlsConfig): Promise<TlsMaterial> {
  const read = async (file: string, what: string) => {
    try {
      return await readFile(path.resolve(file));
    } catch (err) {
      throw new Error(`cannot read TLS ${what} ${file}: ${(err as Error).message}`, { cause: err });
    }
  };
  const material = {
    cert: await read(config.cert_file, 'certificate'),
    key: await read(config.key_file, 'key'),
    ca: config.ca_file === undefined ? undefined : await read(config.ca_file, 'CA file'),
  };
  checkTls(config, material);
  return material;
}

/**
 * Throws, naming the file, what would make a server fail with this material: a certificate or key that is
 * not PEM (or not what it says), a key that is not the certificate's (a renewal half done), a CA file that
 * holds no certificate or one that cannot be read. Node's own checks, as the server will make them.
 */
function checkTls(config: TlsConfig, m: TlsMaterial): void {
  const check = (options: tls.SecureContextOptions, problem: string) => {
    try {
      tls.createSecureContext(options);
    } catch (err) {
      throw new Error(`${problem}: ${(err as Error).message}`, { cause: err });
    }
  };
  check({ cert: m.cert }, `TLS certificate ${config.cert_file} cannot be used (a PEM certificate is expected)`);
  check({ key: m.key }, `TLS key ${config.key_file} cannot be used (a PEM private key without a passphrase is expected)`);
  check({ cert: m.cert, key: m.key }, `TLS certificate ${config.cert_file} does not match the key ${config.key_file}`);
  if (m.ca !== undefined) {
    // createSecureContext takes a CA file that holds nothing usable without a word: every client would be refused.
    const pem = m.ca.toString('latin1');
    if (!/-----BEGIN (TRUSTED )?CERTIFICATE-----/.test(pem)) throw new Error(`TLS CA file ${config.ca_file!} holds no PEM certificate`);
    const blocks = pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
    for (const [i, block] of blocks.entries()) {
      try {
        void new X509Certificate(block).fingerprint256;
      } catch (err) {
        throw new Error(`TLS CA file ${config.ca_file!}: certificate ${i + 1} cannot be read: ${(err as Error).message}`, { cause: err });
      }
    }
    check({ ca: m.ca }, `TLS CA file ${config.ca_file!} cannot be used`);
  }
}
