/**
 * The TCP/TLS listener shared by the stream-based network inputs (syslog over TCP/TLS, fluent_forward):
 * `max_connections` (more are refused, counted in `errors_total` and logged), idle timeout, a TLS handshake
 * timeout, TLS handshake failures counted and logged, and a graceful stop that stops accepting, closes every connection and waits
 * for each connection's reader to pass on what it already received.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { InputContext } from '../../engine/component.js';
import { peerOf, type ListenAddress } from './address.js';
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
}

/** Reads one connection until it ends; must not throw for anything the client does. */
export type ConnectionReader = (socket: net.Socket, peer: string | undefined) => Promise<void>;

export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
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
 * rejects with `<name> cannot listen on <address>: <reason>`; later server errors are logged.
 */
export async function listenWithLimit(server: net.Server, options: Pick<StreamServerOptions, 'name' | 'address' | 'maxConnections'>, ctx: InputContext, problems: ProblemLog): Promise<number> {
  const { host, port } = options.address;
  server.maxConnections = options.maxConnections;
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
    throw new Error(`${options.name} cannot listen on ${formatAddress(host, port)}: ${(err as Error).message}`, { cause: err });
  }
  server.on('error', (err) => problems.report('server_error', `${options.name} server error`, { error: err.message }));
  return (server.address() as net.AddressInfo).port;
}

/**
 * Listens, then serves connections until `ctx.signal` aborts. `onListening` receives the bound port (the real
 * one for port 0) once the server accepts connections; a listen failure rejects.
 */
export async function serveStream(options: StreamServerOptions, ctx: InputContext, problems: ProblemLog, read: ConnectionReader, onListening: (port: number) => void): Promise<void> {
  const connections = new Set<Promise<void>>();
  const sockets = new Set<net.Socket>();
  const onSocket = (socket: net.Socket) => {
    if (ctx.signal.aborted) {
      socket.destroy();
      return;
    }
    const peer = peerOf(socket.remoteAddress, socket.remotePort);
    sockets.add(socket);
    if (options.idleTimeout > 0) {
      socket.setTimeout(options.idleTimeout, () => {
        // Data waiting to be read means the sender is not idle: driftlock is (its pipeline is full and the
        // connection is paused). Such a connection stays open.
        if (socket.readableLength > 0) return;
        problems.report('idle_timeout', `closing an idle ${options.name} connection`, { peer, idle_timeout_ms: options.idleTimeout });
        socket.destroy();
      });
    }
    const done = read(socket, peer)
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
        const why = shown ? 'its certificate is not signed by ca_file' : 'it sent no certificate, and ca_file requires one';
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
  // Stop reading: what was already received is passed on (each reader finishes its batch), then the input ends.
  for (const socket of sockets) socket.destroy();
  await Promise.allSettled([...connections]);
  await closed;
}
