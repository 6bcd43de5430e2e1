/**
 * The daemon's own logs: pino, JSON lines on stderr; readable (pino-pretty) when stderr is a terminal.
 * Values of environment variables substituted into the config (webhook URLs, tokens) are masked wherever
 * they appear in a log line.
 */
import { createRequire } from 'node:module';
import { pino, type Logger, type LevelWithSilent } from 'pino';
import type PinoPretty from 'pino-pretty';

/** pino-pretty, loaded only for a terminal: a daemon writing JSON lines does not pay for it at start-up. */
function loadPretty(): typeof PinoPretty {
  return createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
}

export interface LoggingOptions {
  level: LevelWithSilent;
  /** Force pretty (true) or JSON (false); default: pretty when stderr is a TTY. */
  pretty?: boolean;
  /** Strings that must never be written (secret values), or a SecretMask that can take more later. */
  secrets?: string[] | SecretMask;
  destination?: NodeJS.WritableStream;
}

/**
 * Replaces every secret value in a text with `<redacted>` (values under 4 characters are left alone). The
 * texts are JSON (log lines, /health), where a secret holding `"`, `\` or a control character is written
 * escaped: that form is masked too.
 */
export function secretMasker(secrets: readonly string[]): (text: string) => string {
  const values: string[] = [];
  for (const s of secrets) {
    if (s.length < 4) continue;
    const escaped = JSON.stringify(s).slice(1, -1);
    if (escaped !== s) values.push(escaped);
    values.push(s);
  }
  return (text) => {
    let out = text;
    for (const s of values) out = out.split(s).join('<redacted>');
    return out;
  };
}

/**
 * The secret values a daemon masks, which a config reload can add to (the old ones stay masked: the old
 * pipeline may still be logging while it drains). One for the logs, /health and the stderr summary lines.
 */
export class SecretMask {
  private values: string[] = [];
  private masker: (text: string) => string = (text) => text;

  constructor(secrets: readonly string[] = []) {
    this.add(secrets);
  }

  add(secrets: readonly string[]): void {
    const fresh = secrets.filter((s) => s.length >= 4 && !this.values.includes(s));
    if (fresh.length === 0) return;
    this.values.push(...fresh);
    this.masker = secretMasker(this.values);
  }

  get size(): number {
    return this.values.length;
  }

  readonly mask = (text: string): string => this.masker(text);
}

/**
 * Errors whose message says all there is to say, a user's mistake or the system's answer, not driftlock's
 * bug: a config that does not load, a component that cannot start, a data_dir in use or unusable
 * (config/errors.ts, engine/pipeline.ts, engine/data-dir-lock.ts), the system's own errors (a port in
 * use, a folder it may not write, a reader gone: those with a `syscall`), and errors made to say one of those
 * in words (their `cause`). Logged without their stack trace,
 * which pointed into driftlock's or Node's code for something to fix in the config or on the host. A bug's
 * error keeps it, also as the cause of one of these (a plugin's build() that throws a TypeError).
 */
const USER_ERRORS = new Set(['ConfigError', 'StartError', 'DataDirInUse', 'DataDirUnusable']);

function isUserError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  // A message of driftlock's around one of these (`syslog cannot listen on ...: listen EADDRINUSE ...`) is one too.
  return USER_ERRORS.has(err.name) || typeof (err as NodeJS.ErrnoException).syscall === 'string' || (err.cause !== undefined && isUserError(err.cause));
}

/** pino's error serializer (with the causes nested), without the stack traces of users' errors, nor what repeats. */
function serializeError(err: Error): ReturnType<typeof pino.stdSerializers.errWithCause> {
  const out = pino.stdSerializers.errWithCause(err);
  for (let e: unknown = err, o: Record<string, unknown> | undefined = out; e instanceof Error && o; e = e.cause, o = o.cause as Record<string, unknown> | undefined) {
    if (isUserError(e)) delete o.stack;
  }
  withoutRepeats(out);
  return out;
}

type SerializedError = Record<string, unknown> & { cause?: unknown };

/**
 * Takes out of a serialized error what it says twice. driftlock's errors say their cause in their own words
 * (`input "net" cannot start: syslog cannot listen on 127.0.0.1:5514: listen EADDRINUSE: ...`): a cause's
 * message the error's already holds is not written again, and a cause left with nothing else to say (no
 * code, no syscall, no stack: a wrapper of driftlock's) is left out, its own cause in its place. What the
 * system said beside its message (code, errno, syscall, address) and a bug's stack stay. `name` too, when it
 * is the `type` (errors that set their name: StartError, DataDirUnusable). Before, a port in use logged its
 * message three times, each cause repeating the one around it.
 */
function withoutRepeats(out: SerializedError): void {
  const said = typeof out.message === 'string' ? out.message : '';
  for (let o: SerializedError | undefined = out; o; o = o.cause as SerializedError | undefined) {
    if (o.name === o.type) delete o.name;
    let cause = o.cause as SerializedError | undefined;
    while (cause !== null && typeof cause === 'object') {
      if (typeof cause.message === 'string' && (said.includes(cause.message) || saysCode(said, cause))) delete cause.message;
      if (cause.name === cause.type) delete cause.name;
      if (Object.keys(cause).some((k) => k !== 'type' && k !== 'cause')) break;
      cause = cause.cause as SerializedError | undefined;
    }
    if (cause === undefined) delete o.cause;
    else o.cause = cause;
  }
}

/**
 * Whether `said` names the code of `cause`, an error of the system (`(EADDRINUSE)`): its message says the
 * same again (`listen EADDRINUSE: address already in use 127.0.0.1:8686`), its code, call and address stay.
 */
function saysCode(said: string, cause: SerializedError): boolean {
  return typeof cause.code === 'string' && typeof cause.syscall === 'string' && said.includes(`(${cause.code})`);
}

/** Whether the logs are for a person (pino-pretty) unless told otherwise: stderr is a terminal. */
export function prettyByDefault(): boolean {
  return Boolean(process.stderr.isTTY);
}

export function createLogger(options: LoggingOptions): Logger {
  const usePretty = options.pretty ?? prettyByDefault();
  const secrets = options.secrets instanceof SecretMask ? options.secrets : new SecretMask(options.secrets ?? []);
  const base: pino.LoggerOptions = {
    level: options.level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    // An error's cause as a nested object: the default appends each cause's message to the error's own,
    // which already says it ("cannot listen on ...: listen EADDRINUSE ...: listen EADDRINUSE ...").
    serializers: { err: serializeError },
  };
  let stream: pino.DestinationStream = usePretty
    ? loadPretty()({ destination: 2, colorize: true, sync: true, ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss.l' })
    : pino.destination({ dest: 2, sync: true });
  if (options.destination) stream = options.destination as unknown as pino.DestinationStream;
  // Wrapped when there is a secret to mask, or may be one after a reload (a SecretMask given).
  if (secrets.size > 0 || options.secrets instanceof SecretMask) {
    const inner = stream;
    stream = {
      write(line: string) {
        return inner.write(secrets.mask(line));
      },
    } as pino.DestinationStream;
  }
  return pino(base, stream);
}
