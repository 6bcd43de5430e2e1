/** The Unix socket a lock holder listens on, so that others can tell it is alive. */
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listenWhileHeld } from '../../src/engine/data-dir-lock.js';
import { tempDir } from '../helpers/temp.js';

describe('listenWhileHeld', () => {
  it('keeps listening through connections it cannot accept (out of file descriptors): each accept error is heard, none ends the process', async () => {
    const dir = await tempDir('driftlock-lock-sock-');
    const socketPath = path.join(dir, 'driftlock.lock.sock');
    const server = await listenWhileHeld(socketPath);
    expect(server).toBeDefined();
    try {
      // What Node emits when accept() fails (EMFILE). Before, the listener set for listen() was used once:
      // the second such error had none, and was an uncaught exception that ended the daemon.
      const emfile = Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', syscall: 'accept' });
      for (let i = 0; i < 3; i++) expect(() => server!.emit('error', emfile)).not.toThrow();
      // Still listening: a connection is accepted (and closed at once), not refused.
      const connected = await new Promise<boolean>((resolve) => {
        const socket = net.connect(socketPath);
        socket.once('connect', () => resolve(true));
        socket.once('error', () => resolve(false));
      });
      expect(connected).toBe(true);
    } finally {
      await new Promise((resolve) => server!.close(resolve));
    }
  });
});
