/**
 * `driftlock test-alert`: sends one sample alert to the Slack and webhook outputs of a pipeline file, now,
 * and says what each receiver answered, as Alertmanager's `amtool` or Grafana's contact point test do. A
 * webhook URL with a typo, a revoked token or an archived channel is found when the pipeline is set up, not
 * at the first real incident. Nothing of the daemon runs: no queue, no retry, no grouping, no mention, no
 * state written (a running daemon on the same data_dir is not disturbed).
 */
import { performance } from 'node:perf_hooks';
import type { Writable } from 'node:stream';
import { createRegistry } from '../components.js';
import { ConfigError, configErrorText } from '../config/errors.js';
import { loadConfigFile, meant, secretsOf, type ComponentConfig } from '../config/load.js';
import type { LogEvent } from '../engine/event.js';
import { errorMessage } from '../engine/failure-report.js';
import { SecretMask } from '../logging.js';

export interface TestAlertIo {
  stdout: Writable;
  stderr: Writable;
}

/** The stream the sample alert says it is from: no real stream is called that. */
export const TEST_STREAM = 'driftlock-test-alert';

/**
 * The sample alert: an SQL injection in a user agent (seed incident 3), as `anomaly_detect` gives it, its
 * why saying plainly that it is a test. `now` is its time.
 */
export function sampleAlert(outputId: string, now = Date.now()): LogEvent {
  const body = {
    timestamp: new Date(now).toISOString(),
    remote_addr: '192.0.2.10',
    request: 'GET /api/v1/users HTTP/1.1',
    status: 200,
    body_bytes_sent: 1024,
    http_referer: '-',
    http_user_agent: "' UNION SELECT username, password FROM users --",
    response_time: 0.05,
  };
  return {
    timestamp: now,
    observedTimestamp: now,
    body,
    attributes: {
      anomaly: {
        kind: 'field_content',
        score: 11.2,
        confidence: 0.999,
        why: `TEST ALERT from driftlock test-alert (output ${outputId}): nothing is wrong. A real alert would read: new text "' UNION SELECT username, password FROM", "users --" in http_user_agent`,
        stream_id: TEST_STREAM,
        template: 'GET /api/v1/users HTTP/<num>',
        field: 'http_user_agent',
        baseline: {},
      },
    },
    source: { input: 'test-alert' },
  };
}

/**
 * The notice that closes the incident the sample alert opened: its anomaly as a stream's "back" notice has
 * it (`resolved: true`), with the same stream, kind and field (so the same `{group}`: PagerDuty's
 * `dedup_key`).
 */
export function sampleResolved(outputId: string, now = Date.now()): LogEvent {
  const event = sampleAlert(outputId, now);
  const anomaly = event.attributes.anomaly as Record<string, unknown>;
  event.attributes.anomaly = { ...anomaly, resolved: true, why: `TEST ALERT resolved by driftlock test-alert (output ${outputId}): the test is over, nothing was wrong` };
  return event;
}

/** How long one output's test may take by default (`--timeout`): past it, it is a failure. */
export const TEST_ALERT_TIMEOUT_MS = 30_000;

/** How long a test given up on (`--timeout`) may take to say how it ended on the abort. */
const ABORT_GRACE_MS = 200;

/**
 * The output's `sendTest`, within `timeoutMs`: past it, the test fails saying so and `signal` is aborted
 * with that reason. Before, a plugin's `sendTest` that never settled left nothing for Node to wait on: the
 * command printed nothing and exited 0, "every receiver took it". What the test says as it ends on the
 * abort, within `ABORT_GRACE_MS`, is said too when it is more than the abort (a webhook: the alert was
 * taken and the notice that closes it was not, so the test incident is open).
 */
async function sendWithin(c: ComponentConfig, timeoutMs: number, keepOpen: boolean): Promise<unknown> {
  const controller = new AbortController();
  const sending = Promise.resolve().then(() => c.definition.sendTest!(c.options, sampleAlert(c.id), { id: c.id, signal: controller.signal, ...(keepOpen ? {} : { resolved: sampleResolved(c.id) }) }));
  const late = Symbol('late');
  let timer: NodeJS.Timeout | undefined;
  let first: unknown;
  try {
    first = await Promise.race([sending, new Promise<typeof late>((resolve) => (timer = setTimeout(() => resolve(late), timeoutMs)))]);
  } finally {
    clearTimeout(timer);
  }
  if (first !== late) return first;
  const gaveUp = new Error(`no answer within ${timeoutMs} ms: its test had not ended (driftlock test-alert --timeout)`);
  controller.abort(gaveUp);
  let grace: NodeJS.Timeout | undefined;
  const ended = await Promise.race([
    sending.then(() => gaveUp, (err: unknown) => err),
    new Promise<Error>((resolve) => (grace = setTimeout(() => resolve(gaveUp), ABORT_GRACE_MS))),
  ]);
  clearTimeout(grace);
  if (ended === gaveUp || (ended instanceof Error && ended.name === 'AbortError')) throw gaveUp;
  throw new Error(`${gaveUp.message}; ${errorMessage(ended)}`, { cause: ended });
}

/**
 * Sends the sample alert to each output named in `ids` (all that can take one when none is named), one
 * after the other, each within `timeoutMs`; an output that closes incidents by another body closes the
 * test's at once, unless `keepOpen`. Exit code: 0 every receiver took it, 1 one did not, 2 an id that
 * is no such output, 78 the config does not load (`configFrom`: the variable that named it, said then).
 */
export async function runTestAlert(configFile: string, ids: readonly string[], io: TestAlertIo, timeoutMs = TEST_ALERT_TIMEOUT_MS, keepOpen = false, configFrom?: string): Promise<number> {
  let outputs: ComponentConfig[];
  let secrets: SecretMask;
  try {
    const config = await loadConfigFile(configFile, createRegistry());
    secrets = new SecretMask(secretsOf(config));
    outputs = config.components.filter((c) => c.kind === 'output');
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.stderr.write(configErrorText(err, configFrom));
    return 78;
  }
  const able = outputs.filter((c) => c.definition.sendTest !== undefined);
  const list = (cs: ComponentConfig[]) => cs.map((c) => `${c.id} (${c.type})`).join(', ');
  const chosen: ComponentConfig[] = [];
  for (const id of ids) {
    const c = outputs.find((o) => o.id === id);
    if (c === undefined) {
      const near = meant(id, outputs.map((o) => o.id));
      io.stderr.write(`driftlock test-alert: ${configFile} has no output "${id}"${near ? ` (did you mean "${near}"?)` : ''}; its outputs: ${list(outputs) || 'none'}\n`);
      return 2;
    }
    if (c.definition.sendTest === undefined) {
      io.stderr.write(`driftlock test-alert: output "${id}" is of type ${c.type}, which has no test to send (it writes where it runs; the types that post to a receiver have: slack, webhook)\n`);
      return 2;
    }
    chosen.push(c);
  }
  if (ids.length === 0) chosen.push(...able);
  if (chosen.length === 0) {
    io.stderr.write(`driftlock test-alert: ${configFile} has no output that posts to a receiver (slack, webhook)${outputs.length ? `; its outputs: ${list(outputs)}` : ''}\n`);
    return 2;
  }
  let failed = 0;
  for (const c of chosen) {
    const started = performance.now();
    const took = () => `${Math.round(performance.now() - started)} ms`;
    try {
      const answer = await sendWithin(c, timeoutMs, keepOpen);
      const said = typeof answer === 'string' && answer !== '' ? `${answer}, ` : '';
      io.stdout.write(secrets.mask(`ok      ${c.id} (${c.type}): the receiver took the test alert (${said}${took()})\n`));
    } catch (err) {
      failed += 1;
      // A plugin may reject with anything (a string, an object): said as it is, not as 'undefined'.
      io.stdout.write(secrets.mask(`FAILED  ${c.id} (${c.type}): ${errorMessage(err)} (${took()})\n`));
    }
  }
  io.stderr.write(`${chosen.length - failed} of ${chosen.length} output${chosen.length === 1 ? '' : 's'} took the test alert\n`);
  return failed === 0 ? 0 : 1;
}
