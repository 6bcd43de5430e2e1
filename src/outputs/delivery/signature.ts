/**
 * Request signing: `X-Driftlock-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, the
 * scheme Stripe and Slack use. The receiver recomputes the HMAC over the timestamp and the raw body with the
 * shared secret, compares in constant time, and refuses old timestamps (replays).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'X-Driftlock-Signature';

export function sign(secret: string, body: string, nowSeconds = Math.floor(Date.now() / 1000)): string {
  const mac = createHmac('sha256', secret).update(`${nowSeconds}.${body}`).digest('hex');
  return `t=${nowSeconds},v1=${mac}`;
}

/** What a receiver does (the README shows the same in a few lines). */
export function verifySignature(secret: string, body: string, header: string | undefined, toleranceSeconds = 300, nowSeconds = Math.floor(Date.now() / 1000)): boolean {
  if (!header) return false;
  const parts = Object.fromEntries(header.split(',').map((p) => p.trim().split('=', 2) as [string, string]));
  const t = Number(parts.t);
  if (!Number.isInteger(t) || Math.abs(nowSeconds - t) > toleranceSeconds || !parts.v1) return false;
  const expected = createHmac('sha256', secret).update(`${t}.${body}`).digest();
  const given = Buffer.from(parts.v1, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** A short, stable digest (hex), for idempotency keys. */
export function digest(parts: unknown[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32);
}
