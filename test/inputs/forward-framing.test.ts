import { gzipSync } from 'node:zlib';
import { encode, ExtensionCodec } from '@msgpack/msgpack';
import { describe, expect, it } from 'vitest';
import { EventTime, forwardExtensions } from '../../src/inputs/fluent-forward/event-time.js';
import { MessageBoundaries } from '../../src/inputs/fluent-forward/framing.js';
import { packEntries } from '../helpers/forward-client.js';

// An ext of each size class the walker passes over: fixext 1/2/4/16 and ext 8/16.
class Opaque {
  constructor(readonly data: Uint8Array) {}
}
const extensions = new ExtensionCodec();
extensions.register({ type: 7, encode: (v: unknown) => (v instanceof Opaque ? v.data : null), decode: (d: Uint8Array) => new Opaque(d) });
extensions.register({ type: 0, encode: (v: unknown) => forwardExtensions.tryToEncode(v, undefined)?.data ?? null, decode: () => null });

/** Forward messages whose encodings use every kind of msgpack header. */
function messages(): Uint8Array[] {
  const record = {
    s8: 'x'.repeat(40), s16: 'y'.repeat(300), s32: 'z'.repeat(70_000), bin8: Buffer.alloc(10, 1), bin16: Buffer.alloc(300, 2),
    n: [0, 127, 128, 255, 256, 65_536, 2 ** 32, 2 ** 53, -1, -32, -33, -129, -40_000, -(2 ** 31) - 1, 1.5, null, true, false],
    wide: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i])), long: Array.from({ length: 20 }, (_, i) => i),
    exts: [1, 2, 4, 16, 3, 300].map((n) => new Opaque(new Uint8Array(n))), empty: [[], {}, ''],
  };
  return [
    encode(['message', EventTime.fromMillis(1_700_000_000_123), record, { chunk: 'a' }], { extensionCodec: extensions }),
    encode(['forward', [[1, { a: 1 }], [2, { b: 'two' }]]]),
    encode(['packed', packEntries(Array.from({ length: 30 }, (_, i) => [EventTime.fromMillis(i), { i }])), { chunk: 'b' }]),
    encode(['zipped', gzipSync(packEntries([[1, { z: 1 }]])), { compressed: 'gzip' }]),
    // Packed by hand, the 32-bit forms an encoder picks only for huge values, and a float32:
    // ['hand', 1, {a: [1.5, bin32 'abc', ext32 type 7 'xy']}] with map32 and array32 headers.
    Buffer.from([
      0x93, 0xa4, ...Buffer.from('hand'), 0x01, 0xdf, 0, 0, 0, 1, 0xa1, 0x61, 0xdd, 0, 0, 0, 3,
      0xca, 0x3f, 0xc0, 0, 0, 0xc6, 0, 0, 0, 3, ...Buffer.from('abc'), 0xc9, 0, 0, 0, 2, 7, ...Buffer.from('xy'),
    ]),
    encode(1),
  ];
}

describe('fluent_forward message boundaries', () => {
  it('counts the bytes since the last complete message, wherever the stream is cut and however it is read', () => {
    const parts = messages();
    const data = Buffer.concat(parts);
    const ends: number[] = [];
    parts.reduce((at, p) => (ends.push(at + p.length), at + p.length), 0);
    for (let length = 0; length <= data.length; length++) {
      const lastEnd = ends.filter((e) => e <= length).at(-1) ?? 0;
      for (const split of [0, length >> 1, Math.max(0, length - 1)]) {
        const b = new MessageBoundaries();
        b.push(data.subarray(0, split));
        b.push(data.subarray(split, length));
        if (b.pending !== length - lastEnd) expect({ length, split, pending: b.pending }).toEqual({ length, split, pending: length - lastEnd });
      }
    }
  });

  it('read one byte at a time, a message is complete at its last byte and not before', () => {
    const [first] = messages();
    const b = new MessageBoundaries();
    const pending: number[] = [];
    for (const byte of first!) {
      b.push(Uint8Array.of(byte));
      pending.push(b.pending);
    }
    expect(pending.at(-1)).toBe(0);
    expect(pending.slice(0, -1).every((p, i) => p === i + 1)).toBe(true);
  });
});
