import { describe, expect, it } from 'vitest';
import { createRegistry } from '../../src/components.js';
import { ConfigError, type ConfigIssue } from '../../src/config/errors.js';
import { parseConfig, redactOptions, secretValuesOf } from '../../src/config/load.js';
import { FETCH_BAD_PORTS, secret, z } from '../../src/config/schema.js';
import { defineOutput, defineTransform } from '../../src/engine/component.js';

/** Parses a config that must fail, and returns its issues. */
async function issuesOf(yaml: string, env: NodeJS.ProcessEnv = {}): Promise<ConfigIssue[]> {
  try {
    await parseConfig(yaml, 'pipeline.yaml', createRegistry(), { env });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues;
  }
  throw new Error('config was accepted but should have been rejected');
}

const VALID = `inputs:
  app:
    type: stdin
transforms:
  parse_app:
    type: parse
    inputs: [app]
    format: json
outputs:
  out:
    type: console
    inputs: [parse_app]
`;

describe('config errors name file, line, column, component, key, expected and found', () => {
  it('accepts the valid base config', async () => {
    const cfg = await parseConfig(VALID, 'pipeline.yaml', createRegistry(), { env: {} });
    expect(cfg.components.map((c) => `${c.kind}:${c.id}`)).toEqual(['input:app', 'transform:parse_app', 'output:out']);
  });

  it('1. unknown key, with the nearest valid key', async () => {
    const issues = await issuesOf(VALID.replace('    format: json', '    formt: json'));
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ line: 8, column: 5, component: 'parse_app', path: 'formt' });
    expect(issues[0]!.message).toContain('unknown key "formt" (did you mean "format"?)');
  });

  it('2. enum value misspelt, with the allowed values and a suggestion', async () => {
    const issues = await issuesOf(VALID.replace('format: json', 'format: jsn'));
    expect(issues[0]).toMatchObject({ line: 8, column: 13, component: 'parse_app', path: 'format' });
    expect(issues[0]!.message).toMatch(/expected one of json, nginx, logfmt, syslog; found "jsn" \(did you mean "json"\?\)/);
  });

  it('3. unknown component type, with the nearest known type', async () => {
    const issues = await issuesOf(VALID.replace('type: console', 'type: consol'));
    expect(issues[0]).toMatchObject({ line: 11, column: 11, component: 'out', path: 'type' });
    expect(issues[0]!.message).toContain('unknown output type "consol" (did you mean "console"?)');
  });

  it('4. a component of the wrong kind', async () => {
    const issues = await issuesOf(VALID.replace('type: parse', 'type: stdin'));
    expect(issues[0]).toMatchObject({ line: 6, component: 'parse_app', path: 'type' });
    expect(issues[0]!.message).toBe('"stdin" is an input, not a transform: move it under inputs');
  });

  it('5. reference to an unknown id, with a suggestion', async () => {
    const issues = await issuesOf(VALID.replace('inputs: [parse_app]', 'inputs: [parse_ap]'));
    expect(issues[0]).toMatchObject({ line: 12, column: 14, component: 'out', path: 'inputs.0' });
    expect(issues[0]!.message).toContain('unknown input "parse_ap" (did you mean "parse_app"?)');
  });

  it('5b. an id listed twice in inputs (every event of it was delivered twice)', async () => {
    const issues = await issuesOf(VALID.replace('inputs: [parse_app]', 'inputs: [parse_app, parse_app]'));
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ line: 12, component: 'out', path: 'inputs.1' });
    expect(issues[0]!.message).toBe('"parse_app" is listed twice in inputs: each of its events would arrive twice');
  });

  it('6. a cycle between transforms', async () => {
    const yaml = `inputs:
  app: { type: stdin }
transforms:
  a: { type: parse, format: json, inputs: [app, b] }
  b: { type: parse, format: json, inputs: [a] }
outputs:
  out: { type: console, inputs: [b] }
`;
    const issues = await issuesOf(yaml);
    expect(issues).toHaveLength(1);
    expect(issues[0]!.message).toMatch(/^cycle: (a -> b -> a|b -> a -> b)/);
    expect(issues[0]!.line).toBeGreaterThanOrEqual(4);
  });

  it('7. an output with no inputs', async () => {
    const issues = await issuesOf(VALID.replace('    inputs: [parse_app]\n', ''));
    expect(issues.find((i) => i.component === 'out')).toMatchObject({ line: 11, path: 'inputs' });
    expect(issues.find((i) => i.component === 'out')!.message).toBe('missing required key (expected a list)');
  });

  it('8. a component that feeds nothing', async () => {
    const issues = await issuesOf(VALID.replace('inputs:\n  app:\n    type: stdin\n', 'inputs:\n  app:\n    type: stdin\n  spare:\n    type: demo\n'));
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ line: 4, column: 3, component: 'spare' });
    expect(issues[0]!.message).toContain('input "spare" feeds nothing');
  });

  it('9. the same id under two sections', async () => {
    const issues = await issuesOf(VALID.replace('  out:\n', '  app:\n').replace('parse_app]\n', 'parse_app]\n'));
    const dup = issues.find((i) => i.message.startsWith('duplicate component id'));
    expect(dup).toMatchObject({ line: 10, column: 3, component: 'app' });
    expect(dup!.message).toBe('duplicate component id: "app" is also defined under inputs');
  });

  it('10. a duplicate key in one map', async () => {
    const issues = await issuesOf(VALID.replace('outputs:\n', 'outputs:\n  out:\n    type: console\n    inputs: [parse_app]\n'));
    expect(issues[0]!.message).toMatch(/^duplicate key/);
    expect(issues[0]!.line).toBe(13);
  });

  it('10b. a duplicate key does not hide the other problems: all are reported at once', async () => {
    const yaml = VALID.replace('    format: json', '    format: json\n    format: json').replace('    type: console', '    type: consol');
    const issues = await issuesOf(yaml);
    expect(issues.map((i) => i.message)).toEqual([expect.stringMatching(/^duplicate key/), expect.stringMatching(/^unknown output type "consol" \(did you mean "console"\?\)/)]);
  });

  it('11. a wrong value type: a string where a number is expected', async () => {
    const yaml = VALID.replace('    inputs: [parse_app]\n', '    inputs: [parse_app]\n    buffer:\n      max_events: lots\n');
    const issues = await issuesOf(yaml);
    expect(issues[0]).toMatchObject({ line: 14, column: 19, component: 'out', path: 'buffer.max_events' });
    expect(issues[0]!.message).toBe('expected a number; found "lots"');
  });

  it('12. a number out of range', async () => {
    const issues = await issuesOf(VALID.replace('    inputs: [parse_app]\n', '    inputs: [parse_app]\n    buffer: { max_events: 0 }\n'));
    expect(issues[0]).toMatchObject({ line: 13, component: 'out', path: 'buffer.max_events' });
    expect(issues[0]!.message).toBe('expected a number >= 1; found number 0');
  });

  it('13. a bad duration', async () => {
    const issues = await issuesOf(`shutdown_timeout: soon\n${VALID}`);
    expect(issues[0]).toMatchObject({ line: 1, column: 19, path: 'shutdown_timeout' });
    expect(issues[0]!.message).toContain('a duration such as 500ms, 30s, 5m or 1h');
  });

  it('14. a missing environment variable without a default names the variable', async () => {
    const issues = await issuesOf(`data_dir: \${STATE_DIR}/x\n${VALID}`);
    expect(issues[0]).toMatchObject({ line: 1, column: 11 });
    expect(issues[0]!.message).toBe('environment variable STATE_DIR is not set (write ${STATE_DIR:-default} to give a default)');
  });

  it('15. YAML syntax errors carry their position', async () => {
    const issues = await issuesOf('inputs:\n  app:\n    type: stdin\n   bad indent: [\n');
    expect(issues[0]!.message).toMatch(/^YAML syntax error/);
    expect(issues[0]!.line).toBeGreaterThanOrEqual(3);
  });

  it('15b. aliases that expand to too much (a "billion laughs" file) are a config error at the first alias, not a crash', async () => {
    // Nine levels of nine aliases each: 9^9 strings if expanded. Before, the yaml library's refusal came out of
    // the loader as an internal error, a stack trace and exit 70.
    let bomb = 'l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n';
    for (let i = 1; i < 10; i++) bomb += `l${i}: &l${i} [${Array(9).fill(`*l${i - 1}`).join(', ')}]\n`;
    const issues = await issuesOf(`${bomb}${VALID}`);
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ line: 2, column: 10 });
    expect(issues[0]!.message).toMatch(/^cannot expand the YAML aliases \(\*name\): Excessive alias count/);
    // Aliases in reason still work: one buffer's settings used again by another component.
    const shared = VALID.replace('    format: json', '    format: json\n    buffer: &b { max_events: 50 }').replace('    inputs: [parse_app]', '    inputs: [parse_app]\n    buffer: *b');
    const config = await parseConfig(shared, 'pipeline.yaml', createRegistry(), { env: {} });
    expect(config.components.find((c) => c.id === 'out')!.buffer.max_events).toBe(50);
  });

  it('16. an unknown top-level key', async () => {
    const issues = await issuesOf(`log_levle: debug\n${VALID}`);
    expect(issues[0]).toMatchObject({ line: 1, column: 1, path: 'log_levle' });
    expect(issues[0]!.message).toContain('(did you mean "log_level"?)');
  });

  it('17. no outputs at all', async () => {
    const issues = await issuesOf('inputs:\n  app: { type: stdin }\noutputs: {}\n');
    expect(issues.some((i) => i.message === 'at least one output is required' && i.line === 3)).toBe(true);
  });

  it('18. an output used as an input', async () => {
    const yaml = VALID + '  second:\n    type: console\n    inputs: [out]\n';
    const issues = await issuesOf(yaml);
    expect(issues[0]).toMatchObject({ line: 15, component: 'second', path: 'inputs.0' });
    expect(issues[0]!.message).toContain('"out" is an output');
  });

  it('21. one item where a list goes (inputs: app, include: a path) is told how to write it as a list', async () => {
    const issues = await issuesOf('inputs:\n  f: { type: file, include: /var/log/nginx/access.log }\noutputs:\n  o: { type: console, inputs: f }\n');
    expect(issues.map((i) => [i.line, i.component, i.path, i.message])).toEqual([
      [2, 'f', 'include', 'expected a list; found "/var/log/nginx/access.log" (one item is a list too: write ["/var/log/nginx/access.log"])'],
      [4, 'o', 'inputs', 'expected a list; found "f" (one item is a list too: write ["f"])'],
    ]);
  });

  it('20. a port alone where host:port goes (a number to YAML) is told the form to write, not "expected a string"', async () => {
    const issues = await issuesOf('api: { enabled: true, address: 8686 }\ninputs:\n  sys: { type: syslog, address: 5514 }\noutputs:\n  out: { type: console, inputs: [sys] }\n');
    expect(issues.map((i) => [i.line, i.path, i.message])).toEqual([
      [1, 'api.address', 'expected host:port, such as 127.0.0.1:8686, 0.0.0.0:8686 or [::1]:8686 (port 0: any free port); found number 8686'],
      [3, 'address', 'expected host:port, such as 127.0.0.1:5514, 0.0.0.0:5514 or [::1]:5514 (port 0: any free port); found number 5514'],
    ]);
    // The forms that were right still are, and read the same.
    const cfg = await parseConfig('api: { enabled: true, address: ":8687" }\ninputs:\n  sys: { type: syslog, address: "0.0.0.0:5514" }\noutputs:\n  out: { type: console, inputs: [sys] }\n', 'pipeline.yaml', createRegistry(), { env: {} });
    expect(cfg.api.address).toBe(':8687');
    expect(cfg.components[0]!.options).toMatchObject({ address: { host: '0.0.0.0', port: 5514 } });
  });

  it('19. a key of a component indented one level too little: said where it is, with which component it belongs to', async () => {
    // `format: json` level with `parse_app:`; `buffer:` (a map) level with `out:`.
    const yaml = VALID.replace('    format: json', '  format: json') + '  buffer:\n    max_events: 100\n';
    const issues = await issuesOf(yaml);
    const at = (component: string) => issues.find((i) => i.component === component)!;
    expect(at('format')).toMatchObject({ line: 8, column: 11 });
    expect(at('format').message).toBe('expected a map with a "type" key; found "json" (if format is a key of "parse_app", indent it as far as that component\'s type:)');
    expect(at('buffer')).toMatchObject({ line: 14, path: 'type' });
    expect(at('buffer').message).toContain('missing required key "type" (one of: console, file, slack, webhook) (if buffer is a key of "out", indent it as far as that component\'s type:)');
    // Not a key of the component above (console takes no format): no such hint.
    const other = await issuesOf(VALID + '  format: json\n');
    expect(other.find((i) => i.component === 'format')!.message).toBe('expected a map with a "type" key; found "json"');
  });

  it('reports every problem at once, and the formatted message names file:line:column', async () => {
    try {
      await parseConfig(VALID.replace('format: json', 'format: jsn').replace('type: console', 'type: consol'), 'pipeline.yaml', createRegistry(), { env: {} });
      expect.unreachable();
    } catch (err) {
      const text = (err as Error).message;
      expect(text).toContain('invalid configuration (2 problems)');
      expect(text).toContain('pipeline.yaml:8:13: component "parse_app", key format: expected one of');
      expect(text).toContain('pipeline.yaml:11:11: component "out", key type: unknown output type "consol"');
    }
  });

  it('a component that fails its own checks still has its references checked in the same run, and is not itself "unknown"', async () => {
    // Its own key is wrong and it names a missing input: both at once, not the second after the first is fixed.
    const out2 = VALID + '  out2: { type: file, inputs: [parse_ap], path: 123 }\n';
    expect((await issuesOf(out2)).map((i) => [i.line, i.column, i.component, i.path, i.message])).toEqual([
      [13, 49, 'out2', 'path', 'expected a string; found number 123'],
      [13, 32, 'out2', 'inputs.0', expect.stringContaining('unknown input "parse_ap" (did you mean "parse_app"?)')],
    ]);
    // Whatever failed (a key, the type, the buffer), a reference to a missing id or to an output is found.
    const failing = [
      '  out2: { type: consol, inputs: [parse_ap] }\n',
      '  out2: { inputs: [parse_ap] }\n',
      '  out2: { type: console, inputs: [parse_ap], buffer: { max_events: 0 } }\n',
      '  out2: { type: console, inputs: [out], encoding: yaml }\n',
    ];
    for (const yaml of failing) {
      const issues = await issuesOf(VALID + yaml);
      expect(issues.map((i) => i.component)).toEqual(['out2', 'out2']);
      expect(issues[1]).toMatchObject({ line: 13, path: 'inputs.0' });
      expect(issues[1]!.message).toMatch(/^unknown input "parse_ap"|^"out" is an output/);
    }
    // A transform that failed its own checks exists: what it feeds is not told it names an unknown input,
    // and the input it reads is not said to feed nothing (nor is anything else).
    const issues = await issuesOf(VALID.replace('format: json', 'format: jsn').replace('inputs:\n  app:\n    type: stdin\n', 'inputs:\n  app:\n    type: stdin\n  spare:\n    type: demo\n'));
    expect(issues.map((i) => [i.component, i.path])).toEqual([['parse_app', 'format']]);
  });

  it('an unknown top-level key does not hide the problems of the components', async () => {
    const issues = await issuesOf(`data_dirr: /tmp/x\n${VALID.replace('format: json', 'format: jsn')}`);
    expect(issues.map((i) => [i.line, i.path])).toEqual([[1, 'data_dirr'], [9, 'format']]);
    expect(issues[0]!.message).toContain('did you mean "data_dir"?');
  });

  it('an unset variable does not hide the other problems, and its value is not judged as well', async () => {
    const yaml = VALID.replace('format: json', 'format: jsn').replace('    type: console\n', '    type: console\n    buffer:\n      max_events: ${MAX}\n');
    const issues = await issuesOf(yaml);
    expect(issues.map((i) => i.message)).toEqual([
      'environment variable MAX is not set (write ${MAX:-default} to give a default)',
      expect.stringContaining('expected one of json, nginx, logfmt, syslog; found "jsn"'),
    ]);
  });

  it('a secret that is too short says how long it must be, and never shows it', async () => {
    const yaml = VALID.replace('    type: console\n    inputs: [parse_app]\n', '    type: webhook\n    inputs: [parse_app]\n    url: http://127.0.0.1:9009/x\n    signing_secret: hunter2\n');
    const issues = await issuesOf(yaml);
    expect(issues).toHaveLength(1);
    expect(issues[0]!.message).toBe('expected at least 16 characters; found a string (value hidden: secret)');
  });

  it('a "$" that begins no variable in a secret written in the config is pointed at, not quoted', async () => {
    const yaml = VALID.replace('    type: console\n    inputs: [parse_app]\n', '    type: webhook\n    inputs: [parse_app]\n    url: http://127.0.0.1:9009/x\n    signing_secret: "Xy7${q9Zs3cretR3st-of-it"\n');
    const issues = await issuesOf(yaml);
    expect(issues.map((i) => [i.line, i.column, i.message])).toEqual([
      [14, 21, 'invalid variable reference at character 4 of the value (expected ${NAME} or ${NAME:-default}; a literal "$" is written "$$")'],
    ]);
    expect(JSON.stringify(issues)).not.toContain('q9Zs3cret');
  });

  it('a value of a map marked secret as a whole (webhook headers) is not shown when it is of the wrong type', async () => {
    // Unquoted in YAML, an API key of digits is a number: "expected a string" must not quote it.
    const yaml = VALID.replace('    type: console\n    inputs: [parse_app]\n', '    type: webhook\n    inputs: [parse_app]\n    url: http://127.0.0.1:9009/x\n    headers:\n      X-Api-Key: 918273645501\n      X-Flags: [a1b2c3d4e5]\n');
    const issues = await issuesOf(yaml);
    expect(issues.map((i) => [i.path, i.message])).toEqual([
      ['headers.X-Api-Key', 'expected a string; found a number (value hidden: secret)'],
      ['headers.X-Flags', 'expected a string; found a list'],
    ]);
    expect(JSON.stringify(issues)).not.toMatch(/918273645501|a1b2c3d4e5/);
  });

  it('a webhook URL that can never be sent to (credentials in it, a port out of range) is a config error that does not show it', async () => {
    const withUrl = (url: string) => VALID.replace('    type: console\n    inputs: [parse_app]\n', `    type: webhook\n    inputs: [parse_app]\n    url: "${url}"\n`);
    const credentials = await issuesOf(withUrl('http://user:pa55word@127.0.0.1:8080/hook'));
    expect(credentials.map((i) => i.message)).toEqual([expect.stringMatching(/holds a user name or password \(user:pass@host\).*header/)]);
    const port = await issuesOf(withUrl('http://127.0.0.1:99999/x'));
    expect(port.map((i) => i.message)).toEqual([expect.stringContaining('a port from 1 to 65535')]);
    for (const issue of [...credentials, ...port]) expect(issue.message).not.toMatch(/pa55word|99999/);
    // A port fetch refuses to connect to, whatever listens there: refused here, not retried forever.
    const blocked = await issuesOf(withUrl('http://127.0.0.1:10080/hook'));
    expect(blocked.map((i) => i.message)).toEqual([expect.stringContaining('uses port 10080, which fetch refuses to connect to')]);
    await expect(parseConfig(withUrl('https://hooks.example.com:8443/services/T0/B0/x?token=abc'), 'pipeline.yaml', createRegistry(), { env: {} })).resolves.toBeDefined();
  });

  it('the API address is checked like an input\'s: host:port', async () => {
    for (const address of ['localhost', '127.0.0.1:99999']) {
      const issues = await issuesOf(`api: { enabled: true, address: "${address}" }\n${VALID}`);
      expect(issues.map((i) => [i.line, i.message])).toEqual([[1, expect.stringMatching(/^expected host:port/)]]);
    }
  });

  it('the ports refused at load are refused by this Node\'s fetch, and ports next to them and 100 others are not', async () => {
    // A refused port fails before any connection; another is tried on loopback (connection refused, or
    // an answer, or the 300 ms timeout of a local service that does not answer: none says "bad port").
    const refusedByFetch = async (port: number): Promise<boolean> => {
      try {
        await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(300) });
        return false;
      } catch (err) {
        return String((err as { cause?: { message?: string } }).cause?.message).includes('bad port');
      }
    };
    const listed = [...FETCH_BAD_PORTS];
    expect(await Promise.all(listed.map(refusedByFetch))).toEqual(listed.map(() => true));
    let seed = 7;
    const others = new Set<number>();
    for (const p of listed) for (const q of [p - 1, p + 1]) if (q > 0 && !FETCH_BAD_PORTS.has(q)) others.add(q);
    while (others.size < listed.length * 2 + 100) {
      seed = (seed * 16807) % 2147483647;
      const q = 1 + (seed % 65535);
      if (!FETCH_BAD_PORTS.has(q)) others.add(q);
    }
    const wrongly = (await Promise.all([...others].map(async (q) => ((await refusedByFetch(q)) ? q : undefined)))).filter((q) => q !== undefined);
    expect(wrongly).toEqual([]);
  });

  it('a ${VAR} unquoted inside { } gets a hint with the YAML syntax error', async () => {
    const issues = await issuesOf(VALID.replace('    type: console\n', '    type: console\n    buffer: { max_events: ${MAX} }\n'), { MAX: '5' });
    expect(issues[0]!.message).toMatch(/^YAML syntax error: .*write that map one key per line/);
  });
});

describe('on_error: a key of every transform, built-in or plugin, with the default its definition gives', () => {
  const withPlugin = () => {
    const registry = createRegistry();
    for (const onError of [undefined, 'drop'] as const) {
      registry.register(defineTransform({ type: `plugin_${onError ?? 'plain'}`, description: 'a plugin', config: z.object({}), ...(onError ? { onError } : {}), build: () => ({ map: (events) => events }) }));
    }
    return registry;
  };
  const yaml = (extra = '') => `inputs: { app: { type: stdin } }
transforms:
  scrub: { type: redact, inputs: [app]${extra} }
  parse_app: { type: parse, inputs: [app], format: json${extra} }
  plain: { type: plugin_plain, inputs: [app]${extra} }
  closed: { type: plugin_drop, inputs: [app]${extra} }
outputs:
  out: { type: console, inputs: [scrub, parse_app, plain, closed] }
`;

  it('defaults to drop for redact and a plugin whose definition says so, to pass for the others; the config overrides it', async () => {
    const onErrors = async (text: string) => Object.fromEntries((await parseConfig(text, 'pipeline.yaml', withPlugin(), { env: {} })).components.filter((c) => c.kind === 'transform').map((c) => [c.id, c.onError]));
    expect(await onErrors(yaml())).toEqual({ scrub: 'drop', parse_app: 'pass', plain: 'pass', closed: 'drop' });
    expect(await onErrors(yaml(', on_error: pass'))).toEqual({ scrub: 'pass', parse_app: 'pass', plain: 'pass', closed: 'pass' });
    expect(await onErrors(yaml(', on_error: drop'))).toEqual({ scrub: 'drop', parse_app: 'drop', plain: 'drop', closed: 'drop' });
  });

  it('a value other than pass or drop is refused where it is written, for a plugin transform too', async () => {
    let issues: ConfigIssue[] = [];
    try {
      await parseConfig(yaml(', on_error: skip'), 'pipeline.yaml', withPlugin(), { env: {} });
    } catch (err) {
      issues = (err as ConfigError).issues;
    }
    expect(issues.map((i) => [i.component, i.path, i.line])).toEqual([['scrub', 'on_error', 3], ['parse_app', 'on_error', 4], ['plain', 'on_error', 5], ['closed', 'on_error', 6]]);
    expect(issues[2]!.message).toBe('expected one of pass, drop; found "skip"');
  });

  it('a plugin definition whose onError is neither is refused when it registers', () => {
    expect(() => createRegistry().register(defineTransform({ type: 'odd', description: 'x', config: z.object({}), onError: 'skip' as 'drop', build: () => ({}) }))).toThrow('transform "odd" has onError "skip"; expected "pass" or "drop"');
  });
});

describe('listening ports', () => {
  const PORTS = `api: { enabled: true, address: "127.0.0.1:15601" }
inputs:
  a: { type: syslog, mode: tcp, address: "127.0.0.1:15600" }
  b: { type: syslog, mode: udp, address: "127.0.0.1:15600" }
  c: { type: fluent_forward, address: "0.0.0.0:15600" }
  d: { type: otlp_grpc, address: "127.0.0.1:15601" }
  e: { type: otlp_grpc, address: "127.0.0.1:0" }
  f: { type: syslog, mode: tcp, address: "127.0.0.1:0" }
  g: { type: otlp_grpc, address: "127.0.0.2:15600" }
outputs:
  out: { type: console, inputs: [a, b, c, d, e, f, g] }
`;

  it('two listeners on one port are a config error at the second, naming the first; UDP beside TCP, port 0 and other hosts are not', async () => {
    // Before: validate accepted this, and run exited 78 when the second could not listen.
    const issues = await issuesOf(PORTS);
    expect(issues).toEqual([
      // c asks for the port on every address, a has it on one of them.
      { line: 5, column: 39, component: 'c', path: 'address', message: 'TCP port 15600 is also component "a"\'s (inputs.a.address): two listeners cannot share a port' },
      { line: 6, column: 34, component: 'd', path: 'address', message: 'TCP port 15601 is also the API\'s (api.address): two listeners cannot share a port' },
    ]);
    const apart = PORTS.replace('"0.0.0.0:15600"', '"127.0.0.1:15602"').replace('"127.0.0.1:15601" }\n  e', '"127.0.0.1:15603" }\n  e');
    await expect(parseConfig(apart, 'pipeline.yaml', createRegistry(), { env: {} })).resolves.toBeDefined();
  });
});

describe('environment interpolation', () => {
  it('substitutes ${VAR} and ${VAR:-default}, types plain scalars, and keeps $$ literal', async () => {
    const yaml = `data_dir: \${DIR:-/tmp/dl}\nshutdown_timeout: \${TIMEOUT}\n${VALID.replace('    type: console\n', '    type: console\n    buffer:\n      max_events: ${MAX}\n')}`;
    const cfg = await parseConfig(yaml, 'pipeline.yaml', createRegistry(), { env: { TIMEOUT: '5s', MAX: '77' } });
    expect(cfg.dataDir).toBe('/tmp/dl');
    expect(cfg.shutdownTimeoutMs).toBe(5000);
    expect(cfg.components.find((c) => c.id === 'out')!.buffer.max_events).toBe(77);
    // Neither goes where secrets go, nor is named like one: the logs may show them.
    expect(cfg.secretsFromEnv).toEqual([]);
  });

  it('types a plain scalar that took its default, as it types a substituted one', async () => {
    const yaml = VALID.replace('    type: console\n', '    type: console\n    buffer:\n      max_events: ${MAX:-66}\n');
    const cfg = await parseConfig(yaml, 'pipeline.yaml', createRegistry(), { env: {} });
    expect(cfg.components.find((c) => c.id === 'out')!.buffer.max_events).toBe(66);
  });

  it('masks in the logs the variables substituted where secrets go, or named like secrets, and no others', async () => {
    const yaml = `log_level: \${LOG_LEVEL:-info}
data_dir: /tmp/\${MY_TOKEN}
inputs:
  app: { type: syslog, mode: tcp, address: "\${ADDR}" }
outputs:
  hook:
    type: webhook
    inputs: [app]
    url: \${HOOK}
    headers: { X-Team: "\${TEAM}" }
  slack:
    type: slack
    inputs: [app]
    webhook_url: "\${SLACK}"
`;
    const env = { LOG_LEVEL: 'warn', ADDR: '127.0.0.1:5514', HOOK: 'http://127.0.0.1:9009/hook', TEAM: 'platform', SLACK: 'https://127.0.0.1/services/T0/B0/x', MY_TOKEN: 'alerts' };
    const cfg = await parseConfig(yaml, 'pipeline.yaml', createRegistry(), { env });
    expect(cfg.logLevel).toBe('warn');
    expect(cfg.secretsFromEnv.sort()).toEqual(['HOOK', 'MY_TOKEN', 'SLACK', 'TEAM']);
  });

  it('secrets written in the config are masked (a short password too), but not headers whose name says no credential nor short header values', async () => {
    const yaml = `inputs:
  app: { type: stdin }
outputs:
  hook:
    type: webhook
    inputs: [app]
    url: https://hooks.example.com/services/T0/B0/abcdefgh
    headers: { X-Source: driftlock, X-Debug: "true", Content-Type: application/json, Authorization: "Bearer tok-123456", X-Api-Key: k3y-value-99, X-Token: abc }
    signing_secret: a-signing-secret-of-some-length
    auth: { strategy: basic, user: alerts, password: hunter2 }
`;
    const cfg = await parseConfig(yaml, 'pipeline.yaml', createRegistry(), { env: {} });
    expect(secretValuesOf(cfg.components.find((c) => c.id === 'hook')!).sort()).toEqual([
      'Bearer tok-123456',
      'a-signing-secret-of-some-length',
      'https://hooks.example.com/services/T0/B0/abcdefgh',
      'hunter2',
      'k3y-value-99',
      // The basic auth header as sent (a receiver may quote it back): base64 of alerts:hunter2.
      Buffer.from('alerts:hunter2').toString('base64'),
    ].sort());
  });

  it("masks what goes where a component's schema marks a secret, whatever the key and variable are called", async () => {
    // A plugin's output whose credential sits under keys no name rule knows: `dsn`, and a list of `sinks`.
    const registry = createRegistry();
    registry.register(defineOutput({
      type: 'sentry_like',
      description: 'test output',
      config: z.object({
        dsn: secret(z.string()),
        sinks: z.array(z.object({ target: secret(z.string()), label: z.string() })).default([]),
        region: z.string().default('eu'),
      }),
      build: () => ({ async consume() {} }),
    }));
    const yaml = `inputs:
  app: { type: stdin }
outputs:
  out:
    type: sentry_like
    inputs: [app]
    dsn: \${PROJECT}
    region: \${REGION}
    sinks:
      - target: "\${FIRST}"
        label: \${LABEL}
      - { target: "\${SECOND}", label: b }
`;
    const env = { PROJECT: 'https://k@127.0.0.1/1', REGION: 'us', FIRST: 'one', SECOND: 'two', LABEL: 'a' };
    const cfg = await parseConfig(yaml, 'pipeline.yaml', registry, { env });
    expect(cfg.secretsFromEnv.sort()).toEqual(['FIRST', 'PROJECT', 'SECOND']);
    // The component's options as the daemon logs them: the secrets replaced, the rest as written.
    expect(redactOptions(cfg.components.find((c) => c.id === 'out')!)).toEqual({
      dsn: '<redacted>',
      region: 'us',
      sinks: [{ target: '<redacted>', label: 'a' }, { target: '<redacted>', label: 'b' }],
    });
  });
});
