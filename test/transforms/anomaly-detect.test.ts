/** The anomaly_detect transform's own line reading (format: auto), apart from the detector. */
import { describe, expect, it } from 'vitest';
import type { LogEvent } from '../../src/engine/event.js';
import { anomalyDetectConfig, lineParser } from '../../src/transforms/anomaly-detect.js';

const event = (body: string, attributes: LogEvent['attributes'] = {}): LogEvent => ({ observedTimestamp: 0, body, attributes, source: { input: 't' } });

describe('anomaly_detect format: auto', () => {
  it('parses JSON lines, leaves a line that only looks like JSON unmarked, and keeps an upstream parse.error', async () => {
    const parse = await lineParser('auto');
    const upstream = event('{bad json', { 'parse.error': 'json: invalid JSON: Unexpected token' });
    const [json, looksLike, marked, text] = await parse([event('{"a":1}'), event('{not json'), upstream, event('plain text')]);
    expect(json!.body).toEqual({ a: 1 });
    expect(looksLike!.attributes).toEqual({});
    // Before, the guess deleted the mark the parse transform had set.
    expect(marked!.attributes['parse.error']).toBe('json: invalid JSON: Unexpected token');
    expect(text!.body).toBe('plain text');
  });
});

describe('anomaly_detect threshold', () => {
  it('takes 0 to 0.9999 and refuses 1, which no confidence reaches (it would never flag)', () => {
    expect(anomalyDetectConfig.safeParse({ stream_id: 's', threshold: 0.9999 }).success).toBe(true);
    expect(anomalyDetectConfig.safeParse({ stream_id: 's', threshold: 0 }).success).toBe(true);
    const one = anomalyDetectConfig.safeParse({ stream_id: 's', threshold: 1 });
    expect(one.success).toBe(false);
    expect(one.error?.issues[0]?.path).toEqual(['threshold']);
  });
});
