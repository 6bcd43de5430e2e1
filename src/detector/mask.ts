/**
 * Masks volatile tokens (timestamps, UUIDs, IPs, long hex ids, numbers) so that two events that differ
 * only in those compare as alike. Each kind becomes one private-use character: short, so it costs the
 * compressor little, and impossible to confuse with log text. `unmask` renders them readably for a `why`.
 * Secrets written after their key (`password=hunter2`, `Authorization: Bearer ...`), in a URL
 * (`postgres://app:s3cr3t@db`) or known by their form with no key (a JSON Web Token, an AWS access key id) are
 * masked too, before
 * the rest: what the detector keeps (its windows, templates, categories, the snapshot in `data_dir`) and
 * quotes in a `why` is masked text, so the secret is in none of them.
 */
import { CAMEL_PASS_PAIR, COMMAND_PASSWORD_OPTION, holdsOne, isCommandPasswordOption, isSecretPair, isUserPasswordOption, MAY_HOLD_TOKEN, mayHoldCommandPasswordOption, PASSWORD_HASH, PASSWORD_OPTION, SAMBA_USER_PASSWORD_OPTION, SCHEME_CREDENTIALS, SECRET_PAIR, TOKEN_SHAPES, URL_CREDENTIALS, USER_PASSWORD_OPTION } from '../secret-names.js';

export const MASK = {
  timestamp: '\uE000',
  uuid: '\uE001',
  ip: '\uE002',
  hex: '\uE003',
  number: '\uE004',
  secret: '\uE005',
} as const;

/** The mask characters' codes, first and last, and as the inside of a regex character class. */
export const MASK_FIRST = 0xe000;
export const MASK_LAST = 0xe005;
export const MASK_CLASS = String.raw`\uE000-\uE005`;

const NAMES: Record<string, string> = {
  [MASK.timestamp]: '<ts>',
  [MASK.uuid]: '<uuid>',
  [MASK.ip]: '<ip>',
  // Long hex ids and long runs of digits (ids, epochs) alike: "<hex>" misnamed the decimal ones.
  [MASK.hex]: '<id>',
  [MASK.number]: '<num>',
  [MASK.secret]: '<secret>',
};

/**
 * The secrets of `SECRET_PAIR` and `SCHEME_CREDENTIALS` (the `redact` transform's `credentials` patterns),
 * in one pass: the key, separator and auth scheme are kept (a new key may be news), the value is masked.
 */
const SECRETS = new RegExp(`${SECRET_PAIR.source}|${SCHEME_CREDENTIALS.source}`, 'gi');

/** How many groups `SECRET_PAIR` has: those of `SCHEME_CREDENTIALS` come after them in `SECRETS`. */
const PAIR_GROUPS = new RegExp(`${SECRET_PAIR.source}|`).exec('')!.length - 1;
/** How many groups `SECRETS` has: the offset and the text come after them in a replacer's arguments. */
const ALL_GROUPS = new RegExp(`${SECRETS.source}|`).exec('')!.length - 1;

/** (match, key, separator, scheme, secret, the pair's other groups, bare scheme, its secret, offset, text, named groups) */
function secretReplacer(...args: unknown[]): string {
  const [match, key, sep, scheme, secret] = args as Array<string | undefined>;
  if (key === undefined) return (args[PAIR_GROUPS + 1] as string) + MASK.secret;
  if (!isSecretPair(args[ALL_GROUPS + 2] as string, args[ALL_GROUPS + 1] as number, key, sep!, secret!)) return match!;
  return key + sep! + (scheme ?? '') + MASK.secret;
}

/** `SECRET_PAIR` after a camelCase key (`dbPass=hunter2`), its own copy (`lastIndex`). */
const CAMEL_SECRETS = new RegExp(CAMEL_PASS_PAIR);

function camelSecretReplacer(_m: string, key: string, sep: string, scheme: string | undefined): string {
  return key + sep + (scheme ?? '') + MASK.secret;
}

/**
 * The `redact` transform's patterns of `-u root -p hunter2`, `-u bob:hunter2` and of a password in a URL, own
 * copies (`lastIndex`).
 */
const OPTION_SECRET = new RegExp(PASSWORD_OPTION);
const COMMAND_OPTION_SECRET = new RegExp(COMMAND_PASSWORD_OPTION);
const USER_OPTION_SECRET = new RegExp(USER_PASSWORD_OPTION);
const SAMBA_USER_SECRET = new RegExp(SAMBA_USER_PASSWORD_OPTION);
const URL_SECRET = new RegExp(URL_CREDENTIALS);
const HASH_SECRET = new RegExp(PASSWORD_HASH);

function optionSecretReplacer(_m: string, option: string, sep: string): string {
  return option + sep + MASK.secret;
}

function commandOptionSecretReplacer(match: string, option: string, sep: string, _secret: string, at: number, text: string): string {
  return isCommandPasswordOption(text, at, option) ? option + sep + MASK.secret : match;
}

function userOptionSecretReplacer(match: string, optionAndUser: string, _secret: string, at: number, text: string): string {
  return isUserPasswordOption(text, at) ? optionAndUser + MASK.secret : match;
}

/** What a match's first group holds is kept (Samba's option and user, a hash's scheme), the rest masked. */
function keptPrefixSecretReplacer(_m: string, kept: string): string {
  return kept + MASK.secret;
}

/** `TOKEN_SHAPES`, own copies (`lastIndex`). */
const TOKEN_SECRETS = TOKEN_SHAPES.map((shape) => ({ needs: shape.needs, regex: new RegExp(shape.regex) }));

function urlSecretReplacer(_m: string, before: string, _secret: string, at: string): string {
  return before + MASK.secret + at;
}

/**
 * The text with the value of every secret written after its key masked, and every password in a URL:
 * `password=\uE005`, `dbPass=\uE005`, `Authorization: Bearer \uE005`, `-u root -p \uE005`, `sqlcmd -U sa -P \uE005`, `-u bob:\uE005`, `-U bob:\uE005`, `-U bob%\uE005`, `$2b$12$\uE005`, `postgres://app:\uE005@db`; and every token known by its form, whole (`TOKEN_SHAPES`: `eyJ...` JSON Web
 * Tokens, `AKIA...` AWS access key ids, `ghp_...`, PEM private keys). `maskVolatile` does it first;
 * a field's value is masked so before it is percent-decoded too, so that an escaped `&` in the secret (`%26`)
 * does not end it early.
 */
export function maskSecrets(raw: string): string {
  let text = raw;
  SECRETS.lastIndex = 0;
  if (SECRETS.test(text)) {
    SECRETS.lastIndex = 0;
    text = text.replace(SECRETS, secretReplacer);
  }
  if (text.includes('Pass')) {
    CAMEL_SECRETS.lastIndex = 0;
    text = text.replace(CAMEL_SECRETS, camelSecretReplacer as (substring: string, ...args: unknown[]) => string);
  }
  if (text.includes('-p')) {
    OPTION_SECRET.lastIndex = 0;
    text = text.replace(OPTION_SECRET, optionSecretReplacer as (substring: string, ...args: unknown[]) => string);
  }
  if (mayHoldCommandPasswordOption(text)) {
    COMMAND_OPTION_SECRET.lastIndex = 0;
    text = text.replace(COMMAND_OPTION_SECRET, commandOptionSecretReplacer as (substring: string, ...args: unknown[]) => string);
  }
  if (text.includes('-u') || text.includes('-U')) {
    USER_OPTION_SECRET.lastIndex = 0;
    text = text.replace(USER_OPTION_SECRET, userOptionSecretReplacer as (substring: string, ...args: unknown[]) => string);
    if (text.includes('%')) {
      SAMBA_USER_SECRET.lastIndex = 0;
      text = text.replace(SAMBA_USER_SECRET, keptPrefixSecretReplacer as (substring: string, ...args: unknown[]) => string);
    }
  }
  if (text.includes('$')) {
    HASH_SECRET.lastIndex = 0;
    text = text.replace(HASH_SECRET, keptPrefixSecretReplacer as (substring: string, ...args: unknown[]) => string);
  }
  if (MAY_HOLD_TOKEN.test(text)) {
    for (const shape of TOKEN_SECRETS) {
      if (!holdsOne(text, shape.needs)) continue;
      shape.regex.lastIndex = 0;
      text = text.replace(shape.regex, MASK.secret);
    }
  }
  // Most URLs hold no `@` (and most texts no `@`: the cheaper search first); the pattern costs far more.
  if (text.includes('@') && text.includes('://')) {
    URL_SECRET.lastIndex = 0;
    text = text.replace(URL_SECRET, urlSecretReplacer as (substring: string, ...args: unknown[]) => string);
  }
  return text;
}

// One pass, alternatives in priority order: the longest, most specific shapes first.
const VOLATILE = new RegExp(
  [
    // ISO-8601-ish and BGL-style date-times: 2025-01-01T12:00:00.123Z, 2005-06-03-15.42.50.675872
    String.raw`(\d{4}-\d\d-\d\d(?:[T ]|-)\d\d[:.]\d\d[:.]\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?)`,
    // Syslog / access-log times: Jun 14 15:16:01, 10/Oct/2000:13:55:36 -0700
    String.raw`(\d\d\/[A-Z][a-z]{2}\/\d{4}:\d\d:\d\d:\d\d(?: [+-]\d{4})?|\b[A-Z][a-z]{2} {1,2}\d{1,2} \d\d:\d\d:\d\d)`,
    String.raw`([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})`,
    String.raw`(\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?::\d{1,5})?\b)`,
    // A hex word with both a digit and a letter. The lookaheads keep it linear: the form with a run on
    // each side of the digit and of the letter backtracked in cubic time on a long hex run that does not
    // end at a word boundary (6,000 characters of hex and a `z` took 44 s).
    String.raw`(\b(?:0x)?(?=[0-9a-fA-F]*[0-9])(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]+\b)`,
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

// The same alternatives, tried only where one of them can start (see maskVolatile).
const VOLATILE_AT = new RegExp(VOLATILE.source, 'y');

// Character classes of the scanner, one table lookup per character.
const DIGIT = 1;
const UPPER = 2;
const LOWER = 4;
const HEX = 8;
const WORD = 16;
const CLASS = new Uint8Array(65536);
for (let c = 48; c <= 57; c++) CLASS[c] = DIGIT | HEX | WORD;
for (let c = 65; c <= 90; c++) CLASS[c] = UPPER | WORD | (c <= 70 ? HEX : 0);
for (let c = 97; c <= 122; c++) CLASS[c] = LOWER | WORD | (c <= 102 ? HEX : 0);
CLASS[95] = WORD;

/** The class of the character at `i`, 0 past the end. */
function classAt(text: string, i: number): number {
  return i < text.length ? CLASS[text.charCodeAt(i)]! : 0;
}

/**
 * Masks the secrets (`maskSecrets`), then the volatile tokens of a text. Equivalent to
 * `maskSecrets(text).replace(VOLATILE, replacer)` (`maskVolatileReference`), but the pattern
 * is only tried at positions where one of its alternatives can begin: a digit; a letter that starts a
 * word (hex ids, month names); a hex letter inside a word only when a UUID's first dash follows 8 places
 * on. Everywhere else (spaces, punctuation, the inside of ordinary words) no alternative can match, and
 * skipping those positions makes masking several times faster than a global replace. Most numbers do not
 * need the pattern either (see below).
 */
export function maskVolatile(raw: string): string {
  const text = maskSecrets(raw);
  const n = text.length;
  let out = '';
  let copied = 0;
  let prevWord = false;
  let i = 0;
  while (i < n) {
    const k = CLASS[text.charCodeAt(i)]!;
    if ((k & WORD) === 0) {
      prevWord = false;
      i++;
      continue;
    }
    // Inside a word, only a digit, or a hex letter 8 places before a dash (a UUID), can begin a token.
    if (prevWord && (k & DIGIT) === 0 && ((k & HEX) === 0 || text.charCodeAt(i + 8) !== 45)) {
      i++;
      continue;
    }
    let attempt: boolean;
    if (k & DIGIT) {
      // A run of digits that nothing but a plain number can continue (no `.`, `-`, hex letter, `0x`, or
      // `dd/` after it), or a decimal that cannot begin an IP address, is a number: masked without running
      // the pattern (most numbers in logs are one of these, and the pattern costs far more).
      let j = i + 1;
      while (classAt(text, j) & DIGIT) j++;
      const next = j < n ? text.charCodeAt(j) : 0;
      const hexLetter = (CLASS[next]! & (HEX | DIGIT)) === HEX;
      let end = -1;
      if (!(hexLetter || next === 46 || next === 45 || next === 120 || next === 88 || (next === 47 && j - i === 2))) end = j;
      else if (next === 46) {
        // `12.5`: a decimal, unless it could be the start of an IP address (`1.2.` with a short first part).
        let q = j + 1;
        while (classAt(text, q) & DIGIT) q++;
        if (q === j + 1) end = j;
        else if (!(j - i <= 3 && text.charCodeAt(q) === 46)) end = q;
      }
      if (end !== -1) {
        out += text.slice(copied, i) + (end - i >= 8 ? MASK.hex : MASK.number);
        i = end;
        copied = end;
        prevWord = true;
        continue;
      }
      attempt = true;
    } else if (prevWord) {
      attempt = true; // a hex letter with a dash 8 places on
    } else {
      // At a word's start only a month name (`Jun 14 ...`), a UUID (8 hex digits and `-`) or a hex id
      // holding a digit can begin.
      attempt = (k & UPPER) !== 0 && (classAt(text, i + 1) & LOWER) !== 0 && (classAt(text, i + 2) & LOWER) !== 0 && text.charCodeAt(i + 3) === 32;
      if (!attempt && (k & HEX) !== 0) {
        let j = i + 1;
        let hasDigit = false;
        for (let d = classAt(text, j); d & HEX; d = classAt(text, ++j)) if (d & DIGIT) hasDigit = true;
        attempt = hasDigit || text.charCodeAt(i + 8) === 45;
      }
    }
    if (attempt) {
      VOLATILE_AT.lastIndex = i;
      const m = VOLATILE_AT.exec(text);
      if (m && m[0].length > 0) {
        out += text.slice(copied, i) + replacer(m[0], m[1]!, m[2]!, m[3]!, m[4]!, m[5]!);
        i += m[0].length;
        copied = i;
        prevWord = (classAt(text, i - 1) & WORD) !== 0;
        continue;
      }
    }
    prevWord = true;
    i++;
  }
  return copied === 0 ? text : out + text.slice(copied);
}

const MASKED = new RegExp(`[${MASK_CLASS}]`, 'g');

/** Renders masked text for people: placeholders become `<num>`, `<ip>`, ... */
export function unmask(masked: string): string {
  return masked.replace(MASKED, (c) => NAMES[c] ?? c);
}

/** The plain global replace that `maskVolatile` is equivalent to (for tests). */
export function maskVolatileReference(text: string): string {
  return maskSecrets(text).replace(VOLATILE, replacer as (substring: string, ...args: unknown[]) => string);
}
