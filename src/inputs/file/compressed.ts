/**
 * The rest of a copy that was compressed at once: logrotate's `copytruncate` with `compress` and no
 * `delaycompress` copies the file, truncates it, gzips the copy and deletes it, all within milliseconds. An
 * input that had not read the file to its end when it was truncated finds no plain copy by then; the rest
 * is in the `.gz`. It is decompressed into a file of the input's own, unlinked at once, that a tailer reads
 * as it would the copy: at the same offsets, so only the first bytes (to check the content) and what lies
 * past the offset read are written; the part before is left a hole.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { addAbortSignal } from 'node:stream';
import { mkdir, open, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { createGunzip } from 'node:zlib';
import { hashBytes, type Fingerprint } from './fingerprint.js';

/**
 * The content of the gzip file `file` in a new unlinked file made in `dir`, if it starts with the bytes of `fp`
 * and holds more than `from` bytes; undefined if not (another file's content, nothing past `from`, not gzip,
 * cut short, or gone), or if `signal` aborts first: a stop does not wait for the whole of a large file to be
 * decompressed. Before, it did: a stop waited out `shutdown_timeout` (exit 1), and with a 1.3 GB log the
 * decompression went on after it, and the exit killed the process as if a call were stuck (exit 137).
 */
export async function gunzippedRest(file: string, fp: Fingerprint, from: number, dir: string, signal: AbortSignal): Promise<FileHandle | undefined> {
  if (fp.length === 0 || signal.aborted) return undefined;
  // Larger pieces than the defaults (64 KiB read, 16 KiB out): fewer turns of the pipe for the same bytes.
  const input = createReadStream(file, { highWaterMark: 1 << 20 });
  const gunzip = addAbortSignal(signal, createGunzip({ chunkSize: 256 << 10 }));
  input.on('error', (err) => gunzip.destroy(err));
  input.pipe(gunzip);
  let out: FileHandle | undefined;
  let position = 0;
  // The chunks before the first bytes could be compared: nothing is written for another file's content.
  let held: Buffer[] | undefined = [];
  // Only the first bytes and what lies past `from`.
  const put = async (buf: Buffer, at: number) => {
    const end = at + buf.length;
    const headEnd = Math.min(end, fp.length);
    if (at < headEnd) await writeAll(out!, buf.subarray(0, headEnd - at), at);
    const restStart = Math.max(at, from, headEnd);
    if (restStart < end) await writeAll(out!, buf.subarray(restStart - at), restStart);
  };
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      if (held) {
        held.push(chunk);
        const head = Buffer.concat(held);
        if (head.length < fp.length) continue;
        if (hashBytes(head.subarray(0, fp.length)) !== fp.hash) return undefined;
        held = undefined;
        out = await unlinkedFile(dir);
        await put(head, 0);
        position = head.length;
        continue;
      }
      await put(chunk, position);
      position += chunk.length;
    }
    if (out === undefined || position <= from) return undefined;
    const handle = out;
    out = undefined;
    return handle;
  } catch {
    return undefined;
  } finally {
    input.destroy();
    gunzip.destroy();
    await out?.close().catch(() => undefined);
  }
}

async function unlinkedFile(dir: string): Promise<FileHandle> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `gunzipped-${randomUUID()}`);
  const handle = await open(file, 'wx+');
  await unlink(file).catch(() => undefined);
  return handle;
}

async function writeAll(handle: FileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) done += (await handle.write(buf, done, buf.length - done, position + done)).bytesWritten;
}
