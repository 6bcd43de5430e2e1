/**
 * A stand-in HTTP receiver on 127.0.0.1 for the Slack and webhook outputs: records every request, and
 * answers as the test says (ok, 404, 429 with Retry-After, an outage for a while, a hang, a reset).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  /** Arrival of the whole request, Date.now(). */
  at: number;
  /** performance.now() at arrival, for spacing measurements. */
  mono: number;
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
  /** What the receiver answered (0: it hung or reset). */
  status: number;
}

/** An answer (after `delayMs`: a slow receiver), a request left hanging, or a connection reset. */
export type Reply = { status: number; headers?: Record<string, string>; body?: string; delayMs?: number } | 'hang' | 'reset';
/** Decides the answer to the n-th request (0-based). */
export type Behaviour = (req: ReceivedRequest, n: number) => Reply;

export const ok: Behaviour = () => ({ status: 200, body: 'ok' });
export const notFound: Behaviour = () => ({ status: 404, body: 'no_service' });
export const hang: Behaviour = () => 'hang';

/** Answers 429 with `Retry-After` to the first `times` requests, then `then`. */
export function rateLimited(retryAfter: string, times = 1, then: Behaviour = ok): Behaviour {
  return (req, n) => (n < times ? { status: 429, headers: { 'retry-after': retryAfter }, body: 'rate_limited' } : then(req, n));
}

/**
 * An outage: from the first request on, fails for `durationMs` (alternating 503 and connection resets, so
 * both HTTP and network failures are exercised), then recovers. The issue says 30 s; tests scale it down.
 */
export function outage(durationMs: number, then: Behaviour = ok): Behaviour {
  let start: number | undefined;
  return (req, n) => {
    start ??= req.mono;
    if (req.mono - start < durationMs) return n % 2 === 0 ? { status: 503, body: 'down' } : 'reset';
    return then(req, n);
  };
}

export interface Receiver {
  url: string;
  port: number;
  requests: ReceivedRequest[];
  /** Requests answered 2xx. */
  accepted(): ReceivedRequest[];
  behave: Behaviour;
  /** Polls until the condition holds (no fixed sleeps); rejects after timeoutMs. */
  waitFor(condition: () => boolean, timeoutMs?: number, what?: string): Promise<void>;
  close(): Promise<void>;
}

export async function startReceiver(behave: Behaviour = ok, port = 0): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  const hanging = new Set<ServerResponse>();
  const receiver: Receiver = {
    url: '',
    port: 0,
    requests,
    accepted: () => requests.filter((r) => r.status >= 200 && r.status < 300),
    behave,
    waitFor: (condition, timeoutMs = 20_000, what = 'condition') =>
      new Promise<void>((resolve, reject) => {
        const started = Date.now();
        const check = () => {
          if (condition()) return resolve();
          if (Date.now() - started > timeoutMs) return reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${requests.length} requests: ${requests.map((r) => r.status).join(',')}`));
          setTimeout(check, 10);
        };
        check();
      }),
    close: async () => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const record: ReceivedRequest = { at: Date.now(), mono: performance.now(), method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), status: 0 };
      const n = requests.length;
      requests.push(record);
      const reply = receiver.behave(record, n);
      if (reply === 'hang') {
        hanging.add(res);
        res.on('close', () => hanging.delete(res));
        return;
      }
      if (reply === 'reset') {
        req.socket.destroy();
        return;
      }
      const answer = () => {
        record.status = reply.status;
        res.writeHead(reply.status, { 'content-type': 'text/plain', ...reply.headers });
        res.end(reply.body ?? '');
      };
      if (reply.delayMs) setTimeout(answer, reply.delayMs);
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  receiver.port = (server.address() as AddressInfo).port;
  receiver.url = `http://127.0.0.1:${receiver.port}/services/T000/B000/secret-token-xyz`;
  return receiver;
}

/** Closes a test's receiver, if it has one (its folder is removed by temp.ts, after its daemon is killed). */
export async function cleanUp(receiver: Receiver | undefined): Promise<void> {
  await receiver?.close();
}
