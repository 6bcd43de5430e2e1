/**
 * Runs one input stage outside the engine with a fake InputContext: records emitted events, lets a test hold
 * `emit` (a full pipeline) and decide each batch's acknowledgement, and captures the input's log lines.
 */
import diagnostics from 'node:diagnostics_channel';
import type net from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { onTestFinished } from 'vitest';
import type { AckStatus } from '../../src/engine/acknowledgement.js';
import type { InputContext, InputStage } from '../../src/engine/component.js';
import type { LogEvent } from '../../src/engine/event.js';
import { ComponentMetrics } from '../../src/engine/metrics.js';
import { fluentForwardConfig, fluentForwardInput, type FluentForwardInput } from '../../src/inputs/fluent-forward/index.js';
import { syslogConfig, syslogInput, type SyslogInput } from '../../src/inputs/syslog/index.js';

export interface InputHarness {
  events: LogEvent[];
  logs: Array<Record<string, unknown>>;
  metrics: ComponentMetrics;
  /** Batches emitted so far, with their ack callbacks. */
  batches: Array<{ events: LogEvent[]; ack: ((status: AckStatus) => void) | undefined }>;
  /** While true, emit() waits (a full pipeline). */
  block(): void;
  unblock(): void;
  /** How batches are acknowledged: 'delivered' at once (default), another status, or 'manual' (the test calls ack). */
  ackWith: AckStatus | 'manual';
  /** Resolves once at least `n` events were emitted. */
  waitForEvents(n: number, timeoutMs?: number): Promise<LogEvent[]>;
  /** Stops the input (aborts its signal) and waits for it; emit stays held if it was (see `abort`). */
  stop(): Promise<void>;
  /** Aborts the input's signal (the daemon begins to stop) without releasing a held emit or waiting. */
  abort(): void;
  done: Promise<void>;
}

export function runInput(stage: InputStage, id = 'net'): InputHarness {
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const logger = pino({ level: 'debug' }, sink);
  const controller = new AbortController();
  let gate: Promise<void> | null = null;
  let openGate: (() => void) | null = null;
  const waiters: Array<() => void> = [];
  const harness: InputHarness = {
    events: [],
    logs,
    metrics: new ComponentMetrics(id, 'input', 'test'),
    batches: [],
    ackWith: 'delivered',
    block() {
      if (!gate) gate = new Promise((r) => (openGate = r));
    },
    unblock() {
      openGate?.();
      gate = null;
      openGate = null;
    },
    waitForEvents(n, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const started = Date.now();
        const check = () => {
          if (harness.events.length >= n) return resolve(harness.events);
          if (Date.now() - started > timeoutMs) return reject(new Error(`timed out waiting for ${n} events (have ${harness.events.length}); logs: ${JSON.stringify(logs.slice(-5))}`));
          setTimeout(check, 10);
        };
        check();
      });
    },
    abort() {
      controller.abort();
    },
    async stop() {
      controller.abort();
      harness.unblock();
      await harness.done;
    },
    done: Promise.resolve(),
  };
  const ctx: InputContext = {
    id,
    logger,
    dataDir: '/nonexistent',
    metrics: harness.metrics,
    signal: controller.signal,
    async emit(events, onAck) {
      while (gate) await gate;
      harness.events.push(...events);
      harness.batches.push({ events, ack: onAck });
      for (const w of waiters.splice(0)) w();
      if (onAck && harness.ackWith !== 'manual') {
        const status = harness.ackWith;
        queueMicrotask(() => onAck(status));
      }
    },
  };
  harness.done = stage.run(ctx);
  harness.done.catch(() => undefined);
  return harness;
}

/**
 * The connections a server of this process (the input under test) accepts on `port` from now on, until the
 * test ends: how many it accepted, how many of those it still has open, and its ends of them (what it has
 * read: `bytesRead`). A test waits on these to know that its input has accepted a connection, read what
 * was sent, or seen one close, where nothing else says (Node's `net.server.socket` diagnostics channel; a
 * connection refused at max_connections is not accepted).
 */
export function watchConnections(port: number): { accepted: () => number; open: () => number; sockets: net.Socket[] } {
  const sockets: net.Socket[] = [];
  let open = 0;
  const onSocket = (message: unknown) => {
    const { socket } = message as { socket: net.Socket };
    if (socket.localPort !== port) return;
    sockets.push(socket);
    open += 1;
    socket.once('close', () => (open -= 1));
  };
  diagnostics.subscribe('net.server.socket', onSocket);
  onTestFinished(() => {
    diagnostics.unsubscribe('net.server.socket', onSocket);
  });
  return { accepted: () => sockets.length, open: () => open, sockets };
}

/** Builds a syslog input on 127.0.0.1 (a free port) with `options`, runs it, and notes it in `running`. */
export async function startSyslog(running: InputHarness[], options: Record<string, unknown> = {}): Promise<{ h: InputHarness; port: number }> {
  const config = syslogConfig.parse({ address: '127.0.0.1:0', ...options });
  const stage = (await syslogInput.build(config, { id: 'syslog', logger: undefined as never, dataDir: '', configDir: '.' })) as SyslogInput;
  const h = runInput(stage, 'syslog');
  running.push(h);
  const { port } = await stage.listening;
  return { h, port };
}

/** Builds a fluent_forward input on 127.0.0.1 (a free port) with `options`, runs it, and notes it in `running`. */
export async function startForward(running: InputHarness[], options: Record<string, unknown> = {}): Promise<{ h: InputHarness; port: number }> {
  const config = fluentForwardConfig.parse({ address: '127.0.0.1:0', ...options });
  const stage = (await fluentForwardInput.build(config, { id: 'fwd', logger: undefined as never, dataDir: '', configDir: '.' })) as FluentForwardInput;
  const h = runInput(stage, 'fwd');
  running.push(h);
  const { port } = await stage.listening;
  return { h, port };
}
