/**
 * `redact`: takes secrets and personal data out of events before they leave the host. An alert carries the
 * log entry, and the `why` quotes from it; put in front of a Slack or webhook output, this keeps passwords,
 * tokens, card numbers and e-mail addresses out of a chat channel, as Vector's `redact()` does.
 *
 * Every string of the event (body, attributes, resource; or only the `fields` named) is searched for the
 * built-in `patterns` and the `custom` regular expressions, and what they match is replaced. A field whose
 * *name* says it holds a secret (`password`, `api_key`, `Authorization`, `Set-Cookie`, ...) has its whole
 * value replaced with the `credentials` pattern. `remove` deletes fields outright. Names are kept: only
 * values change.
 *
 * It fails closed: an event that cannot be redacted (none is known) is dropped, logged and counted
 * (`redaction_failed_events_total`), never passed on as it was; and a batch it fails on as a whole is
 * dropped by the engine (`on_error` defaults to `drop` here). Events with something replaced are counted
 * in `redacted_events_total`, and each replacement in `redactions_total` by `pattern`.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { defineTransform } from '../engine/component.js';
import type { LogEvent } from '../engine/event.js';
import { compileFieldLocation, FIELD_ROOTS, fieldPathMeant, isFieldPath } from '../engine/field-path.js';
import { compileUserRegex } from '../engine/user-regex.js';
import { maskVolatile, unmask } from '../detector/mask.js';
import { percentDecode } from '../detector/event-text.js';
import { CAMEL_PASS_PAIR, COMMAND_PASSWORD_OPTION, holdsOne, isCommandPasswordOption, isSecretField, isSecretPair, isUserPasswordOption, isWorkingDirectoryField, PASSWORD_HASH, PASSWORD_OPTION, SAMBA_USER_PASSWORD_OPTION, SCHEME_CREDENTIALS, SECRET_PAIR, TOKEN_SHAPES, URL_CREDENTIALS, USER_PASSWORD_OPTION } from '../secret-names.js';

/** Secrets shorter than this are not looked for elsewhere in the event: `abc` would take words apart. */
const MIN_ECHO = 4;
/**
 * A quote (`"..."`) elsewhere in the event that shares this many characters in a row with a secret found,
 * as written or as the detector shows it (numbers as `<num>`), is replaced whole: a `why` quotes a cut
 * piece of what the baseline could not explain, which may start or end inside the secret.
 */
const FRAGMENT = 8;
/** Longer quotes are not searched for pieces: a `why` quotes at most 100 characters (exact copies go anyway). */
const FRAGMENT_QUOTE = 128;
/** A quoted span in a string (JSON-escaped quotes inside it allowed), as a `why` writes them. */
const QUOTED = /"((?:[^"\\]|\\.)*)"/g;

/** A replacement inside a string: the whole match, or the groups that hold the secret (the rest is kept). */
interface Rule {
  pattern: string;
  regex: RegExp;
  /** The text that replaces a match (given its groups, where it is and the text searched), or undefined to leave it as it is. */
  replace: (match: string, groups: Array<string | undefined>, named: Record<string, string | undefined> | undefined, at: number, text: string) => string | undefined;
  /** The part of a match that is the secret, when the rest is kept (a key, a scheme): group `secret`. */
  secret?: number;
  /** Text every match holds (one of them, for a list): a string without it is not searched (cheaper than the regex). */
  needs?: string | readonly string[];
}

/**
 * The built-in patterns. Each regex starts only where the text it looks for can start (a lookbehind for a
 * character of the same kind), so a long run of letters or digits is scanned once, not from each of its
 * characters: the time is linear in the line.
 */
function builtIn(name: BuiltInPattern, replacement: string): Rule[] {
  const keep = (...parts: Array<string | undefined>) => parts.map((p) => p ?? '').join('');
  const pair: Rule['replace'] = (_m, [key, sep, scheme, secret], _n, at, text) =>
    isSecretPair(text, at, key!, sep!, secret!) ? keep(key, sep, scheme, replacement) : undefined;
  switch (name) {
    case 'credentials':
      return [
        // key=value, key: value, "key":"value", with an auth scheme kept: password=hunter2, "api_key": "abc",
        // Authorization: Bearer abc (the detector masks the same values: see `maskSecrets`).
        { pattern: name, regex: new RegExp(SECRET_PAIR), replace: pair, secret: 3 },
        // The same after a camelCase key: dbPass=hunter2.
        { pattern: name, needs: 'Pass', regex: new RegExp(CAMEL_PASS_PAIR), replace: pair, secret: 3 },
        // An auth scheme's credentials without a key before it: "... Bearer eyJhbGciOi...".
        { pattern: name, regex: new RegExp(SCHEME_CREDENTIALS), replace: (_m, [scheme]) => keep(scheme, replacement), secret: 1 },
        // A password's `-p` option where one is plausible: mysql -u root -p hunter2.
        { pattern: name, needs: '-p', regex: new RegExp(PASSWORD_OPTION), replace: (_m, [option, sep]) => keep(option, sep, replacement), secret: 2 },
        // A password's option in some commands only: sqlcmd -U sa -P hunter2, keytool -storepasswd -new x (not mysql -P 3306).
        { pattern: name, needs: ['-P', '-new'], regex: new RegExp(COMMAND_PASSWORD_OPTION), replace: (_m, [option, sep], _n, at, text) => (isCommandPasswordOption(text, at, option!) ? keep(option, sep, replacement) : undefined), secret: 2 },
        // A password after the user in a user option: curl -u bob:hunter2, -U bob:hunter2 (a proxy's); not docker's -u app:app.
        { pattern: name, needs: ['-u', '-U'], regex: new RegExp(USER_PASSWORD_OPTION), replace: (_m, [optionAndUser], _n, at, text) => (isUserPasswordOption(text, at) ? keep(optionAndUser, replacement) : undefined), secret: 1 },
        // A password after the user in Samba's user option: smbclient -U bob%hunter2.
        { pattern: name, needs: '%', regex: new RegExp(SAMBA_USER_PASSWORD_OPTION), replace: (_m, [optionAndUser]) => keep(optionAndUser, replacement), secret: 1 },
        // A password in a URL: https://user:secret@host/.
        { pattern: name, needs: '://', regex: new RegExp(URL_CREDENTIALS), replace: (_m, [before, , at]) => keep(before, replacement, at), secret: 1 },
        // A password's hash known by its form, its scheme kept: $2b$12$..., $6$salt$..., $argon2id$v=19$...
        { pattern: name, needs: '$', regex: new RegExp(PASSWORD_HASH), replace: (_m, [scheme]) => keep(scheme, replacement), secret: 1 },
        // Tokens recognisable by their form, with no key: JSON Web Tokens, AWS access key ids, GitHub, Slack, Stripe
        // and Google API keys, Slack webhook URLs, PEM private keys (the detector masks the same: see `maskSecrets`).
        ...TOKEN_SHAPES.map((shape): Rule => ({ pattern: name, needs: shape.needs, regex: new RegExp(shape.regex), replace: () => replacement })),
      ];
    case 'credit_card':
      // 13 to 19 digits, in groups separated by a space or a dash, starting as card numbers do (Visa 4, Mastercard
      // 2 and 5, Amex 34 and 37, Diners 30, 36 and 38, Discover and others 6), that pass the Luhn check: an epoch
      // in milliseconds (13 digits from 1) or an id of 16 digits fails one or the other.
      return [
        {
          pattern: name,
          regex: /(?<![0-9])(?<![0-9][ -])(?:4|5[1-5]|2[2-7]|3[04678]|6)(?:[ -]?[0-9]){11,17}(?![0-9])(?![ -][0-9])/g,
          replace: (m) => (luhn(m.replace(/[ -]/g, '')) ? replacement : undefined),
        },
      ];
    case 'email':
      return [{ pattern: name, needs: '@', regex: /(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![A-Za-z0-9-])/g, replace: () => replacement }];
    case 'ip':
      return [
        { pattern: name, regex: /(?<![0-9.])(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?!\.?[0-9])/g, replace: () => replacement },
        // IPv6: a run of hex digits, colons (and dots, for an embedded IPv4) that Node reads as an address.
        { pattern: name, regex: /(?<![0-9A-Za-z:.])[0-9A-Fa-f:.]{2,45}(?![0-9A-Za-z:.])/g, replace: (m) => (isIP(m) === 6 ? replacement : undefined) },
      ];
  }
}

function luhn(digits: string): boolean {
  let sum = 0;
  for (let i = digits.length - 1, double = false; i >= 0; i--, double = !double) {
    let d = digits.charCodeAt(i) - 48;
    if (double && (d *= 2) > 9) d -= 9;
    sum += d;
  }
  return sum % 10 === 0;
}

/**
 * A replacement written as for JavaScript's `String.replace`: `$1` to `$99` and `$<name>` stand for a group's
 * text, `$&` for the match, `$$` for a dollar. (`replace` itself is not used: the count of replacements is
 * taken as they are made.)
 */
export function expand(replacement: string, match: string, groups: Array<string | undefined>, named?: Record<string, string | undefined>): string {
  if (!replacement.includes('$')) return replacement;
  return replacement.replace(/\$(?:\$|&|<([^>]*)>|([0-9]{1,2}))/g, (ref, name: string | undefined, index: string | undefined) => {
    if (ref === '$$') return '$';
    if (ref === '$&') return match;
    if (name !== undefined) return named === undefined ? ref : (named[name] ?? '');
    const i = Number(index);
    if (i >= 1 && i <= groups.length) return groups[i - 1] ?? '';
    // `$12` with 1 group: `$1` then `2`, as `replace` reads it.
    if (index!.length === 2 && Number(index![0]) >= 1 && Number(index![0]) <= groups.length) return (groups[Number(index![0]) - 1] ?? '') + index![1];
    return ref;
  });
}

export const BUILT_IN_PATTERNS = ['credentials', 'credit_card', 'email', 'ip'] as const;
type BuiltInPattern = (typeof BUILT_IN_PATTERNS)[number];

/** `body`, `attributes`, `resource`, or a path in one of them. */
function fieldProblem(field: string): string | undefined {
  if (field === 'body' || field === 'attributes' || field === 'resource') return undefined;
  if (isFieldPath(field) && !field.startsWith('source.')) return undefined;
  return `"${field}" names no field redact can change: write body, attributes, resource, or a path starting with ${FIELD_ROOTS.filter((r) => r !== 'source').map((r) => `${r}.`).join(', ')} (e.g. ${fieldPathMeant(field, true)})`;
}

const fieldName = z.string().superRefine((f, ctx) => {
  const problem = fieldProblem(f);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});

const customRule = z.union([
  z.string(),
  z.strictObject({
    pattern: z.string().describe('The regular expression (JavaScript syntax, linear time: no lookarounds nor backreferences).'),
    replacement: z.string().optional().describe('What replaces a match: `$1` or `$<name>` keep a group (`(session=)[^&]+` with `$1<redacted>`). Default: the transform\'s `replacement`.'),
    ignore_case: z.boolean().default(false).describe('Match without regard to case.'),
  }),
]);

export const redactConfig = z
  .object({
    patterns: z
      .array(z.enum(BUILT_IN_PATTERNS))
      .default(['credentials', 'credit_card', 'email'])
      .describe('Built-in patterns: `credentials` (values of fields and `key=value` pairs named like password, pass, secret, token, api_key, auth, cookie, session id or a password\'s hash, a quoted value whole, in JSON escaped inside a string too, a password\'s words after `password: `, `--password x`, `-u root -p x`, `sqlcmd -P x`, `curl -u bob:x` and `smbclient -U bob%x` options, YAML `password: >-` blocks, `Cookie:` and `Set-Cookie:` headers to the line\'s end, a `Digest` header\'s parameters; `Bearer` and `Basic` credentials; passwords in URLs; password hashes by their form, `$2b$12$...`, `$6$...`, `$argon2id$...`; JSON Web Tokens, AWS access key ids, GitHub, Slack, Stripe and Google API keys, Slack webhook URLs, PEM private keys), `credit_card` (card numbers that pass the Luhn check), `email`, `ip` (IPv4 and IPv6 addresses). `[]` for none.'),
    custom: z.array(customRule).default([]).describe('Your own regular expressions: a string (its matches are replaced by `replacement`) or `{pattern, replacement, ignore_case}`.'),
    fields: z.array(fieldName).min(1).optional().describe('Where to look: `body`, `attributes`, `resource` or paths in them (`body.request`, `attributes.anomaly.why`). Default: the whole event but `source`. Names are never changed, only values.'),
    remove: z.array(fieldName).default([]).describe('Fields deleted from every event (`body.cookie`, `attributes.http.request.header.authorization`); not a whole `body`, `attributes` or `resource` (use a `filter` transform to drop events).'),
    replacement: z.string().default('<redacted>').describe('What replaces a secret.'),
  })
  .superRefine((c, ctx) => {
    c.custom.forEach((r, i) => {
      const { pattern, ignore_case } = typeof r === 'string' ? { pattern: r, ignore_case: false } : r;
      try {
        compileUserRegex(pattern, { ignoreCase: ignore_case });
      } catch (err) {
        ctx.addIssue({ code: 'custom', path: ['custom', i, ...(typeof r === 'string' ? [] : ['pattern'])], message: `not a regular expression driftlock can use: ${(err as Error).message}` });
      }
    });
    c.remove.forEach((f, i) => {
      // Deleting a whole part left events without a body (refused by the engine: every batch failed, and with
      // `on_error: drop` was dropped) or without the attributes every stage reads.
      if (f === 'body' || f === 'attributes' || f === 'resource') {
        ctx.addIssue({ code: 'custom', path: ['remove', i], message: `\`${f}\` is a whole part of every event, not a field: name the fields in it to delete (\`${f}.cookie\`), or drop events with a \`filter\` transform` });
      }
    });
    if (c.patterns.length === 0 && c.custom.length === 0 && c.remove.length === 0) {
      ctx.addIssue({ code: 'custom', message: 'a redact transform needs `patterns`, `custom` or `remove`: as it is, it changes nothing' });
    }
  });

export type RedactConfig = z.output<typeof redactConfig>;

/** Counts of one event's replacements, by pattern. */
type Tally = Map<string, number>;

/**
 * A redactor of events, built from a config: pure code, used by the transform and its tests. It changes the
 * event in place, adds its replacements to `tally` by pattern, and returns how many it made.
 */
export function compileRedactor(config: RedactConfig): (event: LogEvent, tally: Tally) => number {
  const rules: Rule[] = config.patterns.flatMap((p) => builtIn(p, config.replacement));
  config.custom.forEach((r) => {
    const { pattern, replacement = config.replacement, ignore_case } = typeof r === 'string' ? { pattern: r, replacement: config.replacement, ignore_case: false } : r;
    const re = compileUserRegex(pattern, { ignoreCase: ignore_case });
    rules.push({ pattern: 'custom', regex: new RegExp(re.source, `${re.flags}g`), replace: (m, groups, named) => expand(replacement, m, groups, named) });
  });
  // Each rule's `needs` as a list, made once, and every rule of one shape (each key there, in one order): the
  // loop below reads them for each string of each event. Asking `some()` of a list with a new closure for each
  // string cost the parse -> redact -> file pipeline a third more CPU (2.9 s against 3.9 s for 300,000 nginx
  // JSON lines) once one rule had a list; so did rules copied with their own keys (`{ ...rule }`: some with
  // `secret` or `needs`, some without), the loop's reads of them then seeing many shapes.
  const compiled = rules.map((rule) => ({
    pattern: rule.pattern,
    regex: rule.regex,
    replace: rule.replace,
    secret: rule.secret,
    needs: typeof rule.needs === 'string' ? [rule.needs] : rule.needs,
  }));
  const secretNames = config.patterns.includes('credentials');
  const cardNumbers = config.patterns.includes('credit_card');
  // The state of one call: its replacements (counted, and by pattern in the caller's tally), and the secrets
  // taken out of the event, by pattern, whose copies elsewhere in it go too (see `echoes`).
  let made = 0;
  let tally: Tally = new Map();
  let secrets = new Map<string, string>();
  const count = (pattern: string, secret?: string) => {
    made += 1;
    tally.set(pattern, (tally.get(pattern) ?? 0) + 1);
    if (secret !== undefined && secret.length >= MIN_ECHO && !secrets.has(secret)) secrets.set(secret, pattern);
  };

  const text = (s: string): string => {
    let out = s;
    for (const rule of compiled) {
      if (rule.needs !== undefined && !holdsOne(out, rule.needs)) continue;
      rule.regex.lastIndex = 0;
      if (!rule.regex.test(out)) continue;
      rule.regex.lastIndex = 0;
      out = out.replace(rule.regex, (...args: unknown[]) => {
        // (match, group 1, ..., group n, offset, whole string[, named groups])
        const match = args[0] as string;
        const at = args.findIndex((a, i) => i > 0 && typeof a === 'number');
        const groups = args.slice(1, at) as Array<string | undefined>;
        const named = args[at + 2] as Record<string, string | undefined> | undefined;
        const replaced = rule.replace(match, groups, named, args[at] as number, args[at + 1] as string);
        if (replaced === undefined || replaced === match) return match;
        count(rule.pattern, rule.secret === undefined ? match : groups[rule.secret]);
        return replaced;
      });
    }
    return out;
  };

  /** A value with its strings redacted; a scalar under a secret's name is replaced whole. */
  const value = (v: unknown, secretName: boolean): unknown => {
    if (typeof v === 'string') {
      if (secretName && v !== '') {
        count('credentials', v);
        return config.replacement;
      }
      return text(v);
    }
    if (typeof v === 'number' || typeof v === 'bigint') {
      if (secretName) {
        count('credentials', String(v));
        return config.replacement;
      }
      if (cardNumbers && Number.isInteger(v as number) && String(v).length >= 13) {
        const s = text(String(v));
        return s === String(v) ? v : s;
      }
      return v;
    }
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) v[i] = value(v[i], secretName);
      return v;
    }
    if (v !== null && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      for (const k of Object.keys(o)) o[k] = value(o[k], secretNames && isSecretField(k) && !isWorkingDirectoryField(k, o[k]));
      return o;
    }
    return v;
  };

  const targets = (config.fields ?? ['body', 'attributes', 'resource']).map(compileFieldLocation);
  const removals = config.remove.map(compileFieldLocation);
  /**
   * Copies of the secrets found, left elsewhere in the event: an alert's `why` quotes the text the baseline
   * could not explain, and that is often the secret alone (`new text "hunter2"`), without the `password=`
   * before it that the patterns look for.
   */
  const echoes = (v: unknown): unknown => {
    if (typeof v === 'string') {
      let out = v;
      for (const [secret, pattern] of secrets) {
        if (!out.includes(secret)) continue;
        const parts = out.split(secret);
        for (let i = 1; i < parts.length; i++) count(pattern);
        out = parts.join(config.replacement);
      }
      return out.includes('"') ? quotedPieces(out) : out;
    }
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) v[i] = echoes(v[i]);
    } else if (v !== null && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      for (const k of Object.keys(o)) o[k] = echoes(o[k]);
    }
    return v;
  };

  /**
   * Every run of `FRAGMENT` characters of the secrets found, as written and as a `why` shows them
   * (percent-decoded, numbers as `<num>`), with the pattern that found the secret.
   */
  let pieces = new Map<string, string>();
  const quotedPieces = (s: string): string =>
    s.replace(QUOTED, (whole: string, inside: string) => {
      if (inside.length > FRAGMENT_QUOTE) return whole;
      const text = inside.endsWith('…') ? inside.slice(0, -1) : inside;
      for (let i = 0; i + FRAGMENT <= text.length; i++) {
        const pattern = pieces.get(text.slice(i, i + FRAGMENT));
        if (pattern === undefined) continue;
        count(pattern);
        return `"${config.replacement}"`;
      }
      return whole;
    });

  return (event, into) => {
    made = 0;
    tally = into;
    secrets = new Map();
    for (const remove of removals) {
      const at = remove(event);
      if (at === undefined) continue;
      if (Array.isArray(at.holder)) at.holder.splice(Number(at.key), 1);
      else delete at.holder[at.key];
      count('remove');
    }
    for (const target of targets) {
      const at = target(event);
      if (at === undefined) continue;
      const secretName = secretNames && at.holder !== (event as unknown) && isSecretField(at.key) && !isWorkingDirectoryField(at.key, at.value);
      (at.holder as Record<string, unknown>)[at.key] = value(at.value, secretName);
    }
    if (secrets.size > 0) {
      pieces = new Map();
      for (const [secret, pattern] of secrets) {
        // As the detector reads a field (`%21` as `!`), and shows it.
        const decoded = percentDecode(secret);
        for (const form of [secret, decoded, unmask(maskVolatile(secret)), unmask(maskVolatile(decoded))]) {
          for (let i = 0; i + FRAGMENT <= form.length; i++) pieces.set(form.slice(i, i + FRAGMENT), pattern);
        }
      }
      for (const target of targets) {
        const at = target(event);
        if (at !== undefined) (at.holder as Record<string, unknown>)[at.key] = echoes(at.value);
      }
    }
    return made;
  };
}

export const redactTransform = defineTransform({
  type: 'redact',
  description:
    'Replaces secrets and personal data in events before they leave the host (as Vector\'s `redact()`): passwords, tokens, API keys and cookies (by field name, `key=value`, `Bearer` and known token forms), card numbers, e-mail addresses, optionally IP addresses, your own regular expressions; and deletes the fields named in `remove`. Put it in front of a Slack or webhook output: the alert\'s entry and its `why` are redacted too. Fails closed: an event it cannot redact is dropped and counted, never sent as it was; so is a batch it fails on as a whole (`on_error` defaults to `drop`).',
  config: redactConfig,
  // What it could not redact must not reach a chat channel as it was: a batch it fails on is dropped.
  onError: 'drop',
  example: {
    type: 'redact',
    inputs: ['detect'],
    patterns: ['credentials', 'credit_card', 'email'],
    custom: [{ pattern: '(customer_id=)[0-9]+', replacement: '$1<redacted>' }],
    remove: ['body.http_cookie'],
  },
  build(config, ctx) {
    const redact = compileRedactor(config);
    ctx.metrics?.declare('redacted_events_total');
    ctx.metrics?.declare('redaction_failed_events_total');
    for (const p of [...config.patterns, ...(config.custom.length > 0 ? ['custom'] : []), ...(config.remove.length > 0 ? ['remove'] : [])]) ctx.metrics?.add('redactions_total', 0, { pattern: p });
    let failuresSaid = 0;
    return {
      map(events) {
        const out: LogEvent[] = [];
        const tally: Tally = new Map();
        let redacted = 0;
        let failed = 0;
        for (const event of events) {
          try {
            if (redact(event, tally) > 0) redacted += 1;
          } catch (err) {
            // Fails closed: what could not be redacted is not sent on as it was.
            failed += 1;
            const now = Date.now();
            if (now - failuresSaid >= 10_000) {
              failuresSaid = now;
              ctx.logger?.error({ err: (err as Error).message }, 'could not redact an event: dropped it rather than send it unredacted');
            }
            continue;
          }
          out.push(event);
        }
        if (redacted > 0) ctx.metrics?.add('redacted_events_total', redacted);
        if (failed > 0) ctx.metrics?.add('redaction_failed_events_total', failed);
        for (const [pattern, n] of tally) ctx.metrics?.add('redactions_total', n, { pattern });
        return out;
      },
    };
  },
});
