/**
 * Names of fields and keys that hold secrets: `password`, `db_password`, `X-Api-Key`, `Set-Cookie`,
 * `headers.authorization`. The `redact` transform replaces their values; `anomaly_detect` (with `fields:
 * auto`) does not watch them, so that their values are neither kept in its baseline (nor in `data_dir`)
 * nor quoted in an alert's `why`.
 */

/** The words that end the name of a field or key holding a secret (`password`, `db_password`, `X-Api-Key`). */
export const SECRET_WORD = String.raw`(?:passwd|password|pwd|passphrase|secret|token|api[_-]?key|apikey|(?:access|secret|private|client|signing|encryption|master)[_-]?key|auth|authorization|credentials?|cookie|session[_-]?id|sessionid|signature)`;

/** A field named so holds a secret (the name as a whole, in any case; dotted names of nested fields too). */
export const SECRET_FIELD = new RegExp(`^[A-Za-z0-9_.-]*${SECRET_WORD}$`, 'i');
