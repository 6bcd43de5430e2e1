/**
 * TLS settings shared by the network inputs: certificate and key files, and an optional CA that makes the
 * server require and verify client certificates (mutual TLS). The files are read when the component is
 * built, so a missing or unreadable file is a start-up error (exit 78), not a failure at the first client.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';

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

export async function loadTls(config: TlsConfig): Promise<TlsMaterial> {
  const read = async (file: string, what: string) => {
    try {
      return await readFile(path.resolve(file));
    } catch (err) {
      throw new Error(`cannot read TLS ${what} ${file}: ${(err as Error).message}`, { cause: err });
    }
  };
  return {
    cert: await read(config.cert_file, 'certificate'),
    key: await read(config.key_file, 'key'),
    ca: config.ca_file === undefined ? undefined : await read(config.ca_file, 'CA file'),
  };
}
