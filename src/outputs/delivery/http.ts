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

/** Redirects followed at most, as fetch does. */
const MAX_REDIRECTS = 5;

/**
 * Posts and classifies the answer. Never throws for HTTP or network failures.
 *
 * Redirects are followed only when they keep the method and the body (307, 308) and stay on the same origin
 * (the request carries credentials). Any other redirect is a permanent failure that says where it points. A
 * 301, 302 or 303 is a permanent failure
 * that says where it points: following it (fetch's default) turns the POST into a bodiless GET that the
 * receiver answers 200, so every alert would be lost and counted as delivered.
 */
export async function post(request: HttpPost): Promise<SendOutcome> {
  // The request's own signal, aborted by its timeout or by the caller's signal, through a listener taken off
  // when the request ends. Not AbortSignal.any([request.signal, AbortSignal.timeout()]): on Node 20 each call
  // adds a WeakRef to its source signals that is never removed, and the source here is the output's (and the
  // pipeline's) stop signal, which lives as long as the pipeline: two more entries per request, for weeks
  // (measured: 6,370 after a 25-minute soak; 200,000 calls held 11 MB).
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new DOMException(`no answer within ${request.timeoutMs} ms`, 'TimeoutError'));
  }, request.timeoutMs);
  const stop = () => controller.abort(request.signal?.reason);
  if (request.signal?.aborted) stop();
  else request.signal?.addEventListener('abort', stop, { once: true });
  const signal = controller.signal;
  let res: Response;
  let text: string;
  let url = request.url;
  try {
    for (let hops = 0; ; hops++) {
      res = await fetch(url, { method: 'POST', headers: request.headers, body: request.body, signal, redirect: 'manual' });
      text = await readAnswer(res);
      const next = resolveLocation(res.headers.get('location'), url);
      // Only within the origin: the request carries credentials (Authorization, the configured headers, the
      // signature) that must not go to another host on a receiver's say-so.
      if ((res.status !== 307 && res.status !== 308) || !next || hops === MAX_REDIRECTS || next.origin !== new URL(url).origin) break;
      url = next.href;
    }
  } catch (err) {
    if (timedOut) return { ok: false, retry: true, reason: `no answer within ${request.timeoutMs} ms (timeout)` };
    if (request.signal?.aborted) return { ok: false, retry: true, reason: 'aborted: the daemon is stopping' };
    return { ok: false, retry: true, reason: describeNetworkError(err) };
  } finally {
    clearTimeout(timer);
    request.signal?.removeEventListener('abort', stop);
  }
  const status = res.status;
  if (status >= 200 && status < 300) return { ok: true, status };
  if (status >= 300 && status < 400) {
    // Only the origin of the target is named: the path of a webhook URL can be its secret.
    const target = resolveLocation(res.headers.get('location'), url);
    const where = target ? ` to ${target.origin}/...` : '';
    const why = !target
      ? 'without a usable Location header'
      : status !== 307 && status !== 308
        ? 'following it would turn the POST into a GET without the alert; set the URL to where it points'
        : target.origin !== new URL(url).origin
          ? 'to another origin, which would get the credentials; set the URL to where it points'
          : `more than ${MAX_REDIRECTS} redirects`;
    return { ok: false, retry: false, reason: `HTTP ${status}: the receiver redirects${where} (${why})`, status };
  }
  // A receiver's answer can quote the request (`Cannot POST /services/T0/B0/xyz?token=...`): what it
  // says is logged, so the URL's path and query, the secret of a webhook URL, are taken out of it first.
  const said = scrubUrl(text, [request.url, url]).trim().slice(0, 200);
  const reason = `HTTP ${status}${said ? `: ${said}` : ''}`;
  if (isRetryableStatus(status)) {
    const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
    return retryAfterMs === undefined ? { ok: false, retry: true, reason, status } : { ok: false, retry: true, reason, status, retryAfterMs };
  }
  return { ok: false, retry: false, reason, status };
}

/**
 * One request and no retry (`driftlock test-alert`): resolves with the receiver's status (`HTTP 200`),
 * rejects with what went wrong and whether a running daemon would retry it.
 */
export async function postOnce(request: HttpPost): Promise<string> {
  const outcome = await post(request);
  if (outcome.ok) return `HTTP ${outcome.status}`;
  // Its caller gave up (driftlock test-alert --timeout): rejected with the caller's reason, not as a daemon
  // that stops would say it.
  if (request.signal?.aborted && request.signal.reason !== undefined) throw request.signal.reason;
  // What the receiver asked of a retry is said too: a 429 whose Retry-After is an hour is not 'try again'.
  const asked = outcome.retry && outcome.retryAfterMs !== undefined ? `Retry-After: ${Math.ceil(outcome.retryAfterMs / 1000)} s; ` : '';
  throw new Error(`${outcome.reason} (${asked}${outcome.retry ? 'a running daemon retries this: the alert would wait in its queue' : 'refused for good: a running daemon drops such an alert'})`);
}

/**
 * Bytes of a receiver's answer read at most: only its start is logged (200 characters). Read whole, an
 * answer that never ends (a broken or hostile receiver) was held in memory until the request timeout.
 */
export const MAX_ANSWER_BYTES = 64 * 1024;

/** The start of the answer's body, as text; the rest is not read (the connection is closed). */
async function readAnswer(res: Response): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return text + decoder.decode();
    bytes += value.byteLength;
    text += decoder.decode(value.subarray(0, Math.max(0, value.byteLength - Math.max(0, bytes - MAX_ANSWER_BYTES))), { stream: true });
    if (bytes >= MAX_ANSWER_BYTES) {
      await reader.cancel().catch(() => undefined);
      return text + decoder.decode();
    }
  }
}

/** A redirect's target, or undefined when there is none or it is not a URL. */
function resolveLocation(location: string | null, base: string): URL | undefined {
  if (!location) return undefined;
  try {
    return new URL(location, base);
  } catch {
    return undefined;
  }
}

/** Secret parts of a URL shorter than this are left in a receiver's answer (`/`, `hook`): only longer ones can be a credential. */
const MIN_URL_PART = 8;

/**
 * `text` without the parts of the given URLs that can hold their secret: the whole URL, its path and query,
 * and each path segment and query value of 8 characters or more (a Slack webhook's `T0/B0/xyz`, a
 * `?token=`), as written and percent-decoded.
 */
export function scrubUrl(text: string, urls: readonly string[]): string {
  const parts = new Set<string>();
  for (const href of urls) {
    const u = new URL(href);
    const pieces = [u.href, u.pathname + u.search, u.pathname, u.search.slice(1), ...u.pathname.split('/'), ...u.search.slice(1).split('&').flatMap((kv) => kv.split('='))];
    for (const piece of pieces) {
      for (const form of [piece, safeDecode(piece)]) if (form.length >= MIN_URL_PART || (form === u.pathname && form.length > 1)) parts.add(form);
    }
  }
  let out = text;
  for (const part of [...parts].sort((a, b) => b.length - a.length)) out = out.split(part).join('<redacted>');
  return out;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return text;
  }
}

/** A network error in words, without the URL (the cause carries the code and at most host:port). */
export function describeNetworkError(err: unknown): string {
  const cause = (err as { cause?: unknown }).cause;
  const inner = (cause ?? err) as { code?: string; message?: string };
  const code = inner.code ? `${inner.code}` : '';
  const message = (inner.message ?? String(inner)).replace(/https?:\/\/\S+/g, '<url>');
  return code && !message.includes(code) ? `${code}: ${message}` : message || 'network error';
}
