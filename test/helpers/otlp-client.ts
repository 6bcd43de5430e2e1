/** A raw grpc-js client for the OTLP LogsService: sends bytes (or an object encoded with driftlock's protos). */
import * as grpc from '@grpc/grpc-js';
import { EXPORT_LOGS_PATH, logsServiceCodec, type ExportLogsServiceResponse } from '../../src/inputs/otlp-grpc/proto.js';

export interface ExportResult {
  error: grpc.ServiceError | null;
  response: ExportLogsServiceResponse | undefined;
}

export class RawOtlpClient {
  readonly client: grpc.Client;

  constructor(port: number, options: grpc.ClientOptions = {}, credentials = grpc.credentials.createInsecure(), host = '127.0.0.1') {
    this.client = new grpc.Client(`${host.includes(':') ? `[${host}]` : host}:${port}`, credentials, options);
  }

  /** `callOptions.deadline` sets the call's deadline; `onCall` gets the call (to cancel it). */
  exportBytes(bytes: Buffer, metadata = new grpc.Metadata(), callOptions: grpc.CallOptions = {}, onCall?: (call: grpc.ClientUnaryCall) => void): Promise<ExportResult> {
    return new Promise((resolve) => {
      const call = this.client.makeUnaryRequest<Buffer, Buffer>(EXPORT_LOGS_PATH, (b) => b, (b) => b, bytes, metadata, callOptions, (error, response) => {
        resolve({ error: error ?? null, response: response ? logsServiceCodec().decodeResponse(response) : undefined });
      });
      onCall?.(call);
    });
  }

  export(request: unknown, metadata?: grpc.Metadata, callOptions?: grpc.CallOptions, onCall?: (call: grpc.ClientUnaryCall) => void): Promise<ExportResult> {
    return this.exportBytes(Buffer.from(logsServiceCodec().encodeRequest(request)), metadata, callOptions, onCall);
  }

  close(): void {
    this.client.close();
  }
}

/** A request with `n` simple records of one resource and scope. */
export function simpleRequest(n: number, text = (i: number) => `record ${i}`): unknown {
  return {
    resourceLogs: [{
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'bench' } }] },
      scopeLogs: [{
        scope: { name: 'load', version: '1' },
        logRecords: Array.from({ length: n }, (_, i) => ({
          timeUnixNano: String(BigInt(Date.now()) * 1_000_000n + BigInt(i)),
          severityNumber: 9,
          severityText: 'INFO',
          body: { stringValue: text(i) },
          attributes: [{ key: 'i', value: { intValue: i } }],
        })),
      }],
    }],
  };
}
