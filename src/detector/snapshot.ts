/**
 * Detector state as plain JSON, so that a restart resumes with the same baselines instead of a new warm-up.
 * The version guards against reading a snapshot written by an incompatible build: such a file is ignored.
 */
import type { Detector } from './detector.js';
import { StreamDetector, type StreamSnapshot } from './stream.js';

export const SNAPSHOT_VERSION = 1;

export interface DetectorSnapshot {
  version: number;
  savedAt: number;
  streams: StreamSnapshot[];
}

export function snapshotDetector(detector: Detector): DetectorSnapshot {
  return { version: SNAPSHOT_VERSION, savedAt: Date.now(), streams: detector.streamIds().map((id) => detector.peek(id)!.toJSON()) };
}

/** The first line of a snapshot written as lines. */
export interface SnapshotHeader {
  driftlock: 'detector-state';
  version: number;
  savedAt: number;
  streams: number;
}

/**
 * A snapshot as JSON lines: a header, then one line per stream, made one at a time. As one JSON text, the
 * state of some 8,000 streams (64K-character windows) is longer than the longest string V8 can hold, and
 * could not be saved at all; and one stream's line is made at a time, so the caller can write it and let
 * events through in between.
 */
export function* snapshotLines(detector: Detector): Generator<string> {
  const ids = detector.streamIds();
  const header: SnapshotHeader = { driftlock: 'detector-state', version: SNAPSHOT_VERSION, savedAt: Date.now(), streams: ids.length };
  yield `${JSON.stringify(header)}\n`;
  for (const id of ids) {
    const stream = detector.peek(id);
    // A stream evicted while the lines were being written is simply not in the snapshot.
    if (stream) yield `${JSON.stringify(stream.toJSON())}\n`;
  }
}

/** Whether a snapshot's first line is the header of one written as lines. */
export function isSnapshotHeader(value: unknown): value is SnapshotHeader {
  return typeof value === 'object' && value !== null && (value as SnapshotHeader).driftlock === 'detector-state';
}

/** Checks a header's version: a snapshot of another version throws (it starts a new warm-up). */
export function checkSnapshotHeader(header: SnapshotHeader): void {
  if (header.version !== SNAPSHOT_VERSION) throw unsupportedSnapshot(header.version);
}

function unsupportedSnapshot(version: unknown): Error {
  return new Error(`unsupported detector snapshot (version ${String(version)}; expected ${SNAPSHOT_VERSION})`);
}

/** What a restore did: the streams restored, and those whose state could not be read (they start a new warm-up). */
export interface RestoreResult {
  streams: number;
  failed: Array<{ id: string; error: string }>;
}

/**
 * Restores streams from a snapshot into an empty detector. A stream whose state cannot be read is left out
 * (it starts a new warm-up) and named in `failed`; the others are restored. A snapshot that is not one, or of
 * another version, throws.
 */
export function restoreDetector(detector: Detector, snapshot: DetectorSnapshot): RestoreResult {
  if (!snapshot || snapshot.version !== SNAPSHOT_VERSION || !Array.isArray(snapshot.streams)) {
    throw unsupportedSnapshot(snapshot?.version);
  }
  const result: RestoreResult = { streams: 0, failed: [] };
  for (const data of snapshot.streams) restoreStream(detector, data, result);
  return result;
}

/** Restores one stream's state into the detector, or notes in `result` why it could not be read. */
export function restoreStream(detector: Detector, data: StreamSnapshot, result: RestoreResult): void {
  let stream: StreamDetector;
  try {
    if (!data || typeof data !== 'object' || typeof data.id !== 'string') throw new Error('no stream id');
    stream = StreamDetector.fromJSON(data, detector.options);
  } catch (err) {
    const id = data && typeof data === 'object' && typeof data.id === 'string' ? data.id : '?';
    result.failed.push({ id, error: (err as Error).message });
    return;
  }
  detector.adopt(stream);
  result.streams += 1;
}

/** A restore's outcome in words: `3 streams`, or `2 streams; 1 could not be read (stream "x": ...) and starts a new warm-up`. */
export function describeRestore(r: RestoreResult): string {
  const streams = `${r.streams} stream${r.streams === 1 ? '' : 's'}`;
  if (r.failed.length === 0) return streams;
  const shown = r.failed.slice(0, 3).map((f) => `stream ${JSON.stringify(f.id)}: ${f.error}`).join('; ');
  const more = r.failed.length > 3 ? `; and ${r.failed.length - 3} more` : '';
  return `${streams}; ${r.failed.length} could not be read (${shown}${more}) and start${r.failed.length === 1 ? 's' : ''} a new warm-up`;
}
