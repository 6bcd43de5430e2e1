/**
 * `host:port` listen addresses for the network inputs (syslog, otlp_grpc, fluent_forward), parsed and checked
 * by the config schema so that a bad address fails `validate`, not the running daemon.
 */
import { z } from 'zod';

export interface ListenAddress {
  host: string;
  port: number;
}

/** Splits `host:port`, `[v6]:port` or `:port` (all interfaces); port 0 lets the OS choose. */
export function parseListenAddress(value: string): ListenAddress | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value.trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  const host = m[1] ?? m[2] ?? '';
  return { host: host === '' ? '0.0.0.0' : host, port };
}

const LISTEN_FORM = 'host:port, such as 127.0.0.1:5514, 0.0.0.0:5514 or [::1]:5514 (port 0: any free port)';

/** A `host:port` config value (loopback by default in every network input). */
export function listenAddress(defaultValue: string) {
  return z
    // A port alone (`address: 5514`, a number to YAML) is told the form to write, not "expected a string";
    // documented as the string it must be.
    .union([z.string(), z.number()])
    .transform((value, ctx) => {
      const parsed = typeof value === 'string' ? parseListenAddress(value) : undefined;
      if (!parsed) {
        ctx.addIssue({ code: 'custom', message: `expected ${LISTEN_FORM}` });
        return z.NEVER;
      }
      return parsed;
    })
    .prefault(defaultValue)
    .meta({ format: 'listen_address', expected: LISTEN_FORM });
}

/** `ip:port` of a remote peer, for `source.peer`. */
export function peerOf(address: string | undefined, port: number | undefined): string | undefined {
  return address === undefined ? undefined : formatAddress(address, port ?? 0);
}

/** `host:port`, an IPv6 host in brackets (`[::1]:8686`), as logs, errors and URLs write an address. */
export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Why a listen failed, to follow `cannot listen on <address>: `. For the errors that are the host's answer
 * (a port taken, a privileged port, an address of another host), what it means and what to do, with the
 * code; Node's own message for others. Not Node's message for those: it says the address again
 * (`listen EADDRINUSE: address already in use 127.0.0.1:8686`). `key` is the setting to change (`its
 * address`, `api.address`).
 */
export function listenFailure(err: unknown, key: string): string {
  switch ((err as NodeJS.ErrnoException | undefined)?.code) {
    case 'EADDRINUSE':
      return `the port is in use (EADDRINUSE), perhaps by another driftlock: stop that process, or change ${key}`;
    case 'EACCES':
      return `permission denied (EACCES): ports below 1024 need root or CAP_NET_BIND_SERVICE; change ${key} to a port from 1024, or grant the capability`;
    case 'EADDRNOTAVAIL':
      return `no interface of this host has that address (EADDRNOTAVAIL): change ${key} to 127.0.0.1, 0.0.0.0 for every interface, or one of this host's addresses`;
    default:
      return err instanceof Error ? err.message : String(err);
  }
}
