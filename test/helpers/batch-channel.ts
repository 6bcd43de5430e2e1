/** A source of batches that a test feeds step by step, as the engine's buffer feeds an output. */
import type { Batch } from '../../src/engine/acknowledgement.js';

export interface BatchChannel extends AsyncIterable<Batch> {
  push(batch: Batch): void;
  /** No more batches: the output's loop ends once it has taken the queued ones. */
  end(): void;
}

export function batchChannel(): BatchChannel {
  const queue: Batch[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  return {
    push(batch) {
      queue.push(batch);
      wake?.();
    },
    end() {
      ended = true;
      wake?.();
    },
    async *[Symbol.asyncIterator](): AsyncIterator<Batch> {
      while (true) {
        const next = queue.shift();
        if (next) {
          yield next;
          continue;
        }
        if (ended) return;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    },
  };
}
