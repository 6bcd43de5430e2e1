/**
 * The layouts Kubernetes log agents tail, with real files, only the watcher finding things (the periodic
 * checks and scans an hour away) while other pods' files are written 100 times a second:
 *
 * - `/var/log/containers/<pod>_<ns>_<container>-<id>.log`, links to `/var/log/pods/<ns>_<pod>_<uid>/<container>/0.log`,
 *   included as `containers/*.log`. chokidar watches a link as the file it pointed to when found; when the
 *   link was pointed to `1.log` (a container restarted) or `0.log` renamed and created again (the kubelet's
 *   rotation), the new file's lines were not told (they waited for `check_interval`). The links are
 *   followed into their targets' folders now (see `LinkTargets` in src/inputs/file/discovery.ts).
 * - a glob of the files three folders below `pods` (one folder a pod, one a container): a new pod's
 *   folder, and one deleted and made again, found without the scan.
 */
import { appendFile, mkdir, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { numbered, startedFileInputs, tempDir, type RunningFileInput } from '../helpers/file-input.js';

const start = startedFileInputs();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** How long a line may take through notifications on a loaded host (the checks are an hour away). */
const NOTIFIED_MS = 5000;

/** A container's log file under `pods`, as the kubelet lays it out; `link` adds its link under `containers`. */
async function addPod(dir: string, pod: string, lines = '', link = true): Promise<string> {
  const folder = path.join(dir, 'pods', `default_${pod}_uid-${pod}`, 'app');
  await mkdir(folder, { recursive: true });
  const file = path.join(folder, '0.log');
  await writeFile(file, lines);
  if (link) await symlink(file, path.join(dir, 'containers', `${pod}_default_app-c0.log`));
  return file;
}

/** Appends a numbered line to each of `files` every 10 ms (lines `<pod>/<file>-000000` ...) until stopped. */
function writeBusily(files: string[]): { stop(): Promise<string[]> } {
  const written: string[] = [];
  const counts = new Map<string, number>();
  let running = true;
  const loop = (async () => {
    while (running) {
      for (const file of files) {
        const n = counts.get(file) ?? 0;
        await appendFile(file, numbered(lineName(file), n, 1));
        written.push(numbered(lineName(file), n, 1).trimEnd());
        counts.set(file, n + 1);
      }
      await sleep(10);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return written;
    },
  };
}

function lineName(file: string): string {
  return `${path.basename(path.dirname(path.dirname(file)))}/${path.basename(file)}`;
}

/** Every line written read once, none twice. */
function expectEachOnce(input: RunningFileInput, written: string[]): void {
  const bodies = input.bodies();
  const seen = new Map<string, number>();
  for (const b of bodies) seen.set(b, (seen.get(b) ?? 0) + 1);
  expect(written.filter((line) => !seen.has(line)), 'lines not read').toEqual([]);
  expect([...seen].filter(([, n]) => n > 1), 'lines read twice').toEqual([]);
  expect(bodies.length).toBe(written.length);
}

async function watching(input: RunningFileInput): Promise<void> {
  await input.until(() => input.logs.includes('watching for file changes'), 'the watcher');
}

describe('file input: Kubernetes node layouts', () => {
  it('containers/*.log links: reads what is appended to the pods\' files, a new pod\'s file and a restarted container\'s new link through notifications while other pods are written to', async () => {
    const dir = await tempDir();
    await mkdir(path.join(dir, 'containers'));
    const files: string[] = [];
    for (let i = 0; i < 5; i++) files.push(await addPod(dir, `pod${i}`));
    const input = start({ dataDir: path.join(dir, 'data'), config: { include: [path.join(dir, 'containers', '*.log')], start_at: 'beginning', check_interval: '1h', scan_interval: '1h' } });
    await watching(input);
    const busy = writeBusily(files.slice(1));
    await input.until(() => input.bodies().includes('default_pod4_uid-pod4/0.log-000009'), 'lines appended to the links\' targets', NOTIFIED_MS);
    await sleep(1000);
    const written = numbered('new', 0, 3).trimEnd().split('\n');
    await addPod(dir, 'new', numbered('new', 0, 3));
    await input.until(() => input.bodies().includes('new-000002'), 'the new pod\'s lines', NOTIFIED_MS);
    // A container restarted as the kubelet does it: a link of a new name to 1.log, the old link removed later.
    await appendFile(files[0]!, numbered('restarted-0', 0, 3));
    const next = path.join(path.dirname(files[0]!), '1.log');
    await writeFile(next, numbered('restarted-1', 0, 3));
    await symlink(next, path.join(dir, 'containers', 'pod0_default_app-c1.log'));
    await unlink(path.join(dir, 'containers', 'pod0_default_app-c0.log'));
    written.push(...['restarted-0', 'restarted-1'].flatMap((p) => numbered(p, 0, 3).trimEnd().split('\n')));
    await input.until(() => input.bodies().includes('restarted-1-000002'), 'the restarted container\'s lines', NOTIFIED_MS);
    written.push(...(await busy.stop()));
    await input.until(() => input.events.length >= written.length, 'every line written', NOTIFIED_MS);
    await sleep(300);
    expectEachOnce(input, written);
  });

  it.each([false, true])('containers/*.log links: goes on reading a pod whose container restarted (its link now to 1.log) or whose 0.log the kubelet rotated, each line once (use_polling: %s)', async (usePolling) => {
    const dir = await tempDir();
    await mkdir(path.join(dir, 'containers'));
    const files: string[] = [];
    for (let i = 0; i < 4; i++) files.push(await addPod(dir, `pod${i}`));
    const input = start({ dataDir: path.join(dir, 'data'), config: { include: [path.join(dir, 'containers', '*.log')], start_at: 'beginning', check_interval: '1h', scan_interval: '1h', use_polling: usePolling } });
    await watching(input);
    const busy = writeBusily(files.slice(2));
    const written: string[] = [];
    const [restarted, rotated] = files as [string, string];
    await appendFile(restarted, numbered('restarted-0', 0, 3));
    await appendFile(rotated, numbered('rotated-0', 0, 3));
    await input.until(() => input.bodies().includes('restarted-0-000002') && input.bodies().includes('rotated-0-000002'), 'the first lines', NOTIFIED_MS);
    // The container's last line, then its link pointed to the new container's file (replaced at once, by a
    // rename): inside chokidar's 5 ms after the line's change, it drops the link's change.
    const next = path.join(path.dirname(restarted), '1.log');
    await writeFile(next, '');
    const link = path.join(dir, 'containers', 'pod0_default_app-c0.log');
    await symlink(next, `${link}.new`);
    await appendFile(restarted, numbered('restarted-0', 3, 1));
    await rename(`${link}.new`, link);
    // The kubelet's rotation: 0.log renamed to a dated name, a new 0.log.
    await appendFile(rotated, numbered('rotated-0', 3, 1));
    await rename(rotated, `${rotated}.20260101-000000`);
    await writeFile(rotated, '');
    for (let i = 0; i < 5; i++) {
      await appendFile(next, numbered('restarted-1', i, 1));
      await appendFile(rotated, numbered('rotated-1', i, 1));
      await sleep(100);
    }
    written.push(...['restarted-0', 'rotated-0'].flatMap((p) => numbered(p, 0, 4).trimEnd().split('\n')));
    written.push(...['restarted-1', 'rotated-1'].flatMap((p) => numbered(p, 0, 5).trimEnd().split('\n')));
    // Before: the lines of 1.log and of the new 0.log were read at the next check (never, here).
    await input.until(() => input.bodies().includes('restarted-1-000004') && input.bodies().includes('rotated-1-000004'), 'the lines of the restarted container\'s and of the rotated log\'s new files', NOTIFIED_MS);
    written.push(...(await busy.stop()));
    await input.until(() => input.events.length >= written.length, 'every line written', NOTIFIED_MS);
    await sleep(300);
    expectEachOnce(input, written);
  });

  it('pods/*/*/*.log: finds the file of a new pod folder, and of one deleted and made again, through notifications while other pods are written to', async () => {
    const dir = await tempDir();
    const files: string[] = [];
    for (let i = 0; i < 5; i++) files.push(await addPod(dir, `pod${i}`, '', false));
    const input = start({ dataDir: path.join(dir, 'data'), config: { include: [path.join(dir, 'pods', '*', '*', '*.log')], start_at: 'beginning', check_interval: '1h', scan_interval: '1h' } });
    await watching(input);
    const busy = writeBusily(files.slice(1));
    const written: string[] = [];
    await input.until(() => input.bodies().includes('default_pod4_uid-pod4/0.log-000009'), 'lines appended to the pods\' files', NOTIFIED_MS);
    // New pods: one at once after another, then one a while after (each folder's listing is held at most a second).
    for (const [pod, pause] of [['new0', 0], ['new1', 0], ['new2', 1200]] as const) {
      await sleep(pause);
      await addPod(dir, pod, numbered(pod, 0, 3), false);
      written.push(...numbered(pod, 0, 3).trimEnd().split('\n'));
      await input.until(() => input.bodies().includes(`${pod}-000002`), `the first lines of ${pod}`, NOTIFIED_MS);
    }
    // A pod deleted and made again under the same path.
    await appendFile(files[0]!, numbered('gone', 0, 2));
    await input.until(() => input.bodies().includes('gone-000001'), 'the deleted pod\'s lines', NOTIFIED_MS);
    await rm(path.dirname(path.dirname(files[0]!)), { recursive: true });
    await addPod(dir, 'pod0', numbered('again', 0, 3), false);
    written.push(...numbered('gone', 0, 2).trimEnd().split('\n'), ...numbered('again', 0, 3).trimEnd().split('\n'));
    await input.until(() => input.bodies().includes('again-000002'), 'the lines of the pod made again', NOTIFIED_MS);
    written.push(...(await busy.stop()));
    await input.until(() => input.events.length >= written.length, 'every line written', NOTIFIED_MS);
    await sleep(300);
    expectEachOnce(input, written);
  });
});
