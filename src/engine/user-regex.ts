/**
 * Regular expressions written in a pipeline's config (`filter`'s `matches`, the file input's multiline
 * patterns), run on every line, must take time linear in the line, as Vector's (Rust `regex`) and RE2 do.
 * V8's own engine backtracks: `(a+)+$` on a 41-byte line of `a`s ran for over 10 minutes, with the event loop
 * blocked, so that SIGTERM was never handled and nothing else moved.
 *
 * V8 has a linear-time engine too. With `--enable-experimental-regexp-engine-on-excessive-backtracks` set
 * here, a regex that backtracks too much (50,000 times on one line) is run again by it: `(a+)+$` on 5,000
 * `a`s answers in milliseconds. That engine cannot run lookarounds or backreferences, nor (in Node 20's V8)
 * the `i` flag, so a config regex that uses a lookaround or a backreference is refused (Vector refuses them
 * too), and a case-insensitive one is written out with both cases instead of `i` (`[hH][eE]...`).
 */
import { setFlagsFromString } from 'node:v8';

// The flags are read when a regex is compiled and run, so setting them now is in time for every config regex.
setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');
// Makes the `l` flag (linear engine only) known, with which compileUserRegex checks a regex can fall back.
setFlagsFromString('--enable-experimental-regexp-engine');

/**
 * `source` compiled for running on events; throws an Error whose message says what is wrong (a syntax
 * error, or a lookaround or backreference, which could take exponential time).
 *
 * The linear engine also refuses counts above 16 (`[0-9a-f]{32}`): those are let through, checked with
 * their counts lowered to 16, and a regex whose backtracking they multiply has no fallback.
 */
export function compileUserRegex(source: string, options: { ignoreCase?: boolean } = {}): RegExp {
  const written = new RegExp(source, options.ignoreCase ? 'i' : ''); // a syntax error is told as JavaScript tells it
  const pattern = options.ignoreCase ? bothCases(source) : source;
  try {
    // eslint-disable-next-line no-invalid-regexp -- `l` is V8's linear-engine flag, known once the flag above is set
    new RegExp(pattern.replace(/\{(\d+)(,\d*)?\}/g, (_, n: string, m: string | undefined) => `{${Math.min(Number(n), 16)}${m === undefined ? '' : m === ',' ? ',' : `,${Math.min(Number(m.slice(1)), 16)}`}}`), 'l');
  } catch {
    throw new Error('uses a lookaround ((?=, (?!, (?<=, (?<!) or a backreference (\\1, \\k<name>), which can take exponential time on one line: driftlock, like Vector, takes only regular expressions that run in linear time');
  }
  return options.ignoreCase ? new RegExp(pattern) : written;
}

// ---- Case-insensitive matching without the `i` flag -------------------------------------------------------

/** ECMAScript's Canonicalize for a regex without `u`: the upper case of a code unit, when it is one code unit and not ASCII for a non-ASCII one. */
function canonicalize(ch: number): number {
  const upper = String.fromCharCode(ch).toUpperCase();
  if (upper.length !== 1) return ch;
  const cu = upper.charCodeAt(0);
  return ch >= 128 && cu < 128 ? ch : cu;
}

let classes: Map<number, number[]> | undefined;
/** The code units that `ch` matches under `i`: those of the same canonical form (built once, 64K look-ups). */
function sameCase(ch: number): number[] {
  if (classes === undefined) {
    classes = new Map();
    for (let c = 0; c <= 0xffff; c++) {
      const k = canonicalize(c);
      const list = classes.get(k);
      if (list) list.push(c);
      else classes.set(k, [c]);
    }
  }
  return classes.get(canonicalize(ch)) ?? [ch];
}

const hex4 = (c: number) => (/[A-Za-z0-9]/.test(String.fromCharCode(c)) ? String.fromCharCode(c) : `\\u${c.toString(16).padStart(4, '0')}`);

/** Code units as the inside of a character class, runs written as ranges. */
function classBody(units: Iterable<number>): string {
  const sorted = [...new Set(units)].sort((a, b) => a - b);
  let out = '';
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    out += j === i ? hex4(sorted[i]!) : `${hex4(sorted[i]!)}-${hex4(sorted[j]!)}`;
    i = j + 1;
  }
  return out;
}

/** An escape at `s[i]` (a backslash): its length, and the code unit it stands for when it stands for one. */
function escapeAt(s: string, i: number, inClass: boolean): { length: number; unit?: number } {
  const c = s[i + 1];
  if (c === undefined) return { length: 1 };
  const hex = (n: number) => (/^[0-9a-fA-F]+$/.test(s.slice(i + 2, i + 2 + n)) && s.length >= i + 2 + n ? parseInt(s.slice(i + 2, i + 2 + n), 16) : undefined);
  if (c === 'x') {
    const u = hex(2);
    return u === undefined ? { length: 2, unit: 0x78 } : { length: 4, unit: u };
  }
  if (c === 'u') {
    const u = hex(4);
    return u === undefined ? { length: 2, unit: 0x75 } : { length: 6, unit: u };
  }
  if (c === 'c' && /[a-zA-Z]/.test(s[i + 2] ?? '')) return { length: 3, unit: s.charCodeAt(i + 2) % 32 };
  if (c === 'k' && s[i + 2] === '<') {
    const end = s.indexOf('>', i);
    return { length: end < 0 ? 2 : end - i + 1 };
  }
  if (/[0-9]/.test(c)) {
    let j = i + 1;
    while (/[0-9]/.test(s[j] ?? '')) j++;
    return { length: j - i };
  }
  if ('dDwWsS'.includes(c) || (!inClass && 'bB'.includes(c))) return { length: 2 };
  const controls: Record<string, number> = { t: 9, n: 10, v: 11, f: 12, r: 13, ...(inClass ? { b: 8 } : {}) };
  return { length: 2, unit: controls[c] ?? c.charCodeAt(0) };
}

/**
 * `source` rewritten so that, without the `i` flag, it matches what `source` matches with it: each letter
 * becomes a class of its cases, and each class takes in the other case of every letter it holds.
 */
export function bothCases(source: string): string {
  let out = '';
  let i = 0;
  const s = source;
  const literal = (unit: number, written: string): string => {
    const cases = sameCase(unit);
    return cases.length > 1 ? `[${classBody(cases)}]` : written;
  };
  while (i < s.length) {
    const c = s[i]!;
    if (c === '\\') {
      const e = escapeAt(s, i, false);
      const written = s.slice(i, i + e.length);
      out += e.unit === undefined ? written : literal(e.unit, written);
      i += e.length;
    } else if (c === '(' && s.startsWith('(?<', i) && s[i + 3] !== '=' && s[i + 3] !== '!') {
      const end = s.indexOf('>', i); // a group's name is not matched: kept as it is
      const to = end < 0 ? s.length : end + 1;
      out += s.slice(i, to);
      i = to;
    } else if (c === '[') {
      i++;
      let body = '';
      if (s[i] === '^') {
        body += '^';
        i++;
      }
      const units: number[] = [];
      // In JavaScript `[]` matches nothing and `[^]` anything: a `]` first closes the class.
      while (i < s.length && s[i] !== ']') {
        const atom = (): { length: number; unit?: number } => (s[i] === '\\' ? escapeAt(s, i, true) : { length: 1, unit: s.charCodeAt(i) });
        const a = atom();
        const lo = a.unit;
        if (lo !== undefined && s[i + a.length] === '-' && s[i + a.length + 1] !== ']' && i + a.length + 1 < s.length) {
          const at = i;
          i += a.length + 1;
          const b = atom();
          const hi = b.unit;
          if (hi === undefined) {
            body += s.slice(at, i + b.length); // `[a-\w]`: `-` is a character here
            units.push(...sameCase(lo));
          } else {
            body += s.slice(at, i + b.length);
            for (let u = lo; u <= hi; u++) for (const v of sameCase(u)) if (v < lo || v > hi) units.push(v);
          }
          i += b.length;
        } else {
          body += s.slice(i, i + a.length);
          if (lo !== undefined) units.push(...sameCase(lo));
          i += a.length;
        }
      }
      out += `[${body}${classBody(units)}]`;
      i++; // the closing `]`
    } else {
      out += literal(s.charCodeAt(i), c); // `(`, `*`, `.`... have one case: kept as they are
      i++;
    }
  }
  return out;
}
