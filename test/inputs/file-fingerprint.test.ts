/**
 * FingerprintSet: the first bytes of a file looked up among many fingerprints with one read of the file.
 * Real files.
 */
import { open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FingerprintSet, fingerprintOf, hashBytes } from '../../src/inputs/file/fingerprint.js';
import { numbered, tempDir } from '../helpers/file-input.js';

describe('file input: FingerprintSet', () => {
  it('finds the fingerprint a file starts with among 500 of many lengths, reading the file once', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'app.log.7');
    await writeFile(file, numbered('x', 0, 100));
    const handle = await open(file, 'r');
    try {
      const set = new FingerprintSet();
      for (let i = 0; i < 500; i++) set.add({ length: 16 + (i % 200), hash: hashBytes(Buffer.from(`other ${i}`)) });
      const reads = () => {
        let n = 0;
        const read = handle.read.bind(handle);
        handle.read = ((...args: Parameters<typeof handle.read>) => {
          n += 1;
          return read(...args);
        }) as typeof handle.read;
        return () => n;
      };
      const counted = reads();
      expect(await set.matches(handle)).toBe(false);
      expect(counted()).toBe(1);
      set.add(await fingerprintOf(handle, 100));
      set.add({ length: 0, hash: '' }); // nothing read yet: identifies nothing
      expect(await set.matches(handle)).toBe(true);
      expect(counted()).toBe(3); // the fingerprint taken, then one read for the look-up
    } finally {
      await handle.close();
    }
  });

  it('knows nothing when empty, and a fingerprint longer than the file does not match it', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'short.log');
    await writeFile(file, 'short\n');
    const handle = await open(file, 'r');
    try {
      const set = new FingerprintSet();
      set.add({ length: 0, hash: '' });
      expect(await set.matches(handle)).toBe(false);
      set.add({ length: 64, hash: hashBytes(Buffer.from('short\n')) });
      expect(await set.matches(handle)).toBe(false);
      set.add({ length: 6, hash: hashBytes(Buffer.from('short\n')) });
      expect(await set.matches(handle)).toBe(true);
    } finally {
      await handle.close();
    }
  });
});
