/** `console`: writes events to standard output (or error), as JSON lines, raw text, or a readable line. */
import { z } from 'zod';
import { ackBatch } from '../engine/acknowledgement.js';
import { defineOutput } from '../engine/component.js';
import { encodeEvents } from './encoding.js';

export const consoleConfig = z.object({
  target: z.enum(['stdout', 'stderr']).default('stdout').describe('Where to write.'),
  encoding: z.enum(['json', 'text', 'pretty', 'alert']).default('json').describe('`json`: the whole event as one JSON line; `text`: the body alone; `pretty`: time, severity, input and body, for people; `alert`: anomalies (from `anomaly_detect`) as a few readable lines each: stream, kind, confidence, why and the entry (colored on a terminal).'),
});

export const consoleOutput = defineOutput({
  type: 'console',
  description: 'Writes events to standard output or standard error.',
  config: consoleConfig,
  example: { type: 'console', inputs: ['parse_nginx'], encoding: 'pretty' },
  build(config) {
    return {
      async consume(batches, ctx) {
        const stream = config.target === 'stdout' ? process.stdout : process.stderr;
        // A closed pipe (`driftlock ... | head`) must not crash the daemon or loop on restarts.
        let broken: Error | null = null;
        const onError = (err: Error) => {
          if (!broken) ctx.logger.error({ err }, `cannot write to ${config.target}; further events are rejected`);
          broken = err;
        };
        stream.on('error', onError);
        try {
          for await (const batch of batches) {
            if (broken) {
              ackBatch(batch, 'rejected');
              continue;
            }
            const out = encodeEvents(batch.events, config.encoding, Boolean((stream as NodeJS.WriteStream).isTTY) && !process.env.NO_COLOR);
            // The write callback is the acknowledgement, and waiting for it is the backpressure.
            const ok = await new Promise<boolean>((resolve) => stream.write(out, (err) => {
              if (err) onError(err);
              resolve(!err);
            }));
            ackBatch(batch, ok ? 'delivered' : 'rejected');
          }
        } finally {
          stream.off('error', onError);
        }
      },
    };
  },
});
