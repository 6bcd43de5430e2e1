/** TLS material: read and checked when loaded (each problem names its file), and kept by a pipeline's TlsMaterials. */
import { copyFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTls, TlsMaterials, tlsSettingsOf } from '../../src/inputs/net/tls.js';
import { HAVE_OPENSSL, makeSelfSignedCert } from '../helpers/tls-cert.js';
import { tempDir } from '../helpers/temp.js';

describe.skipIf(!HAVE_OPENSSL)('TLS material', () => {
  it('a certificate and key that do not go together, or are not PEM, and a CA file without certificates are refused, naming the file', async () => {
    const [a, b] = [makeSelfSignedCert()!, makeSelfSignedCert()!];
    const dir = await tempDir('dl-tls-check-');
    const junk = path.join(dir, 'junk.pem');
    const empty = path.join(dir, 'empty.pem');
    await writeFile(junk, 'not a certificate\n');
    await writeFile(empty, '');
    await expect(loadTls({ cert_file: a.certFile, key_file: a.keyFile })).resolves.toMatchObject({ cert: a.cert, key: a.key, ca: undefined });
    await expect(loadTls({ cert_file: a.certFile, key_file: a.keyFile, ca_file: b.certFile })).resolves.toMatchObject({ ca: b.cert });
    await expect(loadTls({ cert_file: b.certFile, key_file: a.keyFile })).rejects.toThrow(`TLS certificate ${b.certFile} does not match the key ${a.keyFile}: `);
    await expect(loadTls({ cert_file: junk, key_file: a.keyFile })).rejects.toThrow(`TLS certificate ${junk} cannot be used`);
    await expect(loadTls({ cert_file: a.keyFile, key_file: a.keyFile })).rejects.toThrow(`TLS certificate ${a.keyFile} cannot be used`);
    await expect(loadTls({ cert_file: a.certFile, key_file: empty })).rejects.toThrow(`TLS key ${empty} cannot be used`);
    await expect(loadTls({ cert_file: a.certFile, key_file: a.keyFile, ca_file: junk })).rejects.toThrow(`TLS CA file ${junk} holds no PEM certificate`);
    await expect(loadTls({ cert_file: a.certFile, key_file: a.keyFile, ca_file: a.keyFile })).rejects.toThrow(`TLS CA file ${a.keyFile} holds no PEM certificate`);
    await expect(loadTls({ cert_file: path.join(dir, 'gone.crt'), key_file: a.keyFile })).rejects.toThrow(`cannot read TLS certificate ${path.join(dir, 'gone.crt')}: ENOENT`);
  });

  it('under a TlsMaterials, the files are read once: what changes in them after is not seen; a failure is not kept', async () => {
    const [a, b] = [makeSelfSignedCert()!, makeSelfSignedCert()!];
    const dir = await tempDir('dl-tls-kept-');
    const settings = { cert_file: path.join(dir, 'server.crt'), key_file: path.join(dir, 'server.key') };
    await copyFile(a.certFile, settings.cert_file);
    await copyFile(a.keyFile, settings.key_file);
    const materials = new TlsMaterials();
    const first = await materials.use(() => loadTls(settings));
    await copyFile(b.certFile, settings.cert_file);
    // What a pipeline builds under it (a restart, the previous config started again) gets what was read.
    const later = materials.use(async () => {
      await new Promise((r) => setTimeout(r, 1));
      return loadTls(settings);
    });
    await expect(later).resolves.toBe(first);
    // Elsewhere, the files are read again, and now refused.
    await expect(loadTls(settings)).rejects.toThrow('does not match the key');
    const fresh = new TlsMaterials();
    await expect(fresh.load(settings)).rejects.toThrow('does not match the key');
    await copyFile(b.keyFile, settings.key_file);
    await expect(fresh.load(settings)).resolves.toMatchObject({ cert: b.cert, key: b.key });
  });

  it('finds the TLS settings in a component\'s options', () => {
    expect(tlsSettingsOf({ mode: 'tls', tls: { cert_file: 'c', key_file: 'k' } })).toEqual({ cert_file: 'c', key_file: 'k' });
    expect(tlsSettingsOf({ mode: 'tcp' })).toBeUndefined();
    expect(tlsSettingsOf({ tls: true })).toBeUndefined();
    expect(tlsSettingsOf(undefined)).toBeUndefined();
  });
});
