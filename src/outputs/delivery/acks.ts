/**
 * Acknowledging a batch whose events go separate ways (sent at once, merged into a later summary, filtered
 * out): the batch is acked once every part has settled, with the worst status of any part.
 */
import { ackBatch, type AckStatus, type Batch } from '../../engine/acknowledgement.js';

const RANK: Record<AckStatus, number> = { delivered: 0, dropped: 1, rejected: 2, abandoned: 3 };

export type Settle = (status: AckStatus) => void;

/** Returns `parts` settle functions; the batch is acked when all of them have been called (each once). */
export function splitAck(batch: Batch, parts: number): Settle[] {
  if (parts <= 0) {
    ackBatch(batch);
    return [];
  }
  let left = parts;
  let worst: AckStatus = 'delivered';
  const settles: Settle[] = [];
  for (let i = 0; i < parts; i++) {
    let called = false;
    settles.push((status) => {
      if (called) return;
      called = true;
      if (RANK[status] > RANK[worst]) worst = status;
      left -= 1;
      if (left === 0) ackBatch(batch, worst);
    });
  }
  return settles;
}
