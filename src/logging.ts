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
  /** Strings that must never be written (secret values). */
  secrets?: string[];
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

export function createLogger(options: LoggingOptions): Logger {
  const usePretty = options.pretty ?? Boolean(process.stderr.isTTY);
  const secrets = (options.secrets ?? []).filter((s) => s.length >= 4);
  const mask = secretMasker(secrets);
  const base: pino.LoggerOptions = {
    level: options.level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    // An error's cause as a nested object: the default appends each cause's message to the error's own,
    // which already says it ("cannot listen on ...: listen EADDRINUSE ...: listen EADDRINUSE ...").
    serializers: { err: pino.stdSerializers.errWithCause },
  };
  let stream: pino.DestinationStream = usePretty
    ? loadPretty()({ destination: 2, colorize: true, sync: true, ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss.l' })
    : pino.destination({ dest: 2, sync: true });
  if (options.destination) stream = options.destination as unknown as pino.DestinationStream;
  if (secrets.length) {
    const inner = stream;
    stream = {
      write(line: string) {
        return inner.write(mask(line));
      },
    } as pino.DestinationStream;
  }
  return pino(base, stream);
}
