/**
 * Names of fields and keys that hold secrets: `password`, `db_password`, `X-Api-Key`, `Set-Cookie`,
 * `headers.authorization`. The `redact` transform replaces their values; `anomaly_detect` (with `fields:
 * auto`) does not watch them, so that their values are neither kept in its baseline (nor in `data_dir`)
 * nor quoted in an alert's `why`. Both find the same names in text too, as `key=value`, `key: value`,
 * `"key": "value"` and `Authorization: Bearer ...` (`SECRET_PAIR`, `SCHEME_CREDENTIALS`): `redact` replaces
 * the value, the detector masks it before anything keeps the text (see `maskSecrets`).
 */

/** The words that end the name of a field or key holding a secret (`password`, `db_password`, `X-Api-Key`). */
export const SECRET_WORD = String.raw`(?:passwd|password|pwd|passphrase|secret|token|api[_-]?key|apikey|(?:access|secret|private|client|signing|encryption|master)[_-]?key|auth|authorization|credentials?|cookie|session[_-]?id|sessionid|signature)`;

/** A field named so holds a secret (the name as a whole, in any case; dotted names of nested fields too). */
export const SECRET_FIELD = new RegExp(`^[A-Za-z0-9_.-]*${SECRET_WORD}$`, 'i');

/**
 * A secret after its key in text: `password=hunter2`, `token: abc`, `"api_key": "abc"`, `Authorization:
 * Bearer abc`. Groups: the word that ends the key (1), the separator (2), an auth scheme, kept (3), the
 * secret (4). The value runs to a space, quote, `&`, `,`, `;` or a bracket (a map or list after the key is
 * left whole: its fields are judged by their own names). It starts at the word that ends the key (whatever
 * comes before it stays as it is): starting at the key's first character cost four times as much on lines
 * with no secret. Global: copy it (`new RegExp(SECRET_PAIR)`) where `lastIndex` could be shared.
 */
export const SECRET_PAIR = new RegExp(String.raw`(${SECRET_WORD})(["']?\s*[:=]\s*["']?)((?:bearer|basic|token|digest)\s+)?([^\s"'&,;{}[\]]+)`, 'gi');

/** An auth scheme's credentials without a key before it: `... Bearer eyJhbGciOi...`. Groups: the scheme (1), the secret (2). */
export const SCHEME_CREDENTIALS = /(?<![A-Za-z])((?:bearer|basic)\s+)([A-Za-z0-9._~+/=-]{8,})/gi;
