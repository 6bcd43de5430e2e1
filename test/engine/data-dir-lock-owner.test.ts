/**
 * Who holds a data_dir lock, as a daemon refused by it reads it: a daemon is refused at once when the lock
 * socket answers, and names the holder from the record beside the lock. The record must name the process
 * whose socket answers, also while it has just taken the lock over from one killed before (whose record is
 * still there until the new one is written).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import pino from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { tempDir } from '../helpers/temp.js';

// Each write of the owner record takes 300 ms: the window in which another daemon could read the old one.
vi.mock('../../src/atomic-write.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/atomic-write.js')>();
  return {
    ...real,
    writeFileAtomic: async (...args: Parameters<typeof real.writeFileAtomic>) => {
      if (path.basename(args[0]) === 'driftlock.lock.owner') await new Promise((r) => setTimeout(r, 300));
      return real.writeFileAtomic(...args);
    },
  };
});

const { lockDataDir, OWNER_NAME, SOCKET_NAME } = await import('../../src/engine/data-dir-lock.js');

/** True when the lock socket answers as a holder does (a line from its event loop). */
function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(socketPath);
    let heard = '';
    socket.on('data', (chunk: Buffer) => (heard += chunk.toString('latin1')));
    socket.once('end', () => resolve(heard.startsWith('driftlock')));
    socket.once('error', () => resolve(false));
    socket.setTimeout(1000, () => (socket.destroy(), resolve(false)));
  });
}

describe('data_dir lock: the holder record', () => {
  it('names the process whose socket answers, from the first answer on (not the record a killed holder left)', async () => {
    const dir = await tempDir('dl-lock-owner-');
    const dataDir = path.join(dir, 'data');
    const ownerFile = path.join(dataDir, OWNER_NAME);
    // What a holder killed before leaves: its record (its lock folder went stale and was removed).
    await mkdir(dataDir, { recursive: true });
    await writeFile(ownerFile, `${JSON.stringify({ pid: 999_999, host: 'gone', since: '2026-01-01T00:00:00.000Z' })}\n`);
    const locking = lockDataDir(dataDir, pino({ level: 'silent' }));
    let settled = false;
    void locking.finally(() => (settled = true));
    const seen: string[] = [];
    // Asked over and over, as daemons started meanwhile would: each time the socket answers, the record.
    while (!settled) {
      if (await answers(path.join(dataDir, SOCKET_NAME))) seen.push(JSON.parse(await readFile(ownerFile, 'utf8')).host as string);
      await new Promise((r) => setTimeout(r, 10));
    }
    const release = await locking;
    try {
      expect(seen.length, 'the socket answered while the lock was being taken').toBeGreaterThan(0);
      expect(seen.filter((host) => host === 'gone'), seen.join(', ')).toEqual([]);
      expect(JSON.parse(await readFile(ownerFile, 'utf8')).pid).toBe(process.pid);
    } finally {
      await release();
    }
  });
});
