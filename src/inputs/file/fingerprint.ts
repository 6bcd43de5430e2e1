/**
 * A file's identity is its device and inode *and* a fingerprint of its first bytes. Inode numbers are reused
 * as soon as a file is deleted (ext4, xfs), so an inode alone would resume a brand-new file from a stale
 * offset; the fingerprint tells them apart. A copy (copytruncate) has a new inode but the same fingerprint,
 * which is how the rest of a truncated file is found again.
 *
 * The fingerprint covers the first `fingerprint_bytes` (default 256) of the file, or all of it while the
 * file is shorter; a short fingerprint is upgraded once the file has grown, after checking that its first
 * bytes are still the same.
 */
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';

export interface Fingerprint {
  /** Bytes covered (less than the configured size while the file is shorter). */
  length: number;
  /** Hex SHA-1 of those bytes ('' for an empty file). */
  hash: string;
}

export const EMPTY_FINGERPRINT: Fingerprint = Object.freeze({ length: 0, hash: '' });

export function hashBytes(buf: Buffer): string {
  return buf.length === 0 ? '' : createHash('sha1').update(buf).digest('hex');
}

/** Reads up to `length` bytes from the start of the file. */
export async function readPrefix(handle: FileHandle, length: number): Promise<Buffer> {
  if (length <= 0) return Buffer.alloc(0);
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await handle.read(buf, got, length - got, got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}

/** The fingerprint of an open file: its first min(size, maxBytes) bytes. */
export async function fingerprintOf(handle: FileHandle, maxBytes: number): Promise<Fingerprint> {
  const prefix = await readPrefix(handle, maxBytes);
  return { length: prefix.length, hash: hashBytes(prefix) };
}

/** Whether the file still starts with the bytes the fingerprint was taken of. */
export async function startsWith(handle: FileHandle, fp: Fingerprint): Promise<boolean> {
  if (fp.length === 0) return true;
  const prefix = await readPrefix(handle, fp.length);
  return prefix.length === fp.length && hashBytes(prefix) === fp.hash;
}

/**
 * Fingerprints to look a file's first bytes up in, at the cost of one read of the file and one hash for each
 * distinct fingerprint length, however many fingerprints there are. (Checking them one by one, a read each,
 * cost a read per checkpoint in the folder for each rotated file looked at: with 600 rotated files in a
 * folder, one look took up to 4 s, and every other decision of the input waited behind it.)
 */
export class FingerprintSet {
  private readonly byLength = new Map<number, Set<string>>();

  /** Adds a fingerprint; an empty one (nothing read yet) identifies nothing and is left out. */
  add(fp: Fingerprint): void {
    if (fp.length === 0) return;
    const hashes = this.byLength.get(fp.length);
    if (hashes) hashes.add(fp.hash);
    else this.byLength.set(fp.length, new Set([fp.hash]));
  }

  /** The length of the longest fingerprint: the first bytes of a file that `has` needs (0 when empty). */
  get longest(): number {
    return this.byLength.size === 0 ? 0 : Math.max(...this.byLength.keys());
  }

  /** Whether the file starts with the bytes of one of the fingerprints. */
  async matches(handle: FileHandle): Promise<boolean> {
    return this.byLength.size > 0 && this.has(await readPrefix(handle, this.longest));
  }

  /** Whether `prefix` (a file's first bytes, `longest` of them or all the file has) starts with one of the fingerprints. */
  has(prefix: Buffer): boolean {
    for (const [length, hashes] of this.byLength) {
      if (prefix.length >= length && hashes.has(hashBytes(prefix.subarray(0, length)))) return true;
    }
    return false;
  }
}
