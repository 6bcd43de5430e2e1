import { describe, expect, it } from 'vitest';
import { TemplateMiner, templateText } from '../../src/detector/drain.js';
import { mulberry32, pick } from './baseline.js';

/** Messages of a few shapes with variable words, so that templates are made, widened and evicted. */
function messages(seed: number, count: number): Array<{ text: string; severity: string; withSeverity: boolean }> {
  const rnd = mulberry32(seed);
  const verbs = ['GET', 'POST', 'HEAD', 'PUT'];
  const words = ['users', 'orders', 'login', 'static', 'health', 'cart', 'search', 'admin', 'api', 'v1'];
  const out: Array<{ text: string; severity: string; withSeverity: boolean }> = [];
  for (let i = 0; i < count; i++) {
    const shape = Math.floor(rnd() * 5);
    const w = () => pick(rnd, words);
    const text = shape === 0 ? `${pick(rnd, verbs)} /${w()}/${w()} HTTP/1.1`
      : shape === 1 ? `connection from ${w()} closed by ${w()}`
        : shape === 2 ? `${w()} ${w()} ${w()} ${w()}`
          : shape === 3 ? (rnd() < 0.5 ? '' : '   ')
            : `job ${w()} finished in \uE005 ms with ${w()}`;
    out.push({ text, severity: pick(rnd, ['', 'INFO', 'ERROR']), withSeverity: rnd() < 0.5 });
  }
  return out;
}

describe('TemplateMiner.addMessage', () => {
  it('joins every message to the template add() would give its tokens, though it skips the search for repeats', () => {
    for (const seed of [1, 2, 3]) {
      // Small limits: leaves and the whole miner evict, so remembered matches must be forgotten in time.
      const options = { maxClusters: 3, maxTemplates: 12 };
      const cached = new TemplateMiner(options);
      const plain = new TemplateMiner(options);
      let t = 0;
      for (const m of messages(seed, 3000)) {
        t += 10;
        const tokens = TemplateMiner.tokenize(m.text);
        if (m.withSeverity && m.severity) tokens.push(`[${m.severity}]`);
        if (tokens.length === 0) tokens.push('<empty>');
        const want = plain.add(tokens, t, true, m.severity);
        const got = cached.addMessage(m.text, t, m.severity, m.withSeverity);
        expect({ id: got.template.id, isNew: got.isNew, text: templateText(got.template), count: got.template.count })
          .toEqual({ id: want.template.id, isNew: want.isNew, text: templateText(want.template), count: want.template.count });
      }
      expect(cached.templates().map((x) => [x.id, templateText(x), x.count, x.lastSeen]))
        .toEqual(plain.templates().map((x) => [x.id, templateText(x), x.count, x.lastSeen]));
    }
  });

  it('forgets what it remembered when templates are restored, and bounds the messages it remembers', () => {
    const miner = new TemplateMiner();
    const first = miner.addMessage('user alice logged in', 1, 'INFO', false).template;
    expect(miner.addMessage('user alice logged in', 2, 'INFO', false).template).toBe(first);
    // Restored templates replace nothing here, but a restore voids remembered matches all the same.
    miner.restore([{ ...first, id: 99, tokens: ['user', 'alice', 'logged', 'in'], count: 5, key: first.key, severity: 'INFO' }]);
    const after = miner.addMessage('user alice logged in', 3, 'INFO', false).template;
    expect(after.id).toBe(first.id);
    for (let i = 0; i < 5000; i++) miner.addMessage(`request ${'x'.repeat(i % 300)} done`, 10 + i, '', false);
    expect(miner.cacheBytes).toBeLessThanOrEqual(2 * 32_768 + 64 * 1024);
  });
});
