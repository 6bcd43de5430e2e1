/**
 * The Fluentd forward protocol (v1): the four shapes a message may take, unpacked into entries.
 *
 *   Message                  [tag, time, record, option?]
 *   Forward                  [tag, [[time, record], ...], option?]
 *   PackedForward            [tag, bin|str: a msgpack stream of [time, record], option?]
 *   CompressedPackedForward  the same, gzipped, with option.compressed == "gzip"
 *
 * `time` is an EventTime (ext type 0), an integer or a float of seconds. Fluent Bit 2.1+ may send an entry as
 * `[[time, metadata], record]`; both forms are read. `option.chunk` asks for an ack (`{ack: chunk}`) once
 * the events are taken.
 */
import { isUtf8 } from 'node:buffer';
import { gunzipSync } from 'node:zlib';
import { Decoder } from '@msgpack/msgpack';
import { dateable } from '../../engine/event.js';
import { EventTime, forwardExtensions } from './event-time.js';
import { MessageBoundaries } from './framing.js';

export interface ForwardEntry {
  /** Epoch ms, if the entry has a usable time. */
  time: number | undefined;
  record: unknown;
  metadata: unknown;
}

export interface ForwardMessage {
  tag: string;
  /**
   * The next `count` entries that are [time, record] (fewer at the end, none once all were taken), decoded as
   * they are taken: a PackedForward chunk may hold millions (16 MiB of 3-byte entries, or a 16 KB gzip of
   * them, is 5.6 million), which decoded at once took 2.6 GB and held the event loop for minutes.
   */
  take(count: number): ForwardEntry[];
  /** The chunk id to acknowledge, when the sender asked for one. */
  chunk: string | undefined;
  mode: 'message' | 'forward' | 'packed_forward' | 'compressed_packed_forward';
  /** Entries that were not [time, record] (or could not be decoded): skipped, the others kept. Counted as they are taken. */
  skipped: number;
  /**
   * Entries past the message's first `maxRecords` (see unpackMessage): not read, only counted, once `take` has
   * come to them.
   */
  refused: number;
  /** The tag's bytes were not valid UTF-8 (replaced with U+FFFD). */
  invalidTag?: boolean;
  /** CompressedPackedForward: the bytes gunzip made of the chunk's entries. */
  inflated?: number;
}

/** What is wrong with a message; `chunk` when its ack id could be read (it is acked: resending cannot help). */
export class ForwardProtocolError extends Error {
  chunk: string | undefined;
}

/**
 * `ForwardMessage.take` over decoded values: those that are not [time, record] are counted in
 * `message.skipped`, not allowed to sink the chunk they came in. A PackedForward stream is read up to bytes
 * that cannot be decoded: what follows them is lost (the stream has no framing to find the next entry) and
 * counted as one skipped entry. At most `maxRecords` values are read, skipped ones included; those after them
 * (`total` counts them all) are counted in `message.refused`.
 */
function entriesOf(raws: Iterator<unknown>, message: { skipped: number; refused: number }, maxRecords: number, total: () => number): (count: number) => ForwardEntry[] {
  let done = false;
  let read = 0;
  return (count) => {
    const entries: ForwardEntry[] = [];
    while (!done && entries.length < count) {
      if (read === maxRecords) {
        message.refused = Math.max(0, total() - read);
        done = true;
        break;
      }
      let next: IteratorResult<unknown>;
      try {
        next = raws.next();
      } catch {
        message.skipped += 1;
        done = true;
        break;
      }
      if (next.done === true) {
        done = true;
        break;
      }
      read += 1;
      try {
        entries.push(entry(next.value));
      } catch {
        message.skipped += 1;
      }
    }
    return entries;
  };
}

/**
 * Most elements an array or map header may announce. The decoder allocates what a header announces before
 * reading the elements, so a 5-byte header claiming 16 million entries would cost 128 MB: a few such
 * headers from anyone who can connect would exhaust the heap. Real forward messages hold at most some
 * thousands of entries per message (a chunk is a few MB) and records far fewer fields.
 */
export const MAX_ELEMENTS = 65_536;

/**
 * Starts a map key that was not valid UTF-8 (see `CheckedKeys`); `mapping.ts` removes it and marks the event.
 * A lone surrogate never comes out of decoding bytes as UTF-8, so no key that was sent starts with one.
 */
export const INVALID_KEY = '\uDFFF';

/**
 * Stands for a map key `__proto__`, which the decoder refuses ("The key __proto__ is not allowed"): that failed
 * the whole message and closed the connection, unacked, so a sender resent the chunk for ever, each time
 * losing the chunks behind it, for one record whose JSON had such a key (any user can write one into a
 * log line). `mapping.ts` writes the key back as an own property. A lone surrogate, as INVALID_KEY.
 */
export const PROTO_KEY = '\uDFFE';

const CACHED_KEY_BYTES = 16;
const CACHED_KEYS_PER_LENGTH = 16;

/**
 * Decodes map keys, which the decoder reads as text even with `rawStrings`. Its own decoding turns bytes that
 * are not UTF-8 into other characters without a word (0xff becomes 'ÿ'; a sequence cut by the end of the key
 * takes in the bytes after it), so every key comes here: a valid one decodes as before, another gets its bad
 * bytes written `\\xHH` (see escapeInvalidUtf8) and INVALID_KEY in front. Short keys repeat in every record, so their
 * strings are cached by their bytes, as the decoder's default key decoder does (decoding is 3 times slower
 * without).
 */
class CheckedKeys {
  private readonly cache = Array.from({ length: CACHED_KEY_BYTES + 1 }, () => [] as Array<{ bytes: Uint8Array; key: string }>);
  private replaced = 0;

  canBeCached(): boolean {
    return true;
  }

  decode(bytes: Uint8Array, offset: number, length: number): string {
    const cached = length <= CACHED_KEY_BYTES ? this.cache[length]! : undefined;
    if (cached) {
      next: for (const entry of cached) {
        for (let i = 0; i < length; i++) if (entry.bytes[i] !== bytes[offset + i]) continue next;
        return entry.key;
      }
    }
    const raw = Buffer.from(bytes.buffer, bytes.byteOffset + offset, length);
    let key = isUtf8(raw) ? raw.toString('utf8') : INVALID_KEY + escapeInvalidUtf8(raw);
    if (key === '__proto__') key = PROTO_KEY;
    if (cached) {
      // A copy: `raw` is a view of the read's buffer.
      const entry = { bytes: new Uint8Array(raw), key };
      if (cached.length < CACHED_KEYS_PER_LENGTH) cached.push(entry);
      else cached[this.replaced++ % CACHED_KEYS_PER_LENGTH] = entry;
    }
    return key;
  }
}

const checkedKeys = new CheckedKeys();

/** Bytes of a UTF-8 sequence that starts with `lead` (1 for a byte that starts none). */
function sequenceLength(lead: number): number {
  if (lead >= 0xf0) return 4;
  if (lead >= 0xe0) return 3;
  if (lead >= 0xc0) return 2;
  return 1;
}

/**
 * A key's text with each byte that is not part of valid UTF-8 written `\xHH`. Not U+FFFD, as in values:
 * keys that differ only in such bytes (`a` 0xff, `a` 0xfe) must stay two keys, or one value is lost.
 */
function escapeInvalidUtf8(raw: Buffer): string {
  let out = '';
  let i = 0;
  while (i < raw.length) {
    const b = raw[i]!;
    if (b < 0x80) {
      out += String.fromCharCode(b);
      i += 1;
      continue;
    }
    const n = sequenceLength(b);
    if (n > 1 && i + n <= raw.length && isUtf8(raw.subarray(i, i + n))) {
      out += raw.toString('utf8', i, i + n);
      i += n;
    } else {
      out += `\\x${b.toString(16).padStart(2, '0')}`;
      i += 1;
    }
  }
  return out;
}

/**
 * Strings are decoded as bytes (`rawStrings`; map keys stay strings, checked by `CheckedKeys`): Fluentd's
 * out_forward sends the entries of PackedForward as a *str* of raw msgpack bytes (str32), which a UTF-8
 * decoding would destroy, and a record's text that is not valid UTF-8 can then be replaced and marked like
 * every input does (`mapping.ts`) instead of silently.
 */
export function decoderOptions(maxBytes: number) {
  return {
    rawStrings: true,
    keyDecoder: checkedKeys,
    extensionCodec: forwardExtensions,
    maxStrLength: maxBytes,
    maxBinLength: maxBytes,
    maxExtLength: 64,
    maxArrayLength: Math.min(maxBytes, MAX_ELEMENTS),
    maxMapLength: Math.min(maxBytes, MAX_ELEMENTS),
  };
}

/**
 * An entry's time as epoch ms; undefined when it is none a Date can hold (a number of seconds such as 1e20, a
 * uint64): such a timestamp made every output that writes the time as a date throw ("Invalid time value")
 * and, restarted, throw again on the same batch: the chunk and every one after it waited for ever.
 */
function toMillis(time: unknown): number | undefined {
  if (time instanceof EventTime) return time.toMillis();
  const ms = typeof time === 'number' ? time * 1000 : typeof time === 'bigint' ? Number(time) * 1000 : NaN;
  return dateable(ms);
}

function entry(raw: unknown): ForwardEntry {
  if (!Array.isArray(raw) || raw.length < 2) throw new ForwardProtocolError('an entry must be [time, record]');
  const head: unknown = raw[0];
  if (Array.isArray(head)) return { time: toMillis(head[0]), record: raw[1], metadata: head[1] };
  return { time: toMillis(head), record: raw[1], metadata: undefined };
}

function options(raw: unknown): Record<string, unknown> {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ForwardProtocolError('option must be a map');
  return raw as Record<string, unknown>;
}

/** A str (decoded as bytes) or bin as text; undefined for anything else. */
function text(v: unknown, encoding: BufferEncoding = 'utf8'): string | undefined {
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString(encoding);
  return undefined;
}

function chunkId(option: Record<string, unknown>): string | undefined {
  const chunk = option.chunk;
  if (chunk === undefined || chunk === null) return undefined;
  const id = text(chunk, 'latin1');
  if (id === undefined) throw new ForwardProtocolError('option.chunk must be a string');
  return id;
}

/** Called for a whole message the decoder refused: why, and its chunk id when that could be read (to ack it). */
export type RefusedMessage = (error: Error, chunk: string | undefined) => void;

/**
 * Decodes the messages in `bytes`, which holds whole ones (MessageBoundaries found where each ends). A message
 * whose bytes are whole msgpack and which the decoder still refuses (a map key that is not a string, an ext
 * over 64 bytes, more than MAX_ELEMENTS elements in an array or map) is skipped and given to `refused`, and the
 * messages after it are decoded: the decoder read them all as one stream, so such a message failed the
 * connection, unacked, and its sender resent it on every new connection. Bytes that are not msgpack end the
 * stream (where the next message starts is not known): that error is thrown.
 */
export function* decodeMessages(decoder: Decoder<unknown>, bytes: Uint8Array, maxBytes: number, refused: RefusedMessage): Generator<unknown, void, undefined> {
  let start = 0;
  while (start < bytes.length) {
    let decoded = 0;
    try {
      for (const value of decoder.decodeMulti(start === 0 ? bytes : bytes.subarray(start))) {
        decoded += 1;
        yield value;
      }
      return;
    } catch (err) {
      // The messages before the refused one were decoded: it starts where they end.
      for (let i = 0; i < decoded; i++) start += MessageBoundaries.firstEnd(bytes.subarray(start));
      const length = MessageBoundaries.firstEnd(bytes.subarray(start));
      if (length < 0) throw err;
      const message = bytes.subarray(start, start + length);
      refused(err as Error, refusedChunk(message, maxBytes));
      start += length;
    }
  }
}

/** Whether a msgpack head byte starts an array, a bin or a str: the entries of Forward or PackedForward. */
function startsEntries(head: number): boolean {
  return (head >= 0x90 && head <= 0xbf) || head === 0xdc || head === 0xdd || (head >= 0xc4 && head <= 0xc6) || (head >= 0xd9 && head <= 0xdb);
}

/**
 * The chunk id in the option of a message the decoder refused, read from the option's bytes alone (the option
 * is the last element of [tag, entries, option] and [tag, time, record, option]); undefined when there is none
 * or it cannot be read either. Such a chunk is acked as others that cannot be read: resending cannot help.
 */
function refusedChunk(message: Uint8Array, maxBytes: number): string | undefined {
  const head = message[0]!;
  const count = head >= 0x90 && head <= 0x9f ? head - 0x90 : head === 0xdc && message.length > 2 ? message[1]! * 256 + message[2]! : -1;
  if (count !== 3 && count !== 4) return undefined;
  let at = head === 0xdc ? 3 : 1;
  const starts: number[] = [];
  for (let i = 0; i < count; i++) {
    starts.push(at);
    const length = MessageBoundaries.firstEnd(message.subarray(at));
    if (length < 0) return undefined;
    at += length;
  }
  const option = count === 4 ? 3 : startsEntries(message[starts[1]!]!) ? 2 : -1;
  if (option < 0) return undefined;
  try {
    return chunkId(options(new Decoder(decoderOptions(maxBytes)).decode(message.subarray(starts[option]!, at))));
  } catch {
    return undefined;
  }
}

/** A message whose `take` reads its entries from `raws` (see `entriesOf`), none skipped or refused yet. */
function withEntries(base: Pick<ForwardMessage, 'tag' | 'chunk' | 'mode'>, raws: Iterator<unknown>, maxRecords: number, total: () => number): ForwardMessage {
  const message: ForwardMessage = { ...base, take: () => [], skipped: 0, refused: 0 };
  message.take = entriesOf(raws, message, maxRecords, total);
  return message;
}

/**
 * Unpacks one decoded top-level forward message, of which `take` reads at most `maxRecords` entries (see
 * `ForwardMessage.refused`): a 16 KB gzip of 3-byte entries is 5.6 million of them. Throws
 * ForwardProtocolError on anything else.
 */
export function unpackMessage(message: unknown, maxBytes: number, maxRecords: number): ForwardMessage {
  if (!Array.isArray(message) || message.length < 2) throw new ForwardProtocolError('a forward message must be an array [tag, ...]');
  const tag = text(message[0]);
  if (tag === undefined) throw new ForwardProtocolError('the tag must be a string');
  const invalidTag = message[0] instanceof Uint8Array && !isUtf8(message[0]);
  const unpacked = unpackBody(message, tag, maxBytes, maxRecords);
  if (invalidTag) unpacked.invalidTag = true;
  return unpacked;
}

function unpackBody(message: unknown[], tag: string, maxBytes: number, maxRecords: number): ForwardMessage {
  const second: unknown = message[1];

  if (Array.isArray(second)) {
    const option = options(message[2]);
    return withEntries({ tag, chunk: chunkId(option), mode: 'forward' }, second[Symbol.iterator](), maxRecords, () => second.length);
  }
  if (second instanceof Uint8Array) {
    const option = options(message[2]);
    let packed = second;
    let mode: ForwardMessage['mode'] = 'packed_forward';
    // Fluentd's out_forward marks plain chunks `compressed: "text"`; like Fluentd's in_forward, anything but
    // gzip is read as uncompressed.
    const chunk = chunkId(option);
    if (text(option.compressed) === 'gzip') {
      try {
        packed = gunzipSync(packed, { maxOutputLength: maxBytes });
      } catch (err) {
        const e = new ForwardProtocolError(`cannot gunzip a CompressedPackedForward chunk: ${(err as Error).message}`);
        e.chunk = chunk;
        throw e;
      }
      mode = 'compressed_packed_forward';
    }
    const unpacked = withEntries({ tag, chunk, mode }, new Decoder(decoderOptions(maxBytes)).decodeMulti(packed), maxRecords, () => MessageBoundaries.count(packed));
    if (packed !== second) unpacked.inflated = packed.length;
    return unpacked;
  }
  // Message mode: [tag, time, record, option?]
  if (message.length < 3) throw new ForwardProtocolError('a Message must be [tag, time, record, option?]');
  const option = options(message[3]);
  const chunk = chunkId(option);
  // A number a Date cannot hold is a time still (the record is kept, untimed, as in the other modes).
  if (!(second instanceof EventTime) && typeof second !== 'number' && typeof second !== 'bigint') {
    // Acked like other chunks that cannot be read: resending the same bytes cannot help.
    const e = new ForwardProtocolError('the time of a Message must be an EventTime or a number');
    e.chunk = chunk;
    throw e;
  }
  return withEntries({ tag, chunk, mode: 'message' }, [[second, message[2]]][Symbol.iterator](), maxRecords, () => 1);
}
