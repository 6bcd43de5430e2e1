/**
 * Taps: a live look at the events a component sends on, for people debugging a pipeline (`driftlock tap`,
 * over the API's `GET /tap`), as Vector's `vector tap`. A producer (an input or a transform) offers each batch
 * it sends to the taps watching it; with no tap open that costs one property read a batch.
 *
 * A tap never holds the pipeline up: its sink takes the events at once (the API writes them as JSON lines,
 * dropping what a slow reader has no room for), and a sink that throws is removed.
 */
import type { LogEvent } from './event.js';

/** Takes the events a watched component sends, and its id; called synchronously as the batch goes by. */
export type TapSink = (component: string, events: readonly LogEvent[]) => void;

/** Hears, after a reload, the producers a tap's patterns match in the new pipeline (none: all gone or renamed). */
export type TapProducers = (watched: readonly string[]) => void;

interface Tap {
  matches: (component: string) => boolean;
  sink: TapSink;
  producers?: TapProducers;
}

/**
 * A pattern of component ids: an id, or one with `*` for any characters (`parse_*`); `*` alone is every
 * producer.
 */
export function tapPattern(patterns: readonly string[]): (component: string) => boolean {
  const exact = new Set(patterns.filter((p) => !p.includes('*')));
  const globs = patterns.filter((p) => p.includes('*')).map((p) => new RegExp(`^${p.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`));
  return (component) => exact.has(component) || globs.some((g) => g.test(component));
}

export class Taps {
  private readonly open = new Set<Tap>();

  /** Whether any tap is open: producers check this before anything else. */
  get active(): boolean {
    return this.open.size > 0;
  }

  /**
   * Opens a tap on the components `matches` accepts; returns the function that closes it. `producers` hears
   * which of them run after each reload (see `producersChanged`).
   */
  watch(matches: (component: string) => boolean, sink: TapSink, producers?: TapProducers): () => void {
    const tap: Tap = { matches, sink, producers };
    this.open.add(tap);
    return () => this.open.delete(tap);
  }

  /** Another pipeline runs (a reload): each tap hears which of these producers its patterns match. */
  producersChanged(ids: readonly string[]): void {
    for (const tap of this.open) tap.producers?.(ids.filter(tap.matches));
  }

  /** A producer's batch, before it goes downstream (where a transform may change its events). */
  offer(component: string, events: readonly LogEvent[]): void {
    for (const tap of this.open) {
      if (!tap.matches(component)) continue;
      try {
        tap.sink(component, events);
      } catch {
        this.open.delete(tap);
      }
    }
  }
}
