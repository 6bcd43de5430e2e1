/**
 * The forward protocol's authentication handshake (Fluentd's "secure forward", Fluent Bit's `Shared_Key`,
 * `Username` and `Password` on its `forward` output), from the server's side:
 *
 *   server  ["HELO", {nonce, auth, keepalive}]           nonce: random bytes; auth: a salt when users must log in, else ""
 *   client  ["PING", hostname, salt, hex(sha512(salt + hostname + nonce + shared_key)), username, hex(sha512(auth + username + password))]
 *   server  ["PONG", true, "", self_hostname, hex(sha512(salt + self_hostname + nonce + shared_key))]
 *        or ["PONG", false, reason, "", ""] and the connection is closed
 *
 * Only then does the client send forward messages. The client's salt is 16 raw bytes that Fluent Bit packs as
 * a msgpack *str*, not valid UTF-8, so the PING is decoded with strings left as bytes and every digest is
 * taken over bytes. Reasons are kept under 32 bytes: Fluent Bit before 5.0.8 copies the reason into a 32-byte
 * buffer.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { Decoder, encode } from '@msgpack/msgpack';

export interface ForwardSecurity {
  shared_key: string;
  self_hostname: string;
  users: Array<{ username: string; password: string }>;
}

/** What a finished handshake leaves: the bytes the client sent after its PING (normally none). */
export type HandshakeResult = { ok: true; rest: Buffer } | { ok: false; reason: string; hostname?: string };

const MAX_PING_BYTES = 64 * 1024;

function sha512Hex(...parts: Array<Buffer | string>): string {
  const h = createHash('sha512');
  for (const p of parts) h.update(p);
  return h.digest('hex');
}

function bytes(v: unknown): Buffer | undefined {
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  return undefined;
}

function sameHex(a: Buffer | undefined, expected: string): boolean {
  const want = Buffer.from(expected, 'latin1');
  return a !== undefined && a.length === want.length && timingSafeEqual(a, want);
}

/** Reads one msgpack value from `chunks`, strings as bytes; what follows it in the last chunk is returned too. */
async function readPing(chunks: AsyncIterator<Buffer>): Promise<{ value: unknown; rest: Buffer } | undefined> {
  let buffered = Buffer.alloc(0);
  for (;;) {
    const next = await chunks.next();
    if (next.done) return undefined;
    buffered = Buffer.concat([buffered, next.value]);
    if (buffered.length > MAX_PING_BYTES) throw new Error(`handshake message larger than ${MAX_PING_BYTES} bytes`);
    const decoder = new Decoder({ rawStrings: true, maxStrLength: MAX_PING_BYTES, maxBinLength: MAX_PING_BYTES, maxArrayLength: 16, maxMapLength: 16 });
    try {
      let value: unknown;
      let used = 0;
      // The first value and where it ends: decodeMulti stops at the first incomplete one.
      for (const v of decoder.decodeMulti(buffered)) {
        value = v;
        used = (decoder as unknown as { pos: number }).pos;
        break;
      }
      if (used > 0) return { value, rest: buffered.subarray(used) };
    } catch (err) {
      if (!(err instanceof RangeError)) throw err; // RangeError: the value is not complete yet
    }
  }
}

/** Runs the server side of the handshake on a fresh connection. */
export async function serverHandshake(security: ForwardSecurity, write: (data: Uint8Array) => void, chunks: AsyncIterator<Buffer>): Promise<HandshakeResult> {
  const nonce = randomBytes(16);
  const authSalt = security.users.length ? randomBytes(16) : undefined;
  write(encode(['HELO', { nonce, auth: authSalt ?? '', keepalive: true }]));
  const fail = (reason: string, hostname?: string): HandshakeResult => {
    write(encode(['PONG', false, reason, '', '']));
    return { ok: false, reason, ...(hostname !== undefined ? { hostname } : {}) };
  };
  let ping;
  try {
    ping = await readPing(chunks);
  } catch (err) {
    return fail(`bad PING: ${(err as Error).message}`.slice(0, 31));
  }
  if (!ping) return { ok: false, reason: 'closed before PING' };
  const m = ping.value;
  if (!Array.isArray(m) || m.length !== 6 || bytes(m[0])?.toString('latin1') !== 'PING') return fail('invalid ping message');
  const [, rawHost, rawSalt, digest, rawUser, passDigest] = m as unknown[];
  const hostname = bytes(rawHost);
  const salt = bytes(rawSalt);
  if (!hostname || !salt) return fail('invalid ping message');
  const host = hostname.toString('utf8');
  if (!sameHex(bytes(digest), sha512Hex(salt, hostname, nonce, security.shared_key))) return fail('shared_key mismatch', host);
  if (authSalt) {
    const user = bytes(rawUser) ?? Buffer.alloc(0);
    const given = bytes(passDigest);
    const ok = security.users.some((u) => Buffer.from(u.username, 'utf8').equals(user) && sameHex(given, sha512Hex(authSalt, user, u.password)));
    if (!ok) return fail('username/password mismatch', host);
  }
  write(encode(['PONG', true, '', security.self_hostname, sha512Hex(salt, security.self_hostname, nonce, security.shared_key)]));
  return { ok: true, rest: ping.rest };
}
