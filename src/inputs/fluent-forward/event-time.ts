/**
 * Fluentd's EventTime: msgpack extension type 0, 8 bytes (seconds and nanoseconds, both uint32 big-endian).
 * Senders use it for sub-second times; older ones send an integer (or a float) of seconds instead.
 */
import { ExtData, ExtensionCodec } from '@msgpack/msgpack';

export class EventTime {
  readonly seconds: number;
  readonly nanoseconds: number;

  constructor(seconds: number, nanoseconds: number) {
    this.seconds = seconds;
    this.nanoseconds = nanoseconds;
  }

  static fromMillis(ms: number): EventTime {
    const seconds = Math.floor(ms / 1000);
    return new EventTime(seconds, Math.round((ms - seconds * 1000) * 1e6));
  }

  toMillis(): number {
    return this.seconds * 1000 + Math.round(this.nanoseconds / 1e3) / 1e3;
  }
}

export const EVENT_TIME_TYPE = 0;

export const forwardExtensions = new ExtensionCodec();
forwardExtensions.register({
  type: EVENT_TIME_TYPE,
  encode: (value: unknown) => {
    if (!(value instanceof EventTime)) return null;
    const out = new Uint8Array(8);
    const view = new DataView(out.buffer);
    view.setUint32(0, value.seconds);
    view.setUint32(4, value.nanoseconds);
    return out;
  },
  decode: (data: Uint8Array) => {
    // Not thrown: the decoder reads a whole forward message at once, and a throw here failed all of it and
    // closed the connection, unacked, so the sender resent the same chunk for ever. As plain ext data the
    // entry is judged like any other time that is not a time (see protocol.ts), and its chunk's others kept.
    if (data.byteLength !== 8) return new ExtData(EVENT_TIME_TYPE, data);
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    return new EventTime(view.getUint32(0), view.getUint32(4));
  },
});
