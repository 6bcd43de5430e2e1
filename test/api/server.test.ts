/** The HTTP API server on its own: the address it binds, and its routes, asked over 127.0.0.1. */
import type { AddressInfo } from 'node:net';
import type http from 'node:http';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { startApiServer } from '../../src/api/server.js';

let server: http.Server | undefined;
afterEach(async () => {
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

const start = async (address: string, state: 'starting' | 'running' | 'reloading' | 'stopping' = 'running') =>
  (server = await startApiServer({ address, logger: pino({ level: 'silent' }), metrics: () => [], state: () => state }));

describe('API server', () => {
  it('reads api.address as the network inputs read theirs: ":port" is every interface, a host is that host', async () => {
    // Before: ":port" bound 127.0.0.1 here, while the same text in an input's address means every interface.
    expect((await start(':0')).address()).toMatchObject({ address: '0.0.0.0' });
    const port = ((server!.address() as AddressInfo).port);
    expect((await fetch(`http://127.0.0.1:${port}/livez`)).status).toBe(200);
    await new Promise((resolve) => server!.close(resolve));
    expect((await start('127.0.0.1:0')).address()).toMatchObject({ address: '127.0.0.1' });
  });

  it('/livez is 200 in every state; /readyz and /health only while running', async () => {
    for (const state of ['starting', 'running', 'reloading', 'stopping'] as const) {
      const s = await start('127.0.0.1:0', state);
      const base = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
      const live = await fetch(`${base}/livez`);
      expect([live.status, await live.json()]).toEqual([200, { status: 'alive', state }]);
      for (const path of ['/readyz', '/health']) expect((await fetch(`${base}${path}`)).status).toBe(state === 'running' ? 200 : 503);
      expect((await fetch(`${base}/nope`)).status).toBe(404);
      await new Promise((resolve) => s.close(resolve));
      server = undefined;
    }
  });
});
