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

/** Restores streams from a snapshot into an empty detector; returns how many. */
export function restoreDetector(detector: Detector, snapshot: DetectorSnapshot): number {
  if (!snapshot || snapshot.version !== SNAPSHOT_VERSION || !Array.isArray(snapshot.streams)) {
    throw new Error(`unsupported detector snapshot (version ${String(snapshot?.version)}; expected ${SNAPSHOT_VERSION})`);
  }
  for (const data of snapshot.streams) detector.adopt(StreamDetector.fromJSON(data, detector.options));
  return snapshot.streams.length;
}
