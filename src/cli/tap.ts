/**
 * `driftlock tap [components...]`: prints the events that the named inputs and transforms of a running daemon
 * send on, as they go by (the API's `GET /tap`; the daemon needs `api.enabled: true`). For finding out what a
 * parse made of a line, or what reaches `anomaly_detect`, without editing the pipeline, as `vector tap`.
 */
import http from 'node:http';
import type { Writable } from 'node:stream';
import type { LogEvent } from '../engine/event.js';
import { formatAddress, parseListenAddress } from '../inputs/net/address.js';
import { prettyLine } from '../outputs/encoding.js';
import { eventsText } from './counts.js';

export interface TapOptions {
  /** The API's `host:port`; a wildcard host (`0.0.0.0`, `::`, empty) is reached on loopback. */
  api: string;
  /** Events to show, 0 for no limit. */
  limit: number;
  format: 'json' | 'pretty';
}

/**
 * Where to connect for an API at `address` (`host:port`, as `api.address` is written, or the API's URL,
 * `http://host:port`), and that place as messages write it (`where`); or why `address` is neither, for
 * `--api` to say.
 */
export function apiTarget(address: string): { host: string; port: number; where: string } | { problem: string } {
  const url = /^[a-z][a-z\d+.-]*:\/\//i.test(address.trim()) ? urlAddress(address.trim()) : undefined;
  if (url !== undefined && 'problem' in url) return url;
  const parsed = url ?? parseListenAddress(address);
  if (!parsed) return { problem: 'is not host:port or http://host:port (such as 127.0.0.1:8686)' };
  const host = parsed.host === '0.0.0.0' || parsed.host === '' ? '127.0.0.1' : parsed.host === '::' ? '::1' : parsed.host;
  return { host, port: parsed.port, where: formatAddress(host, parsed.port) };
}

/** `http://host:port` (a trailing `/` allowed; port 80 when none, as in any URL): the API serves plain HTTP alone. */
function urlAddress(value: string): { host: string; port: number } | { problem: string } {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { problem: 'is not a URL that can be read, nor host:port (such as http://127.0.0.1:8686 or 127.0.0.1:8686)' };
  }
  if (url.protocol === 'https:') return { problem: 'is https, which the API does not serve (it serves plain HTTP): use http:// or host:port' };
  if (url.protocol !== 'http:') return { problem: `is a URL of ${url.protocol.slice(0, -1)}, not http: the API is reached at http://host:port or host:port` };
  if (url.pathname !== '/' || url.search || url.hash) return { problem: `has a path (${url.pathname}${url.search}${url.hash}): --api is the API's address alone, such as http://${url.host}` };
  return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: url.port === '' ? 80 : Number(url.port) };
}

/** What `tap` and `top` say when the API cannot be reached at `where`. */
export function apiUnreachable(command: string, where: string, err: NodeJS.ErrnoException): string {
  return `driftlock ${command}: cannot reach the API at ${where} (${err.code ?? err.message}): is the daemon running with api.enabled: true, and is --api its api.address?\n`;
}

/** Runs the tap until its limit, the daemon's end, or Ctrl-C; returns the exit code (0, or 2 when it cannot tap). */
export function runTap(patterns: readonly string[], o: TapOptions, io: { stdout: Writable; stderr: Writable }): Promise<number> {
  const target = apiTarget(o.api);
  if ('problem' in target) {
    io.stderr.write(`driftlock tap: --api ${JSON.stringify(o.api)} ${target.problem}\n`);
    return Promise.resolve(2);
  }
  const query = new URLSearchParams({ components: patterns.length ? patterns.join(',') : '*', limit: String(o.limit) });
  const { where } = target;
  return new Promise((resolve) => {
    const req = http.get({ host: target.host, port: target.port, path: `/tap?${query}`, agent: false }, (res) => {
      res.setEncoding('utf8');
      if (res.statusCode !== 200) {
        let body = '';
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          let message = body.trim();
          try {
            const answer = JSON.parse(body) as { error?: string; components?: string[] };
            message = `${answer.error ?? message}${answer.components ? ` (inputs and transforms: ${answer.components.join(', ')})` : ''}`;
          } catch {
            // an answer from something else than driftlock's API: shown as it is
          }
          io.stderr.write(`driftlock tap: ${where} answered ${res.statusCode}: ${message || '(no message)'}${res.statusCode === 404 && !message.includes('matches') ? ' (is --api the daemon\'s api.address?)' : ''}\n`);
          resolve(2);
        });
        return;
      }
      const watched = res.headers['x-driftlock-tap-components'];
      io.stderr.write(`driftlock tap: watching ${typeof watched === 'string' ? watched.split(',').join(', ') : patterns.join(', ')} at ${where}${o.limit > 0 ? ` (the next ${eventsText(o.limit)})` : ''}; Ctrl-C to stop\n`);
      let shown = 0;
      let rest = '';
      res.on('data', (chunk: string) => {
        const lines = (rest + chunk).split('\n');
        rest = lines.pop()!;
        for (const line of lines) {
          if (!line) continue;
          const item = JSON.parse(line) as { component?: string; event?: LogEvent; missed?: number; notice?: string };
          if (item.missed !== undefined) {
            io.stderr.write(`driftlock tap: ${item.missed} events not shown (this reader fell behind)\n`);
            continue;
          }
          // What the daemon says of the tap (a reload removed what it watched): words on stderr, in either format.
          if (item.notice !== undefined) {
            io.stderr.write(`driftlock tap: ${item.notice}\n`);
            continue;
          }
          shown += 1;
          io.stdout.write(o.format === 'json' ? `${line}\n` : `${item.component}  ${prettyLine(item.event!)}\n`);
        }
      });
      // The daemon's end: a response ended, or a connection cut before its end (a daemon that exits does not
      // end its taps' responses: the reader saw 'aborted', and was left without a word).
      let over = false;
      const ended = (): void => {
        if (over) return;
        over = true;
        if (o.limit === 0 || shown < o.limit) io.stderr.write(`driftlock tap: the daemon ended the tap after ${shown} events (it stopped or reloaded its API)\n`);
        resolve(0);
      };
      res.on('end', ended);
      res.on('error', ended);
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      io.stderr.write(apiUnreachable('tap', where, err));
      resolve(2);
    });
  });
}
