/**
 * The detector: per-stream state, keyed by stream id, with a bounded number of streams (the least recently
 * seen is evicted). Pure computation: no I/O, no timers; the caller supplies event time, and the time on its
 * own clock when it asks for silences (`checkSilence`).
 */
import { StreamDetector, type SilenceEnd } from './stream.js';
import { PROFILES, type Anomaly, type DetectorInput, type DetectorOptions, type Profile } from './types.js';

export interface DetectorConfig {
  profile?: Profile;
  overrides?: Partial<DetectorOptions>;
  maxStreams?: number;
}

export class Detector {
  readonly options: DetectorOptions;
  private readonly maxStreams: number;
  private readonly streams = new Map<string, StreamDetector>();
  /** The most recently used stream: the next event is most often of the same one (no reordering needed). */
  private last: StreamDetector | undefined;
  evictedStreams = 0;
  /**
   * Of those, the streams evicted before their warm-up ended: never scored. Many mean `maxStreams` is below
   * the number of streams that take turns (a stream_id of too fine a grain, or too many sources).
   */
  evictedColdStreams = 0;

  constructor(config: DetectorConfig = {}) {
    this.options = { ...PROFILES[config.profile ?? 'balanced'], ...config.overrides };
    this.maxStreams = config.maxStreams ?? 1000;
  }

  stream(id: string): StreamDetector {
    // The most recently used stream is already last in the map: nothing to move.
    if (this.last !== undefined && this.last.id === id) return this.last;
    return this.install(this.streams.get(id) ?? new StreamDetector(id, this.options));
  }

  /** Installs a stream restored from a snapshot. */
  adopt(stream: StreamDetector): void {
    this.install(stream);
  }

  /** The stream's state, without counting as a use (snapshots, memory estimates). */
  peek(id: string): StreamDetector | undefined {
    return this.streams.get(id);
  }

  /**
   * Makes a stream the most recently used (Map order is insertion order: re-inserting puts it last), then
   * evicts the least recently used ones beyond `maxStreams`.
   */
  private install(stream: StreamDetector): StreamDetector {
    this.streams.delete(stream.id);
    this.streams.set(stream.id, stream);
    while (this.streams.size > this.maxStreams) {
      const [id, oldest] = this.streams.entries().next().value!;
      this.streams.delete(id);
      this.evictedStreams += 1;
      if (oldest.events <= this.options.warmup) this.evictedColdStreams += 1;
    }
    this.last = this.streams.get(stream.id) === stream ? stream : undefined;
    return stream;
  }

  observe(streamId: string, input: DetectorInput): Anomaly | undefined {
    return this.stream(streamId).observe(input);
  }

  /** The end of a silence told while it lasted, found by the stream's last event (once; see `StreamDetector.takeSilenceEnd`). */
  takeSilenceEnd(streamId: string): SilenceEnd | undefined {
    // Asked after each event: the stream it just observed is `last`, with no map lookup.
    const stream = this.last !== undefined && this.last.id === streamId ? this.last : this.streams.get(streamId);
    return stream?.takeSilenceEnd();
  }

  /**
   * Silences while they last, at `now` on the caller's clock (the clock of the events' `receivedAt`): one
   * anomaly for each live stream that is silent now and was not reported yet (see `StreamDetector.tick`).
   * No stream counts as used. A live caller calls it every second or so; a scan of files never does.
   */
  /** The silences just told of these streams were one alert (see `StreamDetector.markSilenceGrouped`). */
  markSilenceGrouped(streamIds: Iterable<string>): void {
    for (const id of streamIds) this.streams.get(id)?.markSilenceGrouped();
  }

  checkSilence(now: number): Anomaly[] {
    const out: Anomaly[] = [];
    for (const stream of this.streams.values()) {
      const a = stream.tick(now);
      if (a) out.push(a);
    }
    return out;
  }

  get streamCount(): number {
    return this.streams.size;
  }

  streamIds(): string[] {
    return [...this.streams.keys()];
  }
}
