/**
 * Building blocks for component config schemas. A component's zod schema is the single source of truth
 * for validation, defaults, error messages and the generated config reference (`driftlock docs`).
 */
import { z } from 'zod';

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/;
const DURATION_UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses `250ms`, `1.5s`, `5m`, `1h`, or a bare number of seconds, into milliseconds. */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value * 1000 : undefined;
  const m = DURATION.exec(value.trim());
  if (!m) return undefined;
  return Number(m[1]) * DURATION_UNIT_MS[m[2] ?? 's']!;
}

/** A duration in the config (`30s`, `500ms`, `5m`, or a number of seconds); the parsed value is milliseconds. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export function duration() {
  return z
    .union([z.number(), z.string()])
    .transform((value, ctx) => {
      const ms = parseDuration(value);
      if (ms === undefined) {
        ctx.addIssue({ code: 'custom', message: 'expected a duration such as 500ms, 30s, 5m or 1h' });
        return z.NEVER;
      }
      // Node's timers hold at most 2^31-1 ms (24.8 days); a longer wait would fire after 1 ms.
      if (ms > MAX_TIMER_MS) {
        ctx.addIssue({ code: 'custom', message: 'expected a duration of at most 24 days (576h): a timer cannot wait longer' });
        return z.NEVER;
      }
      return ms;
    })
    .meta({ format: 'duration' });
}

const SIZE = /^(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?$/i;
const SIZE_UNIT: Record<string, number> = {
  b: 1, kb: 1e3, kib: 1024, mb: 1e6, mib: 1024 ** 2, gb: 1e9, gib: 1024 ** 3,
};

export function parseByteSize(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : undefined;
  const m = SIZE.exec(value.trim());
  if (!m) return undefined;
  return Math.floor(Number(m[1]) * SIZE_UNIT[(m[2] ?? 'b').toLowerCase()]!);
}

/** A size in bytes (`64KiB`, `10MiB`, `1GB`, or a whole number of bytes). */
export function byteSize() {
  return z
    .union([z.number(), z.string()])
    .transform((value, ctx) => {
      const bytes = parseByteSize(value);
      if (bytes === undefined) {
        ctx.addIssue({ code: 'custom', message: 'expected a size such as 512KiB, 10MiB or a whole number of bytes' });
        return z.NEVER;
      }
      return bytes;
    })
    .meta({ format: 'size' });
}

/**
 * An http:// or https:// URL that a request can be sent to: one the URL parser takes (a port from 1 to
 * 65535), without a user name or password in it (fetch refuses those: credentials go in a header). Checked
 * at load, so that `validate` says so instead of a retry loop that can never succeed. Messages never quote
 * the value (URLs here are usually secrets).
 */
export function httpUrl(what: string) {
  return z.string().superRefine((value, ctx) => {
    let url: URL | undefined;
    try {
      url = /^https?:\/\/\S+$/i.test(value) ? new URL(value) : undefined;
    } catch {
      url = undefined;
    }
    if (!url) {
      ctx.addIssue({ code: 'custom', message: `expected ${what}: http:// or https://, a host, and a port from 1 to 65535 if one is given` });
    } else if (url.username || url.password) {
      ctx.addIssue({ code: 'custom', message: `${what} holds a user name or password (user:pass@host), which cannot be sent that way; put the credentials in a header (Authorization)` });
    } else if (url.port !== '' && FETCH_BAD_PORTS.has(Number(url.port))) {
      ctx.addIssue({ code: 'custom', message: `${what} uses port ${url.port}, which fetch refuses to connect to (the Fetch standard's "bad ports": SMTP, IRC, NFS, SIP, X11...); use another port` });
    }
  });
}

/** Ports fetch never connects to (the Fetch standard's port blocking; checked against Node 20's fetch). */
export const FETCH_BAD_PORTS = new Set([
  1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104, 109, 110, 111, 113, 115,
  117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587,
  601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679,
  6697, 10080,
]);

/** Marks a config value as secret: it is never logged, and config errors do not echo it. */
export function secret<T extends z.ZodType>(schema: T): T {
  return schema.meta({ secret: true }) as T;
}

export function isSecretSchema(schema: unknown): boolean {
  const meta = (schema as { meta?: () => Record<string, unknown> | undefined }).meta?.();
  return meta?.secret === true;
}

export { z };
