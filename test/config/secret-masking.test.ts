import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, secretMasker } from '../../src/logging.js';

describe('secret masking', () => {
  it('masks a secret in a JSON log line also when JSON escapes it (quotes, backslashes, control characters)', () => {
    const secrets = ['pa"ss\\word', 'tab\there', 'plain-token-123'];
    let written = '';
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        written += chunk.toString();
        done();
      },
    });
    const logger = createLogger({ level: 'info', pretty: false, secrets, destination });
    logger.info({ url: `https://x.example/?key=${secrets[0]}`, header: `Bearer ${secrets[1]}`, token: secrets[2] }, 'posting');
    const line = JSON.parse(written.trim()) as Record<string, string>;
    expect(line.url).toBe('https://x.example/?key=<redacted>');
    expect(line.header).toBe('Bearer <redacted>');
    expect(line.token).toBe('<redacted>');
    for (const s of secrets) expect(written).not.toContain(JSON.stringify(s).slice(1, -1));
  });

  it('masks the raw form too (a terminal, the plain text of an error)', () => {
    expect(secretMasker(['pa"ss\\word'])('raw pa"ss\\word here')).toBe('raw <redacted> here');
    expect(secretMasker(['abc'])('abc stays: too short to mask safely')).toBe('abc stays: too short to mask safely');
  });
});
