/**
 * Names of fields and keys that hold secrets: `password`, `db_password`, `X-Api-Key`, `Set-Cookie`,
 * `headers.authorization`. The `redact` transform replaces their values; `anomaly_detect` (with `fields:
 * auto`) does not watch them, so that their values are neither kept in its baseline (nor in `data_dir`)
 * nor quoted in an alert's `why`. Both find the same names in text too, as `key=value`, `key: value`,
 * `"key": "value with spaces"`, `{\"key\":\"value\"}`, `--key value`, `key: >-` blocks, `Cookie: ...` and
 * `Authorization: Bearer ...` (`SECRET_PAIR`, `SCHEME_CREDENTIALS`), `mysql -u root -p hunter2`
 * (`PASSWORD_OPTION`), `curl -u bob:hunter2` (`USER_PASSWORD_OPTION`), and a password in a URL (`URL_CREDENTIALS`): `redact` replaces the value, the detector masks it before anything keeps the text (see
 * `maskSecrets`).
 */

/**
 * The words that end the name of a field or key holding a secret (`password`, `db_password`, `X-Api-Key`). `pass`
 * and `psw` (`DB_PASS`, Jenkins' `CREDS_PSW`) only as a word of their own, after no letter or digit: `bypass`,
 * `compass` are none (nor `passed`, `passenger`: the name ends at the word); but `storepass` and `keypass`, the
 * Java keytool's and jarsigner's (`-storepass`, `-srcstorepass`, `-deststorepass`, `-keypass`), are. `Pass` at a
 * camelCase boundary (`dbPass`) is one too, but that is case, which this regex (flag `i`) cannot see: see `CAMEL_PASS`.
 * A password's hash or digest (`passwordHash`, `password_hash`, Rails' `password_digest`: a bcrypt `$2b$12$...`)
 * is one too: whoever has it can try a dictionary against it offline; a hash of anything else is none (`commit_hash`).
 */
export const SECRET_WORD = String.raw`(?:passwd|password|pwd|passphrase|secret|token|api[_-]?key|apikey|(?:access|secret|private|client|signing|encryption|master)[_-]?key|auth|authorization|credentials?|cookie|session[_-]?id|sessionid|signature|pass(?:(?<![A-Za-z0-9]pass)|(?<=(?:store|key)pass))|psw(?<![A-Za-z0-9]psw)|(?:passw(?:or)?d|pwd|pass(?<![A-Za-z0-9]pass))[_-]?(?:hash|digest))`;

/** A name ending in a secret's word (the name as a whole, in any case; dotted names of nested fields too). */
const SECRET_NAME = new RegExp(`^[A-Za-z0-9_.-]*${SECRET_WORD}$`, 'i');
/**
 * `Pass` ending a name at a camelCase boundary, after a lower-case letter or a digit: `dbPass`, `smtpPass`, `db2Pass`
 * (not `bypass`, `compass`, `DBPASS`). `firstPass` and `ByPass` too: a name can say no more, and it fails closed. Its
 * hash or digest as `SECRET_WORD`'s: `dbPassHash`, `dbPass_hash`, `userPassDigest` (not `dbPassHashAlgorithm`).
 */
const CAMEL_PASS = String.raw`(?<=[a-z0-9])Pass(?:Hash|Digest|[_-]?(?:hash|digest))?`;
const CAMEL_PASS_NAME = new RegExp(`^[A-Za-z0-9_.-]*${CAMEL_PASS}$`);

/** A field named so holds a secret: `password`, `headers.authorization`, `DB_PASS`, `dbPass`; not `bypass`. */
export function isSecretField(name: string): boolean {
  return SECRET_NAME.test(name) || CAMEL_PASS_NAME.test(name);
}

/** Auth schemes whose name is kept before the credentials: `Authorization: Bearer <secret>`. */
const SCHEME = String.raw`(?:bearer|basic|token|digest)\s+`;

/**
 * Words that, after `key: ` or an option, begin a sentence rather than a secret: `Invalid password: too short`,
 * `auth: failed for bob`, `option --password requires a value`, `the --token option is deprecated`, `--pass is
 * provided several times`, `--cookie and -c`. Such a value is kept only when the separator is a colon and a space
 * or, after an option (`--password`, `-storepass`), spaces, the value is not quoted, and another word or an option
 * follows it, or a stop, comma or colon ends it (`Use the --password option.`: see `PROSE_END`) (`password: expired`
 * alone, `password=too short`, `"password": "too short"`, `--password is` are still redacted: a secret may be any
 * word, and redact fails closed). None of these words is among the 30,000 common passwords of zxcvbn's list, and a
 * password of two or three letters is refused by most systems.
 */
const PROSE = String.raw`(?:too|is|are|was|were|be|must|should|not|no|does|did|doesn't|isn't|cannot|can't|can|has|had|expired|invalid|incorrect|wrong|required|requires|needs|expects|expected|missing|mismatch|empty|changed|reset|updated|accepted|rejected|denied|failed|length|contains|for|of|the|and|or|but|also|option|options|flag|argument|multiple|will|may|only|given|takes)`;
/**
 * What ends a sentence's word (`Use the --password option.`, `see --token argument, or`): a stop, a comma, a colon, ...
 * and a space or the text's end after it. After `PROSE`, as a word or an option after it, it tells a sentence.
 */
const PROSE_END = String.raw`[.,;:!?](?![^\s])`;
/**
 * A PAM configuration line's module type whose name is a secret's (`password`, `auth`), written with the `-` that
 * says "no log if the module is missing" (`-password sufficient pam_unix.so`), and its control: one of the keywords,
 * then the module. Without the `-` it is no key at all (no separator); with it, it is an option whose value
 * `sufficient` is no password. The bracketed control (`[success=1 default=ignore]`) is no value either (a bracket).
 */
const PAM_TYPE = String.raw`(?:^|[\s"'])-(?:password|auth)[ \t]{1,8}`;
const PAM_CONTROL = String.raw`(?:required|requisite|sufficient|optional|include|substack)[ \t]+[^\s]`;
/** The separator of an option and its value, spaces: where `PROSE` is looked for after an option. */
const AFTER_OPTION = String.raw`(?:^|[\s"'])--?[A-Za-z0-9_.-]{0,64}[ \t]{1,8}`;

/**
 * A value written as an unescaped quote opens it: JSON's rules (`\"` inside), to the closing quote or the line's end
 * (unrolled, `[^"\\]*(?:\\.[^"\\]*)*`: `(?:[^"\\]|\\.)+` took 60 times as long on a long value).
 */
const QUOTED_VALUE = String.raw`(?<=(?<!\\)")(?=[^"\\\r\n]|\\.)[^"\\\r\n]*(?:\\.[^"\\\r\n]*)*|(?<=(?<!\\)')(?=[^'\\\r\n]|\\.)[^'\\\r\n]*(?:\\.[^'\\\r\n]*)*`;
/**
 * The quote that closes a value of JSON escaped inside a string whose opening quote has the backslashes `esc`
 * before it: as many, after pairs of escaped backslashes. Once escaped (`\"`), a quote of the value is `\\\"` (3)
 * and a backslash at its end `\\\\\"` (5, closing); in general, with k backslashes to open, a run of m closes iff
 * m = k mod 2(k+1).
 */
const ESCAPED_CLOSE = String.raw`(?:\k<esc>\\\k<esc>\\)*\k<esc>"`;
/**
 * A value in JSON escaped inside a string (`{\"password\":\"hunter2\"}`, `\\\"` and deeper): to the quote that
 * closes it (`ESCAPED_CLOSE`: a quote of the value, `\"pa\\\"ss\"`, does not), its backslashes kept (unrolled:
 * each character is read once, a run of backslashes before a quote a few times; never empty). Quoted by `\'`: to
 * the next quote.
 */
const ESCAPED_VALUE =
  String.raw`(?<=(?<!\\)(?<esc>\\{1,64})")(?!${ESCAPED_CLOSE})(?=\\*[^"\\\r\n]|\\+")[^"\\\r\n]*(?:(?:\\+(?=[^"\\\r\n])|(?!${ESCAPED_CLOSE})\\+")[^"\\\r\n]*)*` +
  String.raw`|(?<=\\')(?=\\*[^'\\\r\n])[^'\\\r\n]*(?:\\+[^'\\\r\n]+)*`;
/**
 * A YAML block scalar (`password: >-` then the value on the lines below, indented): its first line and the lines
 * after it indented as much or more (named group `ind`: its indentation, at most 64); a line indented less is the
 * next key. A first line not indented at all is taken alone. Lines end in LF or CRLF alike (a file written on
 * Windows: before, its block's first word alone was masked).
 */
const BLOCK_OPEN = String.raw`[|>][-+]?[0-9]?[ \t]*\r?\n[ \t]*`;
const BLOCK_VALUE =
  String.raw`(?<=[|>][-+]?[0-9]?[ \t]{0,8}\r?\n(?<ind>[ \t]{1,64}))[^\r\n]+(?:\r?\n\k<ind>[^\r\n]*)*` +
  String.raw`|(?<=[|>][-+]?[0-9]?[ \t]{0,8}\r?\n)[^\r\n]+`;
/**
 * A header whose whole value is the secret, without a known scheme (`Cookie: sid=abc; theme=dark`, `Set-Cookie:
 * ...`, `Authorization: SSWS abc`): to the line's end or a quote.
 */
const HEADER_VALUE = String.raw`(?<=(?:authorization|cookie)[ \t]{0,8}:[ \t]{0,8})[^\r\n"'\\]+`;
/**
 * The parameters of `Authorization: Digest username="bob", ..., response="6629fae4..."`, all of them (its
 * `response` is a hash of the password, which a dictionary attack recovers): `key=value`, the value quoted,
 * quoted with `\"` inside a JSON string, or bare, to the last parameter.
 */
const DIGEST_PARAM = String.raw`[\w-]+=(?:"[^"\r\n]*"|\\"[^"\\\r\n]*\\"|[^\s,"'\\]*)`;
const DIGEST_VALUE = String.raw`(?<=digest\s{1,8})${DIGEST_PARAM}(?:[ \t]*,[ \t]*${DIGEST_PARAM})*`;
/** An unquoted value's word: to a space, quote, `&`, `,`, `;` or a bracket. */
const WORD_VALUE = String.raw`[^\s"'&,;{}[\]]+`;
/**
 * A password's unquoted value after `key: ` may have spaces (`password: correct horse battery`): its words to the
 * line's end, or to a quote, `&`, `,`, `;`, a bracket, or a word that looks like the next key (`user=bob`,
 * `host:`, `--user`). Only after the names of a password or a secret (`db_password`, `passphrase`, `DB_PASS`,
 * `client_secret`): a token, a key or a session id has no spaces, and the text after it is the log's own. (`[Pp]ass`:
 * the same under the flag `i`, and `dbPass: a b` in `CAMEL_PASS_PAIR`, which has none.)
 */
const PHRASE_VALUE = String.raw`(?<=(?:[Pp]ass(?:wd|word|phrase)?|pwd|psw|secret)["']?[ \t]{0,8}:[ \t]{1,8})${WORD_VALUE}(?:[ \t]+(?![A-Za-z_][\w.-]*[:=]|--?[A-Za-z])${WORD_VALUE})*`;
/**
 * A character that a password often holds and an option with its value glued (`-uroot`, `-P3306`, `-Dk=v`,
 * `-S/tmp/mysql.sock`) almost never: of the 35,807 words that begin with one `-` in this machine's man pages (their
 * escapes left out), 671 held one of these, mostly a bracket closing a sentence, `-b#` or `-M90%`, and none in a
 * command line after a password's option.
 */
const PASSWORD_CHAR = String.raw`[!@#$%^*~?]`;
/**
 * A command line's option: `--password hunter2`, `-token abc`, `--db-password "a b"` (the `=` form is a pair). A word
 * that begins with `-` is the next option, not the value (`mysqldump --password --user bob` prompts for the
 * password; before, `--user` was masked as it and `bob` kept), unless quoted (`--password "-x y"`) or it begins with
 * one `-`, has three characters or more and holds a `PASSWORD_CHAR` (`--password -x9Fq!`: before, kept; `-h db`,
 * `-hdb`, `-?`, `--user` stay options). A password that begins with `-` and holds none (`--password -x9Fq`) is missed.
 */
const OPTION_SEPARATOR =
  String.raw`(?=[ \t])(?<=(?:^|[\s"'])--?[A-Za-z0-9_.-]{0,64})[ \t]+` +
  String.raw`(?:["']|(?![\s-])|(?=-(?![\s-])(?=[^\s"'&,;{}[\]]{2})[^\s"'&,;{}[\]!@#$%^*~?]*${PASSWORD_CHAR}))`;

/**
 * A secret after its key in text: `password=hunter2`, `token: abc`, `"api_key": "abc"`, `Authorization:
 * Bearer abc`, `--password hunter2`, `PGPASSWORD='a b'`. Groups: the word that ends the key (1), the
 * separator (2), an auth scheme, kept (3), the secret (4). A quoted value runs to its closing quote, spaces
 * and all (`"password": "correct horse battery"`), in JSON escaped inside a string too (`{\"password\":
 * \"hunter2\"}`); a YAML block scalar (`password: >-`) is the indented lines below; a `Cookie:`,
 * `Set-Cookie:` or `Authorization:` header without a known scheme runs to the line's end, a `Digest` one's
 * value is all its parameters (`username="bob", ..., response="..."`); a password's after `key: ` is its words
 * (`PHRASE_VALUE`). Any other value runs to a space, quote, `&`, `,`, `;` or a bracket (a map or list after the
 * key is left whole: its fields are judged by their own names). A sentence after `key: ` or an option is no value (see `PROSE`). It starts at the word
 * that ends the key (whatever comes before it stays as it is): starting at the key's first character cost four
 * times as much on lines with no secret. Every alternative reads each character once from where it starts
 * (a lookbehind looks back at most a few characters: `[ \t]{0,8}`, not `[ \t]*`, which read a
 * megabyte of spaces back again at each of its characters), so a hostile line costs linear time. A match is a
 * secret only if `isSecretPair` says so (what the regex cannot tell: case). Global: copy it (`new
 * RegExp(SECRET_PAIR)`) where `lastIndex` could be shared.
 */
const AFTER_KEY =
  String.raw`((?:\\*["'])?\s*[:=]\s*(?:\\*["']|${BLOCK_OPEN})?|${OPTION_SEPARATOR})(${SCHEME})?` +
  String.raw`((?!(?<=:[ \t]{1,8}|${AFTER_OPTION})${PROSE}(?:[ \t]+-{0,2}[A-Za-z]|${PROSE_END})|(?<=${PAM_TYPE})${PAM_CONTROL})(?:${QUOTED_VALUE}|${ESCAPED_VALUE}|${BLOCK_VALUE}|${HEADER_VALUE}|${DIGEST_VALUE}|${PHRASE_VALUE}|${WORD_VALUE}))`;
export const SECRET_PAIR = new RegExp(`(${SECRET_WORD})${AFTER_KEY}`, 'gi');

/**
 * `SECRET_PAIR` of a key whose last word is `Pass` at a camelCase boundary (`dbPass=hunter2`, `"smtpPass": "a b"`,
 * `--dbPass x`), its groups the same. Case counts, so it is a regex of its own; after it, in that case, a sentence
 * is told only by words in lower case (`dbPass: Too short` is masked: fails closed). Only a text holding `Pass` can
 * match (callers test that first: lines without it cost one search). Global: copy it where `lastIndex` could be shared.
 */
export const CAMEL_PASS_PAIR = new RegExp(`(${CAMEL_PASS})${AFTER_KEY}`, 'g');

/** A character of a key's name: a name that ends in `PWD` after one (`MYSQL_PWD`) is not the shell's. */
const NAME_CHAR = /[A-Za-z0-9_.-]/;
/**
 * `=` or `:`, after the quote that may close the key and before the one that may open the value (`PWD="/home/bob"`,
 * `"PWD": "/home/bob"`, `PWD: /home/bob`, escaped in JSON too); not a YAML block.
 */
const ASSIGNMENT = /^(?:\\*["'])?[ \t]*[:=][ \t]*(?:\\*["'])?$/;

/**
 * Whether a match of `SECRET_PAIR` (its groups 1, 2 and 4: `key`, the word that ends the key, at `at` in `text`;
 * `sep`; `secret`) holds a secret. Not the shell's working directory, `PWD=/home/bob` or `OLDPWD=/srv/app` (sudo
 * logs `TTY=pts/0 ; PWD=/home/bob ; USER=root`, environment dumps show them), nor the same in JSON or YAML, `"PWD":
 * "/home/bob"` (a process's environment logged as an object): the name in upper case and of its own, `=` or `:`, and
 * a path (see `isWorkingDirectoryField` for a field so named). `pwd=hunter2`, `db_pwd: x`, `"pwd":"/x"`, `MYSQL_PWD=/x`,
 * `PWD=hunter2` are still secrets. Nor keytool's and jarsigner's `-storepass:env STOREPASS`, `-keypass:file /run/kp`:
 * `:env` and `:file` say where the password is (a variable's name, a file), and what follows is no password either.
 */
export function isSecretPair(text: string, at: number, key: string, sep: string, secret: string): boolean {
  if (key === 'PWD' && secret.startsWith('/') && ASSIGNMENT.test(sep)) {
    const name = at >= 3 && text.startsWith('OLD', at - 3) ? at - 3 : at;
    if (name === 0 || !NAME_CHAR.test(text[name - 1]!)) return false;
  }
  if (sep === ':' && (secret === 'env' || secret === 'file') && PASSWORD_SOURCE_END.test(text.charAt(at + key.length + 1 + secret.length))) {
    if (JAVA_PASSWORD_OPTION.test(text.slice(Math.max(0, at - 12), at + key.length))) return false;
  }
  return true;
}

/** keytool's and jarsigner's password options, to the end of the text (`-storepass`, `-srckeypass`). */
const JAVA_PASSWORD_OPTION = /(?:^|[\s"'])-(?:src|dest)?(?:store|key)pass$/;
/** What follows `:env` or `:file` there: a space, then the variable's name or the file. */
const PASSWORD_SOURCE_END = /^[ \t]$/;

/**
 * A field that holds the shell's working directory, not a password: its own name (a nested one's last, `PWD` of
 * `env.PWD`) `PWD` or `OLDPWD`, in upper case as the shell's variables, its value a path. As `isSecretPair` in text.
 */
export function isWorkingDirectoryField(name: string, value: unknown): boolean {
  return typeof value === 'string' && value.startsWith('/') && (name === 'PWD' || name === 'OLDPWD');
}

/** A user option and its value, before `-p`: `-u root`, `-uroot`, `--user=bob`, `--username bob`. */
const USER_OPTION = String.raw`(?:^|[\s"'])(?:-u|-{1,2}user(?:name)?)(?:[ \t]{1,8}|=)?[^\s"'=-][^\s"']{0,63}`;
/** A port or a port mapping (`5432`, `8080:80`, `127.0.0.1:80:80/tcp`): `-p`'s value in most tools. */
const PORT = String.raw`[0-9.:]+(?:\/[A-Za-z]+)?(?![^\s"'&,;{}[\]])`;
/**
 * `-p` where it is a password's option (for most tools it is a port or a path): right after a user option (`mysql
 * -u root -p hunter2`, `-uroot -phunter2`, `docker login -u bob -p s3cret`), glued right after a MySQL or MariaDB
 * client's name (`mysqldump -phunter2`), or glued right before a user option (`-phunter2 -u root`). Never a value
 * that begins with `-` (`mysql -u root -p -h db` prompts), nor a port (`docker run -u 1000 -p 8080:80`): a
 * password of digits alone is missed. Case counts, as in the options themselves (`-P 3306` is MySQL's port, `-U`
 * psql's user). Groups: `-p` (1), the spaces or quote after it (2), the secret (3). Its own regex, not a key of
 * `SECRET_PAIR`: only a text holding `-p` can match (callers test that first), and a `-` that could start a key
 * made that pattern a third slower on lines without one. Global: copy it where `lastIndex` could be shared.
 */
export const PASSWORD_OPTION = new RegExp(
  String.raw`(-p(?:(?<=${USER_OPTION}[ \t]{1,8}-p)(?=[ \t]{0,8}(?!${PORT})[^\s-])` +
    String.raw`|(?<=(?:^|[\s/"'])(?:mysql|mariadb)[a-z-]{0,12}[ \t]{1,8}-p)(?=(?!${PORT})[^\s-])` +
    String.raw`|(?<=(?:^|[\s"'])-p)(?=(?!${PORT})[^\s"'-][^\s"']{0,63}[ \t]{1,8}(?:-u|-{1,2}user))))` +
    String.raw`([ \t]{0,8}["']?)(${QUOTED_VALUE}|${WORD_VALUE})`,
  'g',
);

/**
 * Options that are a password's in some commands only: `-P` of SQL Server's `sqlcmd`, `bcp` and `osql`, Sybase's
 * `isql` and `ipmitool` (`sqlcmd -S db -U sa -P hunter2`, `bcp ... -Phunter2`; MySQL's `-P` is its port, grep's a
 * flag, scp's a port), and keytool's `-new` (the new password of `-storepasswd` and `-keypasswd`; openssl's `-new`
 * is a flag). `-P` spaced or glued, `-new` spaced (`-new:env VAR` names a variable: nothing to mask). Never a value
 * that begins with `-`. A match is a password only if `isCommandPasswordOption` finds its command. Groups: the
 * option (1), the spaces or quote after it (2), the secret (3). Only a text holding `-P` or `-new` can match (callers
 * test that first). Global: copy it where `lastIndex` could be shared.
 */
export const COMMAND_PASSWORD_OPTION = new RegExp(
  String.raw`((?<![^\s"'])(?:-P|-new(?=[ \t])))([ \t]{0,8}["']?)(?=[^\s"'-])(${QUOTED_VALUE}|${WORD_VALUE})`,
  'g',
);

/**
 * Whether `text` may hold a match of `COMMAND_PASSWORD_OPTION`: a `-` before a `P` or an `n`. One pass over the
 * `-`s: searching for `-P` and then `-new` read every line without either twice, about 20% more for maskSecrets
 * over nginx lines.
 */
export function mayHoldCommandPasswordOption(text: string): boolean {
  for (let i = text.indexOf('-'); i !== -1; i = text.indexOf('-', i + 1)) {
    const c = text.charCodeAt(i + 1);
    if (c === 80 || c === 110) return true;
  }
  return false;
}

/** The commands of `COMMAND_PASSWORD_OPTION`'s options, as a word (a path before it, `.exe` after it, any case). */
const SQL_PASSWORD_COMMAND = /(?:^|[\s"'/\\(])(?:sqlcmd|bcp|osql|isql|ipmitool)(?:\.exe)?(?=[ \t])/i;
const KEYTOOL_COMMAND = /(?:^|[\s"'/\\(])keytool(?:\.exe)?(?=[ \t])/i;

/**
 * Whether a match of `COMMAND_PASSWORD_OPTION` (its option `option`, at `at` in `text`) is a password's: its command
 * (`sqlcmd`, ... for `-P`, `keytool` for `-new`) is in the same command line before it, in the `COMMAND_REACH`
 * characters before the option and after the last `;`, `|`, `&` or line end (`sqlcmd -E; grep -P x` keeps `x`).
 */
export function isCommandPasswordOption(text: string, at: number, option: string): boolean {
  const reach = Math.max(0, at - COMMAND_REACH);
  let start = reach === 0 ? 0 : reach - 1; // one character more, to tell a command's name from a longer word's end
  for (let i = at - 1; i >= reach; i--) {
    const c = text.charCodeAt(i);
    if (c === 59 || c === 124 || c === 38 || c === 10 || c === 13) {
      start = i + 1;
      break;
    }
  }
  return (option === '-P' ? SQL_PASSWORD_COMMAND : KEYTOOL_COMMAND).test(text.slice(start, at));
}

/** A user option's user, to its colon, after an optional quote (escaped too, in JSON): `bob:`, `"bob:`, `\\"bob:`. */
const OPTION_USER = String.raw`[^\s"':\\]{0,64}:`;
/**
 * A password after the user's colon in a user option: curl's `-u bob:hunter2`, `-ubob:hunter2`, `--user bob:hunter2`,
 * `-U bob:hunter2`, `--proxy-user bob:hunter2`, `-u "bob:a b"`. The user is kept, as in a URL. Quoted, the value
 * runs to the closing quote; else to a space or a quote. Not a value of digits alone: a group id (`docker run -u
 * 1000:1000`; a password of digits alone is missed). Not a URL's `//` (`pip install -U git+https://...`: a password
 * in a URL is `URL_CREDENTIALS`'). Not a container tool's or sudo's own `-u user:group` (`docker exec -u app:app`):
 * a match is a secret only if `isUserPasswordOption` says so. `-U` is psql's user too, whose value has no colon.
 * Groups: the option, its user and the colon (1), the secret (2). Only a text holding `-u` or `-U` can match
 * (callers test that first). Global: copy it where `lastIndex` could be shared.
 */
export const USER_PASSWORD_OPTION = new RegExp(
  String.raw`((?<![^\s"'])(?:-[uU]|--(?:proxy-)?user)(?:(?:[ \t]{1,8}|=)(?:\\?["'])?)?(?!-)${OPTION_USER})(?![0-9]+(?![^\s"'\\])|\/\/)` +
    String.raw`((?<=\\["']${OPTION_USER})[^"'\\\r\n]+|(?<="${OPTION_USER})[^"\r\n]+|(?<='${OPTION_USER})[^'\r\n]+|[^\s"']+)`,
  'g',
);

/** Samba's user, to its `%`, after the option and an optional quote: no `:` (a URL), not beginning with `-`, `+`, `%`. */
const SAMBA_USER = String.raw`(?![-+%])[^\s"'%:]{1,64}%`;
/**
 * A password after the user's `%` in Samba's user option: `smbclient //srv/share -U bob%hunter2`, `rpcclient -U
 * "CORP\bob%a b" srv`, `net rpc ... -Ubob%pw`, `samba-tool ... --user=bob%pw`, `--username bob%pw` (smbclient,
 * rpcclient, net, smbcacls, smbget, samba-tool, winexe). The user is kept, as in a URL. Quoted, the value runs to the
 * closing quote; else to a space or a quote. Only `-U` (glued or spaced), `--user` and `--username` (spaced or `=`):
 * lower-case `-u`'s `%` is no such thing (`date -u +%Y-%m-%d`), nor a user with a `:` (`pip install -U
 * https://h/a%20b`: a URL). Groups: the option, its user and the `%` (1), the secret (2). Only a text holding `-U` or
 * `-u` and `%` can match (callers test that first). Global: copy it where `lastIndex` could be shared.
 */
export const SAMBA_USER_PASSWORD_OPTION = new RegExp(
  String.raw`((?<![^\s"'])(?:-U(?:[ \t]{1,8})?|--user(?:name)?(?:[ \t]{1,8}|=))(?:\\?["'])?${SAMBA_USER})` +
    String.raw`((?<=\\["']${SAMBA_USER})[^"'\\\r\n]+|(?<="${SAMBA_USER})[^"\r\n]+|(?<='${SAMBA_USER})[^'\r\n]+|[^\s"']+)`,
  'g',
);

/**
 * Commands whose `-u`/`--user` is a user and group (`docker exec -u app:app`), never a password, and the words
 * that may stand between one and the option: its subcommands, options (`-it`, `--rm`), and an option's value
 * that holds `=`, `:` or `.` or is a number (`-e A=b`, `-v /data:/data`, `-f compose.yml`, `--cpus 2`). Any other
 * word (`docker exec web curl -u bob:pw`: a container's name, then its command; `sudo -E curl -u bob:pw`) ends
 * the command's own options.
 */
const USER_GROUP_COMMAND = /[\s"'/;|&(](?:docker|docker-compose|podman|podman-compose|nerdctl|sudo|runuser)(?=[ \t])/g;
const USER_GROUP_SUBCOMMAND = /^(?:container|compose|run|exec|create)$/;
const OPTION_VALUE = /[=:.]|^[0-9]+$/;
/** How far back from a user option its command is looked for: a command line's own options fit. */
const COMMAND_REACH = 256;

/**
 * Whether a match of `USER_PASSWORD_OPTION` at `at` in `text` holds a password: curl's `-u bob:hunter2` and any
 * tool's but a container tool's or sudo's own (`docker run -u app:app`, `podman exec --user app:app`, `sudo -u
 * app:app`; after `docker`, `podman`, `nerdctl`, their compose tools, `sudo` or `runuser`, in the same command,
 * see `USER_GROUP_COMMAND`). A command not known, or read with a word it cannot place (`docker run -w /app -u
 * app:app`: `/app` may be the image), still has its group masked: it fails closed.
 */
export function isUserPasswordOption(text: string, at: number): boolean {
  // One character before the reach, to tell a command's name from the end of a longer word.
  const window = at > COMMAND_REACH ? text.slice(at - COMMAND_REACH - 1, at) : ` ${text.slice(0, at)}`;
  let after = -1;
  USER_GROUP_COMMAND.lastIndex = 0;
  for (let m = USER_GROUP_COMMAND.exec(window); m !== null; m = USER_GROUP_COMMAND.exec(window)) after = m.index + m[0].length;
  if (after === -1) return true;
  let option = false;
  for (const word of window.slice(after).split(/[ \t]+/)) {
    if (word === '') continue;
    if (word.startsWith('-')) option = !word.includes('=');
    else if (USER_GROUP_SUBCOMMAND.test(word) || (option && OPTION_VALUE.test(word))) option = false;
    else return true;
  }
  return false;
}

/** The alphabet of crypt(3)'s salts and hashes, and what may not follow a hash of fixed length. */
const CRYPT64 = String.raw`[./A-Za-z0-9]`;
const CRYPT_END = String.raw`(?![./A-Za-z0-9])`;
/**
 * A password's hash with no key before it, known by its form: crypt(3)'s bcrypt (`$2b$12$` and 53 characters),
 * md5crypt and Apache's apr1 (`$1$`, `$apr1$`), sha256-crypt and sha512-crypt (`$5$`, `$6$`, `rounds=` too),
 * yescrypt (`$y$`, `$gy$`: Debian's and Fedora's `/etc/shadow` now), and Argon2 in the PHC form (`$argon2id$v=19$
 * m=65536,t=3,p=4$salt$hash`). A line of `/etc/shadow` or `.htpasswd`, or an ORM's log of a row, puts one there
 * without a `password` before it; whoever has it can try a dictionary against it offline. The forms are
 * unambiguous: an id between `$`s and a salt and hash of crypt's alphabet of a fixed length (Argon2's: its
 * parameters), so `$6 each`, `$1$2` of a shell, `$2b$12$short` are not taken. Groups: the scheme and its parameters,
 * kept (1), the salt and hash (2). Only a text holding `$` can match (callers test that first). Global: copy it
 * where `lastIndex` could be shared.
 */
export const PASSWORD_HASH = new RegExp(
  String.raw`(?<![\w$])(\$2[abxy]\$[0-9]{2}\$(?=${CRYPT64}{53}${CRYPT_END})` +
    String.raw`|\$(?:1|apr1)\$(?=${CRYPT64}{0,8}\$${CRYPT64}{22}${CRYPT_END})` +
    String.raw`|\$5\$(?:rounds=[0-9]{1,9}\$)?(?=${CRYPT64}{0,16}\$${CRYPT64}{43}${CRYPT_END})` +
    String.raw`|\$6\$(?:rounds=[0-9]{1,9}\$)?(?=${CRYPT64}{0,16}\$${CRYPT64}{86}${CRYPT_END})` +
    String.raw`|\$g?y\$${CRYPT64}{1,32}\$(?=${CRYPT64}{1,86}\$${CRYPT64}{43}${CRYPT_END})` +
    String.raw`|\$argon2(?:id|i|d)\$(?:v=[0-9]{1,3}\$)?m=[0-9]{1,10},t=[0-9]{1,10},p=[0-9]{1,3}\$(?=[A-Za-z0-9+/]{8,}\$[A-Za-z0-9+/]{16,}))` +
    String.raw`([./A-Za-z0-9+]*(?:\$[./A-Za-z0-9+]+)?)`,
  'g',
);

/** An auth scheme's credentials without a key before it: `... Bearer eyJhbGciOi...`. Groups: the scheme (1), the secret (2). */
export const SCHEME_CREDENTIALS = /(?<![A-Za-z])((?:bearer|basic)\s+)([A-Za-z0-9._~+/=-]{8,})/gi;

/**
 * A password in a URL: `postgres://app:s3cr3t@db/orders`, `https://user:pw@host/`, `redis://:pw@cache` (no user).
 * Groups: the scheme, `//` and user with its colon (1), the secret (2), the `@` (3). Only a text holding `://` can match (callers test that
 * first: it is cheaper than the regex). Global: copy it where `lastIndex` could be shared.
 */
export const URL_CREDENTIALS = /(?<![A-Za-z0-9+.-])([A-Za-z][A-Za-z0-9+.-]*:\/\/[^/\s:@]*:)([^/\s@]+)(@)/g;

/** A secret known by its form alone, with no key before it (`TOKEN_SHAPES`). */
export interface TokenShape {
  /** What it is, for people. */
  name: string;
  /** The whole match is the secret. Global: copy it where `lastIndex` could be shared. */
  regex: RegExp;
  /** Text every match holds (one of them): a text without any is not searched, which is far cheaper than the regex. */
  needs: readonly string[];
}

/**
 * Tokens recognisable by their form, with no key before them: JSON Web Tokens (`eyJ...` three base64url parts: a
 * header and a payload that are JSON objects), AWS access key ids (`AKIA`, `ASIA`, ... and 16 upper-case letters and
 * digits), GitHub tokens (`ghp_` and 36 or more letters and digits, `github_pat_`), Slack tokens (`xoxb-...`; not
 * `xoxo`), Stripe live keys (`sk_live_`), Google API keys (`AIza` and 35), Slack webhook URLs and PEM private keys.
 * Their prefixes and lengths make a false match unlikely in log text. The `redact` transform's `credentials`
 * replace them, and the detector masks them (`maskSecrets`). Each starts only where its text can start (a
 * lookbehind for a character of its own kind), and a PEM block's body runs to the next `-----` only (redact's lazy
 * `[\s\S]*?` read the rest of the line again from each `BEGIN`: 30,000 of them without an `END`, 800 KB, took
 * 24 s): linear in the line.
 */
export const TOKEN_SHAPES: readonly TokenShape[] = [
  { name: 'JSON Web Token', needs: ['eyJ'], regex: /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g },
  { name: 'AWS access key id', needs: ['AKIA', 'ASIA', 'AGPA', 'AIDA', 'AROA'], regex: /(?<![A-Za-z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}(?![A-Za-z0-9])/g },
  { name: 'GitHub token', needs: ['ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_', 'github_pat_'], regex: /(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})/g },
  { name: 'Slack token', needs: ['xox'], regex: /(?<![A-Za-z0-9_])xox[abprs]-[A-Za-z0-9-]{10,}/g },
  { name: 'Stripe live key', needs: ['k_live_'], regex: /(?<![A-Za-z0-9_])[sr]k_live_[A-Za-z0-9]{16,}/g },
  { name: 'Google API key', needs: ['AIza'], regex: /(?<![A-Za-z0-9_])AIza[A-Za-z0-9_-]{35}/g },
  { name: 'Slack webhook URL', needs: ['hooks.slack.com/'], regex: /https:\/\/hooks\.slack\.com\/services\/[A-Za-z0-9/]+/g },
  { name: 'PEM private key', needs: ['-----BEGIN '], regex: /-----BEGIN [A-Z ]*PRIVATE KEY-----(?:[^-]|-(?!----))*-----END [A-Z ]*PRIVATE KEY-----/g },
];

/**
 * Whether a text may hold one of `TOKEN_SHAPES`: it holds one of their `needs`. One search for all of them; the
 * detector masks every text of every event, and 18 `includes` cost about three times more than this.
 */
export const MAY_HOLD_TOKEN = new RegExp(TOKEN_SHAPES.flatMap((shape) => shape.needs.map((need) => need.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&'))).join('|'));

/** Whether `text` holds one of `needs`: a plain loop (a `some()` with a closure for each text cost redact a third more CPU). */
export function holdsOne(text: string, needs: readonly string[]): boolean {
  for (let i = 0; i < needs.length; i++) if (text.includes(needs[i]!)) return true;
  return false;
}
