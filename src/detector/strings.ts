/**
 * Strings the detector keeps (templates, remembered values, category keys) must not hold on to more than
 * their own characters: in V8 a `slice` of a long string, and a concatenation with one, are views that
 * keep the whole of it alive. A remembered 100-character head of a 1 MB line would hold the megabyte.
 */

/** A copy of `text` that shares nothing with the string it came from. */
export function ownCopy(text: string): string {
  return Buffer.from(text, 'utf16le').toString('utf16le');
}

/** The first `max` characters of a long text, as a string of its own; a short text as it is. */
export function headOf(text: string, max: number): string {
  return text.length > max ? ownCopy(text.slice(0, max)) : text;
}

/**
 * The first `max` UTF-16 units of `text`, or `max - 1` when the cut would fall between the halves of a
 * surrogate pair (an emoji): half of one is no character (a terminal shows U+FFFD, JSON writes `\ud83d`).
 */
export function cutWhole(text: string, max: number): string {
  if (text.length <= max) return text;
  return text.slice(0, /[\ud800-\udbff]/.test(text[max - 1] ?? '') ? max - 1 : max);
}

/** `text` cut to `max` characters with an ellipsis as the last, never between the halves of a surrogate pair. */
export function ellipsize(text: string, max: number): string {
  return text.length > max ? `${cutWhole(text, max - 1)}…` : text;
}

/** 32-bit FNV-1a of a string's UTF-16 code units, as 8 hex digits. */
function fnv1a(text: string, seed: number): string {
  let h = seed;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16).padStart(8, '0');
}

/**
 * A short stand-in for a long value, for maps that count or remember values: its head, to read, and a
 * 64-bit hash of the whole, to tell it from others with the same head. A short value stands for itself.
 */
export function boundedKey(value: string, max = 128): string {
  if (value.length <= max) return value;
  return ownCopy(`${value.slice(0, max - 20)}…#${fnv1a(value, 0x811c9dc5)}${fnv1a(value, 0x050c5d1f)}`);
}
