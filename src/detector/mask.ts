/**
 * Masks volatile tokens (timestamps, UUIDs, IPs, long hex ids, numbers) so that two events that differ
 * only in those compare as alike. Each kind becomes one private-use character: short, so it costs the
 * compressor little, and impossible to confuse with log text. `unmask` renders them readably for a `why`.
 */
export const MASK = {
  timestamp: '\uE000',
  uuid: '\uE001',
  ip: '\uE002',
  hex: '\uE003',
  number: '\uE004',
} as const;

const NAMES: Record<string, string> = {
  [MASK.timestamp]: '<ts>',
  [MASK.uuid]: '<uuid>',
  [MASK.ip]: '<ip>',
  [MASK.hex]: '<hex>',
  [MASK.number]: '<num>',
};

// One pass, alternatives in priority order: the longest, most specific shapes first.
const VOLATILE = new RegExp(
  [
    // ISO-8601-ish and BGL-style date-times: 2025-01-01T12:00:00.123Z, 2005-06-03-15.42.50.675872
    String.raw`(\d{4}-\d\d-\d\d(?:[T ]|-)\d\d[:.]\d\d[:.]\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?)`,
    // Syslog / access-log times: Jun 14 15:16:01, 10/Oct/2000:13:55:36 -0700
    String.raw`(\d\d\/[A-Z][a-z]{2}\/\d{4}:\d\d:\d\d:\d\d(?: [+-]\d{4})?|\b[A-Z][a-z]{2} {1,2}\d{1,2} \d\d:\d\d:\d\d)`,
    String.raw`([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})`,
    String.raw`(\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?::\d{1,5})?\b)`,
    String.raw`(\b(?:0x)?[0-9a-fA-F]*[0-9][0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*\b|\b(?:0x)?[0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*[0-9][0-9a-fA-F]*\b)`,
    String.raw`(\d+(?:\.\d+)?)`,
  ].join('|'),
  'g',
);

function replacer(match: string, ts: string, ts2: string, uuid: string, ip: string, hex: string): string {
  if (ts !== undefined || ts2 !== undefined) return MASK.timestamp;
  if (uuid !== undefined) return MASK.uuid;
  if (ip !== undefined) return MASK.ip;
  // Short hex-looking words ("b2", "e5") are ordinary text; only long mixed ids are volatile.
  if (hex !== undefined) return hex.length >= 8 ? MASK.hex : hex.replace(/\d+/g, MASK.number);
  // A long run of digits is an id like a hex one that happens to have no letter: mask both alike.
  if (match.length >= 8) return MASK.hex;
  return MASK.number;
}

export function maskVolatile(text: string): string {
  return text.replace(VOLATILE, replacer as (substring: string, ...args: unknown[]) => string);
}

/** Renders masked text for people: placeholders become `<num>`, `<ip>`, ... */
export function unmask(masked: string): string {
  return masked.replace(/[\uE000-\uE004]/g, (c) => NAMES[c] ?? c);
}
