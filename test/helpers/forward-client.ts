/**
 * A minimal Fluentd forward protocol client for the tests and the bench: writes msgpack, reads acks, and
 * can pass the shared-key handshake as Fluent Bit's forward output does (its salt packed as a str of raw
 * bytes).
 */
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { Decoder, encode } from '@msgpack/msgpack';
import { forwardExtensions } from '../../src/inputs/fluent-forward/event-time.js';

export class ForwardClient {
  readonly socket: net.Socket;
  readonly acks: string[] = [];
  /** Handshake messages from the server (HELO, PONG), in order. */
  readonly handshake: unknown[][] = [];
  /** Resolves when the server closed the connection. */
  readonly closed: Promise<void>;
  private readonly waiters: Array<() => void> = [];

  private constructor(socket: net.Socket) {
    this.socket = socket;
    const decoder = new Decoder();
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    void (async () => {
      try {
        for await (const msg of decoder.decodeStream(socket)) {
          if (Array.isArray(msg)) this.handshake.push(msg as unknown[]);
          else this.acks.push((msg as { ack: string }).ack);
          for (const w of this.waiters.splice(0)) w();
        }
      } catch {
        // closed
      }
    })();
  }

  /** Waits until `check` holds, re-checked after every message from the server. */
  private until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
      const test = () => {
        if (check()) {
          clearTimeout(timer);
          resolve();
        } else this.waiters.push(test);
      };
      test();
    });
  }

  /**
   * Answers the server's HELO with a PING for `sharedKey` (and a user, when the server asks for one) and
   * returns the server's PONG. `salt` defaults to 16 random bytes, which are rarely valid UTF-8.
   */
  async login(options: { sharedKey: string; hostname?: string; username?: string; password?: string; salt?: Buffer }): Promise<unknown[]> {
    await this.until(() => this.handshake.length >= 1, 'HELO');
    const [kind, helo] = this.handshake[0] as [string, { nonce: Uint8Array; auth: Uint8Array | string }];
    if (kind !== 'HELO') throw new Error(`expected HELO, got ${kind}`);
    const hostname = options.hostname ?? 'client-host';
    const salt = options.salt ?? randomBytes(16);
    const sha = (...parts: Array<Uint8Array | string>) => parts.reduce((h, p) => h.update(p), createHash('sha512')).digest('hex');
    const digest = sha(salt, hostname, helo.nonce, options.sharedKey);
    const auth = typeof helo.auth === 'string' ? Buffer.from(helo.auth) : helo.auth;
    const username = auth.length ? (options.username ?? '') : '';
    const password = auth.length ? sha(auth, username, options.password ?? '') : '';
    // Packed by hand: the salt is a str of raw bytes, as Fluent Bit sends it (msgpack_pack_str_body).
    const rawStr = (b: Buffer) => Buffer.concat([Buffer.from([0xd9, b.length]), b]);
    const pieces = [Buffer.from([0x96]), encode('PING'), encode(hostname), rawStr(salt), encode(digest), encode(username), encode(password)];
    this.socket.write(Buffer.concat(pieces));
    await this.until(() => this.handshake.length >= 2, 'PONG');
    return this.handshake[1]!;
  }

  /** The digest a PONG must carry for `sharedKey`, given the salt the client sent. */
  static pongDigest(serverHostname: string, salt: Buffer, nonce: Uint8Array, sharedKey: string): string {
    return createHash('sha512').update(salt).update(serverHostname).update(nonce).update(sharedKey).digest('hex');
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
    return this.until(() => this.acks.includes(chunk), `an ack for ${chunk} (acks: ${this.acks.join(',')})`, timeoutMs);
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
