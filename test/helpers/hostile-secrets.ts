/**
 * Hostile lines (about 1 MB each) for the patterns of a secret after its key (`SECRET_PAIR`), in each of its
 * forms: quoted, JSON escaped in a string, YAML blocks, command-line options (`-u root -p x` too), headers (`Digest` ones too), prose after `key: `, a password's words after `key: `; and
 * for a password in a URL (`URL_CREDENTIALS`). A
 * pattern that backtracks, or a lookbehind that reads a long run back again at each of its characters, takes
 * minutes on one of them; the linear ones take milliseconds. Used by the `redact` and the detector's tests.
 */
export const HOSTILE_SECRET_LINES: readonly string[] = [
  '"password": "' + 'a '.repeat(5e5),
  '\\"password\\":\\"' + '\\a'.repeat(5e5),
  '\\"password\\":\\"'.repeat(7e4),
  '\\"password\\":\\"' + '\\\\\\"'.repeat(2.5e5),
  '\\"password\\":\\"a' + '\\'.repeat(1e6) + '"',
  '\\\\\\"password\\\\\\":\\\\\\"' + '\\\\\\\\\\"'.repeat(1.6e5),
  "password='".repeat(1e5),
  'password: |\n' + ' a\n'.repeat(3e5),
  'password: |\n'.repeat(8e4),
  'password: |\n' + '    a\n'.repeat(1.6e5) + '  b: 1',
  'password: |\n' + ' '.repeat(1e6) + 'a',
  'password: |\n  a\n '.repeat(6e4),
  'password: |\r\n' + ' a\r\n'.repeat(2.5e5),
  'password: |\r\n  a\r\n '.repeat(6e4),
  '--password' + ' '.repeat(1e6),
  '--password '.repeat(1e5),
  '--password' + ' -'.repeat(5e5),
  '-' + 'password-'.repeat(1e5) + ' x',
  '-u a -p '.repeat(1.2e5),
  '-u ' + 'a'.repeat(1e6) + ' -p x',
  ' -p' + 'a'.repeat(1e6) + ' -u',
  ' -p ' + '1:'.repeat(5e5),
  'mysql -p'.repeat(1.2e5),
  'Cookie: ' + 'a=b; '.repeat(2e5),
  'cookie:'.repeat(1.4e5),
  'password: ' + 'too '.repeat(2.5e5),
  'password:' + ' '.repeat(1e6) + 'x',
  'password: ' + 'a '.repeat(5e5),
  'password: a' + ' '.repeat(1e6) + ',',
  'password: a ' + 'b'.repeat(1e6) + '=',
  'password: x '.repeat(9e4),
  'authorization' + ' '.repeat(1e6) + ':',
  '-' + 'pass-'.repeat(2e5) + ' x',
  'xpass='.repeat(1.6e5),
  'Authorization: Digest ' + 'a="b", '.repeat(1.4e5),
  'Authorization: Digest a="' + 'b'.repeat(1e6),
  'Authorization: Digest ' + 'a=,'.repeat(3e5),
  'authorization: digest a='.repeat(4e4),
  'https://u:' + 'a'.repeat(1e6),
  'a://b:'.repeat(1.6e5),
];
