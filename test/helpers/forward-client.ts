/** A minimal Fluentd forward protocol client for the tests and the bench: writes msgpack, reads acks. */
import net from 'node:net';
import { Decoder, encode } from '@msgpack/msgpack';
import { forwardExtensions } from '../../src/inputs/fluent-forward/event-time.js';

export class ForwardClient {
  readonly socket: net.Socket;
  readonly acks: string[] = [];
  private readonly waiters: Array<() => void> = [];

  private constructor(socket: net.Socket) {
    this.socket = socket;
    const decoder = new Decoder();
    void (async () => {
      try {
        for await (const msg of decoder.decodeStream(socket)) {
          this.acks.push((msg as { ack: string }).ack);
          for (const w of this.waiters.splice(0)) w();
        }
      } catch {
        // closed
      }
    })();
  }

  static connect(port: number): Promise<ForwardClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(new ForwardClient(s)));
      s.on('error', reject);
    });
  }

  send(message: unknown): void {
    this.socket.write(encode(message, { extensionCodec: forwardExtensions }));
  }

  waitForAck(chunk: string, timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ack for ${chunk}; acks: ${this.acks.join(',')}`)), timeoutMs);
      const check = () => {
        if (this.acks.includes(chunk)) {
          clearTimeout(timer);
          resolve();
        } else this.waiters.push(check);
      };
      check();
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.once('close', () => resolve());
      this.socket.end();
    });
  }
}

/** Entries packed for PackedForward: a msgpack stream of [time, record]. */
export function packEntries(entries: unknown[]): Uint8Array {
  return Buffer.concat(entries.map((e) => encode(e, { extensionCodec: forwardExtensions })));
}
