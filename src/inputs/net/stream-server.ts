/**
 * The TCP/TLS listener shared by the stream-based network inputs (syslog over TCP/TLS, fluent_forward):
 * `max_connections` (more are refused, counted in `errors_total` and logged), idle timeout, a TLS handshake
 * timeout, TLS handshake failures counted and logged, and a graceful stop that stops accepting and lets each
 * connection's reader pass on every byte already received (see ConnectionChunks) before the connection closes.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { InputContext } from '../../engine/component.js';
import { acceptWatch } from '../../engine/descriptors.js';
import { formatAddress, listenFailure, peerOf, type ListenAddress } from './address.js';
import type { ProblemLog } from './problems.js';
import type { TlsMaterial } from './tls.js';

export interface StreamServerOptions {
  /** Used in log lines and errors: `syslog`, `fluent_forward`. */
  name: string;
  address: ListenAddress;
  tls: TlsMaterial | undefined;
  maxConnections: number;
  /** Milliseconds; 0 keeps idle connections open. */
  idleTimeout: number;
  /**
   * Send FIN (`socket.end()`) on every connection when the stop begins, so that a client watching its
   * socket (rsyslog checks before each send) stops sending on it while the last bytes are read. Not for
   * inputs that still answer on the connection after the stop (fluent_forward's acks).
   */
  endOnStop?: boolean;
}

/**
 * Reads one connection until `chunks` ends; must not throw for anything the client does. The socket is
 * destroyed once the returned promise settles.
 */
export type ConnectionReader = (socket: net.Socket, peer: string | undefined, chunks: ConnectionChunks) => Promise<void>;

/**
 * How long a connection is still read after the input stops (capped by the pipeline's shutdown deadline):
 * a client that was closing gets its last bytes read to the end of its stream; one that goes on sending is
 * cut after this, and every byte read by then is passed on.
 */
export const STOP_GRACE_MS = 1000;

type PausableHandle = { reading?: boolean; readStop?: () => number };

/**
 * Stops reading from the kernel: what the client sends after this stays in the socket's receive queue (and
 * is refused with a reset when the socket is destroyed), rather than being read into the process and lost
 * there. Node has no public call for it: `pause()` alone keeps reading until its buffer is full, and
 * `_read()` would start the handle again whenever the buffer is read below its high-water mark.
 */
function stopKernelReads(socket: net.Socket): void {
  socket.pause();
  (socket as unknown as { _read: (n: number) => void })._read = () => undefined;
  const handle = (socket as unknown as { _handle?: PausableHandle | null })._handle;
  if (handle && handle.reading && typeof handle.readStop === 'function') {
    handle.reading = false;
    handle.readStop();
  }
}

/**
 * The chunks a connection delivers, as an async iterable that never throws and never loses a byte that Node
 * has read from the socket. Node's own iterator (`for await (const chunk of socket)`) ends, or throws, as
 * soon as the socket is destroyed (a reset by the client, a destroy() at stop), without yielding the chunks
 * still in the socket's buffer: those lines were read from the kernel, so the client took them as sent, and
 * they were lost uncounted.
 *
 * - The client's end of stream ends the iteration with `ended` set.
 * - A reset (or any socket error) ends it after every buffered chunk, with `error` set.
 * - After stop() (the input stops), the connection is read on for at most STOP_GRACE_MS (to the end
 *   of the client's stream if it comes by then); then reading from the kernel stops, the chunks already
 *   read are yielded, and the iteration ends with `stopped` set.
 */
export class ConnectionChunks implements AsyncIterable<Buffer> {
  /** The error that broke the connection (a reset); every byte received before it was yielded. */
  error: Error | undefined;
  /** The client ended its stream (FIN, or TLS close and FIN): a last line without LF is complete. */
  ended = false;
  /** Reading stopped because the input stopped, before the client's end of stream. */
  stopped = false;

  private readonly socket: net.Socket;
  private readonly deadline: () => number | undefined;
  private iterating = false;
  private stopping = false;
  /** Wakes the reader waiting for data, at the stop. */
  private wake: (() => void) | undefined;

  constructor(socket: net.Socket, deadline: () => number | undefined = () => undefined) {
    this.socket = socket;
    this.deadline = deadline;
  }

  /** The input stops: read on for the grace, then pass on what was read and end (see the class). */
  stop(): void {
    this.stopping = true;
    this.wake?.();
  }

  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    if (this.iterating) throw new Error('ConnectionChunks can be iterated once');
    this.iterating = true;
    return this.chunks();
  }

  private async *chunks(): AsyncGenerator<Buffer> {
    const socket = this.socket;
    let stopAt: number | undefined;
    for (;;) {
      if (stopAt === undefined && this.stopping) {
        const now = performance.now();
        const deadline = this.deadline();
        stopAt = now + Math.max(0, Math.min(STOP_GRACE_MS, deadline === undefined ? STOP_GRACE_MS : deadline - now));
      }
      if (stopAt !== undefined && !this.stopped && performance.now() >= stopAt && !this.ended) {
        this.stopped = true;
        stopKernelReads(socket);
      }
      // read() returns what is buffered even after a reset or destroy().
      const chunk = socket.read() as Buffer | null;
      if (chunk !== null) {
        yield chunk;
        continue;
      }
      if (socket.readableEnded) {
        this.ended = true;
        return;
      }
      if (socket.errored) {
        this.error = socket.errored;
        return;
      }
      if (socket.destroyed || this.stopped) return;
      await this.more(stopAt);
    }
  }

  /** Waits for data, the end of the stream, an error or close, the stop, or `stopAt`. */
  private more(stopAt: number | undefined): Promise<void> {
    const socket = this.socket;
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        clearTimeout(timer);
        socket.off('readable', done);
        socket.off('end', done);
        socket.off('close', done);
        socket.off('error', done);
        this.wake = undefined;
        resolve();
      };
      socket.on('readable', done);
      socket.on('end', done);
      socket.on('close', done);
      socket.on('error', done);
      if (stopAt === undefined) this.wake = done;
      else timer = setTimeout(done, Math.max(0, stopAt - performance.now()));
    });
  }
}


/**
 * How long a TLS client may take to finish its handshake: 10 s, or `idle_timeout` when that is shorter. A
 * connection counts against `max_connections` from its first byte, and Node's own limit (120 s) let clients
 * that open a socket and never say hello hold every slot for two minutes each.
 */
export function handshakeTimeout(idleTimeout: number): number {
  return idleTimeout > 0 ? Math.min(idleTimeout, TLS_HANDSHAKE_TIMEOUT) : TLS_HANDSHAKE_TIMEOUT;
}
const TLS_HANDSHAKE_TIMEOUT = 10_000;

/**
 * Listens on `options.address` with at most `options.maxConnections` connections open (more are refused,
 * counted in `errors_total` and logged with the peer); resolves with the bound port. A listen failure
 * rejects with `<name> cannot listen on <address>: <reason>`; later server errors are logged. While it
 * listens, the process being out of file descriptors is told by `acceptWatch`, naming it.
 */
export async function listenWithLimit(server: net.Server, options: Pick<StreamServerOptions, 'name' | 'address' | 'maxConnections'>, ctx: InputContext, problems: ProblemLog): Promise<number> {
  const { host, port } = options.address;
  server.maxConnections = options.maxConnections;
  ctx.metrics.declare('too_many_open_files_total');
  server.on('drop', (data) => {
    ctx.metrics.add('errors_total');
    problems.report('too_many_connections', `${options.name} connection refused: max_connections (${options.maxConnections}) reached`, { peer: peerOf(data?.remoteAddress, data?.remotePort) });
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, host }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    throw new Error(`${options.name} cannot listen on ${formatAddress(host, port)}: ${listenFailure(err, 'its address')}`, { cause: err });
  }
  // Out of file descriptors, connections are closed as they come, which the process-wide watch tells once
  // (and counts in this input's too_many_open_files_total); an accept error for it is that too, not a line each.
  let open = 0;
  server.on('connection', (socket: net.Socket) => {
    open += 1;
    socket.once('close', () => (open -= 1));
  });
  const unwatch = acceptWatch.listen({ name: `${options.name} "${ctx.id}"`, connections: () => open, metrics: ctx.metrics }, ctx.logger);
  server.once('close', unwatch);
  server.on('error', (err) => acceptWatch.acceptFailed(err) || problems.report('server_error', `${options.name} server error`, { error: err.message }));
  return (server.address() as net.AddressInfo).port;
}

/**
 * Listens, then serves connections until `ctx.signal` aborts. `onListening` receives the bound port (the real
 * one for port 0) once the server accepts connections; a listen failure rejects.
 */
export async function serveStream(options: StreamServerOptions, ctx: InputContext, problems: ProblemLog, read: ConnectionReader, onListening: (port: number) => void): Promise<void> {
  const connections = new Set<Promise<void>>();
  const sockets = new Map<net.Socket, ConnectionChunks>();
  const onSocket = (socket: net.Socket) => {
    if (ctx.signal.aborted) {
      socket.destroy();
      return;
    }
    const peer = peerOf(socket.remoteAddress, socket.remotePort);
    const chunks = new ConnectionChunks(socket, ctx.stopDeadline);
    sockets.set(socket, chunks);
    // A reset is seen by the reader (ConnectionChunks.error), after the bytes that came before it.
    socket.on('error', () => undefined);
    if (options.idleTimeout > 0) {
      // Not setTimeout's callback, a one-time listener: a connection kept open when its timer was due was
      // never closed as idle afterwards.
      socket.setTimeout(options.idleTimeout);
      // Bytes coming start the timer again; bytes waiting to be read do not, and may be all the client sent.
      const again = () => void socket.setTimeout(options.idleTimeout);
      socket.on('timeout', () => {
        // Data waiting to be read means the sender is not idle: driftlock is (its pipeline is full and the
        // connection is paused). Such a connection stays open, and is looked at again after idle_timeout.
        if (socket.readableLength > 0) return again();
        // A process held up past idle_timeout (a long pause, a stopped container, a starved CPU) runs its due
        // timers before it reads what came meanwhile: bytes waiting in the kernel did not count, and a sender
        // that was sending was closed. Judged after this turn's reads (setImmediate runs after them).
        const read = socket.bytesRead;
        setImmediate(() => {
          if (socket.destroyed) return;
          if (socket.bytesRead !== read || socket.readableLength > 0) return again();
          problems.report('idle_timeout', `closing an idle ${options.name} connection`, { peer, idle_timeout_ms: options.idleTimeout });
          socket.destroy();
        });
      });
    }
    const done = read(socket, peer, chunks)
      .catch((err: unknown) => {
        ctx.metrics.add('errors_total');
        problems.report('connection_error', `${options.name} connection failed`, { peer, error: (err as Error).message });
      })
      .finally(() => {
        socket.destroy();
        sockets.delete(socket);
        connections.delete(done);
      });
    connections.add(done);
  };
  let server: net.Server;
  if (options.tls) {
    const m = options.tls;
    // With a CA, a client must show a certificate it signed. The check is made here rather than by the TLS
    // layer (rejectUnauthorized), which dropped the socket mid-handshake and left only "socket hang up",
    // without the peer or the reason; nothing is read from a client that fails it.
    const required = m.ca !== undefined;
    server = tls.createServer({ cert: m.cert, key: m.key, ca: m.ca, requestCert: required, rejectUnauthorized: false, handshakeTimeout: handshakeTimeout(options.idleTimeout) }, (socket: tls.TLSSocket) => {
      if (required && !socket.authorized) {
        ctx.metrics.add('errors_total');
        const shown = Object.keys(socket.getPeerCertificate()).length > 0;
        const why = shown ? certificateProblem(socket.authorizationError) : 'it sent no certificate, and ca_file requires one';
        problems.report('tls_handshake_failed', `${options.name} TLS client refused: ${why}`, { peer: peerOf(socket.remoteAddress, socket.remotePort), error: String(socket.authorizationError ?? 'not authorized') });
        socket.destroy();
        return;
      }
      onSocket(socket);
    });
    server.on('tlsClientError', (err, socket) => {
      ctx.metrics.add('errors_total');
      problems.report('tls_handshake_failed', `${options.name} TLS handshake failed`, { peer: peerOf(socket.remoteAddress, socket.remotePort), error: err.message });
      // With a listener for this event, closing the socket is ours to do (a timed-out handshake stayed open).
      socket.destroy();
    });
  } else {
    server = net.createServer(onSocket);
  }
  onListening(await listenWithLimit(server, options, ctx, problems));
  if (!ctx.signal.aborted) await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  // No new connections. Each reader reads its connection for a short grace, then passes on every byte
  // already read (ConnectionChunks) and returns; its socket is destroyed then. Destroying them here, as
  // before, lost what Node had read but the reader had not taken yet.
  for (const [socket, chunks] of sockets) {
    chunks.stop();
    if (options.endOnStop) socket.end();
  }
  await Promise.allSettled([...connections]);
  await closed;
}

/**
 * Why a client's certificate was refused, from OpenSSL's verification code (`socket.authorizationError`):
 * an expired one is not "not signed by ca_file" (which it said whatever the reason).
 */
export function certificateProblem(code: unknown): string {
  switch (String(code ?? '')) {
    case 'CERT_HAS_EXPIRED':
      return 'its certificate has expired';
    case 'CERT_NOT_YET_VALID':
      return 'its certificate is not valid yet (check the clocks)';
    case 'CERT_REVOKED':
      return 'its certificate is revoked';
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'CERT_SIGNATURE_FAILURE':
      return 'its certificate is not signed by ca_file';
    default:
      return `its certificate does not verify against ca_file (${String(code ?? 'not authorized')})`;
  }
}
