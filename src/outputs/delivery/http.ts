/**
 * One HTTP request with a timeout, and what its outcome means for delivery: done, try again (and when), or
 * give up. Shared by every HTTP output so that they all treat `429`, `Retry-After`, `5xx` and network
 * errors the same way. Uses Node's built-in fetch (undici): keep-alive connections, no dependency.
 *
 * Nothing here puts the URL in a message: webhook URLs carry secrets (a Slack webhook URL *is* the secret).
 */
import { parseRetryAfter } from './backoff.js';

export type SendOutcome =
  | { ok: true; status: number }
  /** Worth retrying: 408, 429, 5xx, network errors, timeouts. `retryAfterMs` when the server said so. */
  | { ok: false; retry: true; reason: string; status?: number; retryAfterMs?: number }
  /** Retrying cannot help (other 4xx: a bad URL, bad auth, a payload the receiver refuses). */
  | { ok: false; retry: false; reason: string; status: number };

export interface HttpPost {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  /** Aborts the request (hard stop). */
  signal?: AbortSignal | undefined;
}

/** Statuses that say "later", not "never". */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}

/** Posts and classifies the answer. Never throws for HTTP or network failures. */
export async function post(request: HttpPost): Promise<SendOutcome> {
  const timeout = AbortSignal.timeout(request.timeoutMs);
  const signal = request.signal ? AbortSignal.any([request.signal, timeout]) : timeout;
  let res: Response;
  let text: string;
  try {
    res = await fetch(request.url, { method: 'POST', headers: request.headers, body: request.body, signal, redirect: 'follow' });
    text = await res.text();
  } catch (err) {
    if (timeout.aborted) return { ok: false, retry: true, reason: `no answer within ${request.timeoutMs} ms (timeout)` };
    if (request.signal?.aborted) return { ok: false, retry: true, reason: 'aborted: the daemon is stopping' };
    return { ok: false, retry: true, reason: describeNetworkError(err) };
  }
  const status = res.status;
  if (status >= 200 && status < 300) return { ok: true, status };
  const said = text.trim().slice(0, 200);
  const reason = `HTTP ${status}${said ? `: ${said}` : ''}`;
  if (isRetryableStatus(status)) {
    const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
    return retryAfterMs === undefined ? { ok: false, retry: true, reason, status } : { ok: false, retry: true, reason, status, retryAfterMs };
  }
  return { ok: false, retry: false, reason, status };
}

/** A network error in words, without the URL (the cause carries the code and at most host:port). */
export function describeNetworkError(err: unknown): string {
  const cause = (err as { cause?: unknown }).cause;
  const inner = (cause ?? err) as { code?: string; message?: string };
  const code = inner.code ? `${inner.code}` : '';
  const message = (inner.message ?? String(inner)).replace(/https?:\/\/\S+/g, '<url>');
  return code && !message.includes(code) ? `${code}: ${message}` : message || 'network error';
}
