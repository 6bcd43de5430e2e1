import { describe, expect, it } from 'vitest';
import { createEvent } from '../../src/engine/event.js';
import { lookupField } from '../../src/engine/field-path.js';

describe('field paths', () => {
  it('reach inside attributes whose names hold dots (syslog structured data), ECS bodies with dotted keys, and only own keys', () => {
    const event = createEvent({ 'log.level': 'error', http: { request: { method: 'GET' } }, tags: ['web', 'edge'] }, { input: 'sys' }, 1);
    event.attributes = { 'syslog.appname': 'evntslog', 'syslog.structured_data': { origin: { ip: '10.0.0.1' } } };
    expect(lookupField(event, 'attributes.syslog.appname')).toBe('evntslog');
    expect(lookupField(event, 'attributes.syslog.structured_data.origin.ip')).toBe('10.0.0.1');
    expect(lookupField(event, 'body.log.level')).toBe('error');
    expect(lookupField(event, 'body.http.request.method')).toBe('GET');
    expect(lookupField(event, 'body.tags.1')).toBe('edge');
    expect(lookupField(event, 'body.constructor')).toBeUndefined();
    expect(lookupField(event, 'attributes.toString')).toBeUndefined();
    expect(lookupField(event, 'source.input')).toBe('sys');
  });
});
