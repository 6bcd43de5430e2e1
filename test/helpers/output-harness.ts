/** Runs an output stage directly (no daemon): feed batches, see their acknowledgements, its logs and metrics. */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Finalizer, type AckStatus } from '../../src/engine/acknowledgement.js';
import type { AnyComponentDefinition, BuildContext, ComponentContext, OutputStage } from '../../src/engine/component.js';
import type { LogEvent } from '../../src/engine/event.js';
import { ComponentMetrics } from '../../src/engine/metrics.js';
import { batchChannel } from './batch-channel.js';

export interface OutputRun {
  /** Sends one batch; the promise resolves with its acknowledgement status. */
  push(events: LogEvent[]): Promise<AckStatus>;
  /** Ends the input (graceful end) and waits for the output to return. */
  end(): Promise<void>;
  /** Aborts the hard-stop signal (shutdown timeout) and waits for the output to return. */
  abort(): Promise<void>;
  done: Promise<void>;
  logs: Array<Record<string, unknown>>;
  metrics: ComponentMetrics;
}

export async function runOutput(def: AnyComponentDefinition, config: Record<string, unknown>, dataDir: string, id = 'out'): Promise<OutputRun> {
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const logger = pino({ level: 'debug' }, sink);
  const buildCtx: BuildContext = { id, logger, dataDir, configDir: dataDir };
  const stage = (await def.build(def.config.parse({ ...config }), buildCtx)) as OutputStage;
  const controller = new AbortController();
  const metrics = new ComponentMetrics(id, 'output', def.type);
  const ctx: ComponentContext = { id, logger, dataDir, metrics, signal: controller.signal };
  const source = batchChannel();
  const done = stage.consume(source, ctx);
  return {
    push(events) {
      return new Promise<AckStatus>((resolve) => source.push({ events, finalizers: [new Finalizer(resolve)] }));
    },
    async end() {
      source.end();
      await done;
    },
    async abort() {
      controller.abort();
      source.end();
      await done;
    },
    done,
    logs,
    metrics,
  };
}

let seq = 0;

/** An event flagged by the detector. */
export function anomalyEvent(over: { stream?: string; kind?: string; confidence?: number; why?: string; field?: string; template?: string; body?: LogEvent['body']; time?: number } = {}): LogEvent {
  seq += 1;
  const anomaly: Record<string, string | number> = {
    kind: over.kind ?? 'field_value',
    score: 12.5,
    confidence: over.confidence ?? 0.995,
    why: over.why ?? `response_time 4.8 is 107x its typical 0.045 (p99 0.10) #${seq}`,
    stream_id: over.stream ?? 'nginx-logs',
    template: over.template ?? '<*> GET /api/v1/orders HTTP/1.1',
  };
  if (over.field !== undefined || over.kind === undefined) anomaly.field = over.field ?? 'response_time';
  return {
    timestamp: over.time ?? Date.parse('2026-11-25T16:31:11.701Z') + seq,
    observedTimestamp: Date.now(),
    body: over.body ?? { request: 'GET /api/v1/orders?page=4 HTTP/1.1', status: 200, response_time: 4.8, n: seq },
    attributes: { anomaly },
    source: { input: 'test' },
  };
}
