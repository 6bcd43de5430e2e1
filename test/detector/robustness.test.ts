import { describe, expect, it } from 'vitest';
import { Detector } from '../../src/detector/index.js';
import { restoreDetector, snapshotDetector, type DetectorSnapshot } from '../../src/detector/snapshot.js';
import { builtModule, runWithGc } from '../helpers/gc-child.js';
import { T0 } from './baseline.js';

describe('detector robustness', () => {
  it('does not mix arrival times into a stream whose events carry their own time', () => {
    const d = new Detector();
    let t = T0;
    for (let i = 0; i < 2000; i++) d.observe('s', { time: (t += 50), text: '', fields: { status: 200, path: '/a' } });
    // A line whose timestamp could not be read arrives "now", years after the stream's event time: no
    // volume drop (a silence) and no spike may come of it.
    const odd = d.observe('s', { time: Date.now(), arrivalTime: true, text: 'garbage without a timestamp' });
    expect(odd?.kind).not.toBe('volume_drop');
    const next = d.observe('s', { time: t + 50, text: '', fields: { status: 200, path: '/a' } });
    expect(next).toBeUndefined();
  });

  it('an Infinity (JSON 1e999) in a field of numbers is flagged as not a number and keeps out of the baseline', () => {
    const d = new Detector();
    let t = T0;
    const ev = (latency: number | string) => ({ time: (t += 1000), text: '', fields: { msg: 'GET /api', latency } });
    for (let i = 0; i < 300; i++) d.observe('s', ev(0.05 + (i % 10) * 0.001));
    const inf = d.observe('s', ev(JSON.parse('1e999') as number));
    expect(inf?.why).toBe('latency is "Infinity" where it has been a number (typical 0.054, p99 0.059)');
    expect(d.observe('s', ev('1e999'))?.field).toBe('latency');
    // The baseline and its snapshot hold no Infinity (a snapshot would write it as null): a restored copy
    // judges the next values as the original does.
    const copy = new Detector();
    restoreDetector(copy, JSON.parse(JSON.stringify(snapshotDetector(d))) as DetectorSnapshot);
    for (const v of [0.052, 0.3, 5]) {
      const input = ev(v);
      expect(copy.observe('s', input)?.why).toBe(d.observe('s', input)?.why);
    }
  });

  it('a silence of the whole stream is reported as a volume drop, not as a heartbeat that stopped', () => {
    const d = new Detector();
    let t = T0;
    const line = (text: string) => ({ time: t, text: `${new Date(t).toISOString()} ${text}` });
    const run = (seconds: number) => {
      const out = [];
      for (let s = 0; s < seconds; s++) {
        for (let k = 0; k < 5; k++) {
          t += 200;
          const a = d.observe('s', line(`INFO served request ${(s * 5 + k) % 97}`));
          if (a) out.push(a);
        }
        if (s % 10 === 0) {
          const a = d.observe('s', line(`INFO heartbeat ok from worker-${s % 3}`));
          if (a) out.push(a);
        }
      }
      return out;
    };
    run(15 * 60);
    t += 105 * 60_000; // 1.75 h without a line
    const after = run(60);
    expect(after.map((a) => a.kind)).toEqual(['volume_drop']);
    expect(after[0]!.why).toMatch(/^volume dropped: no events for 1\.7 h/);
  });

  it('takes a time no Date can hold as no time, and still says why a new error pattern is news', () => {
    const d = new Detector();
    for (let i = 0; i < 300; i++) d.observe('s', { time: 1e19 + i * 1000, text: `user ${i} logged in` });
    // Before, the why's "since <date>" threw a RangeError out of observe.
    for (let i = 0; i < 3; i++) {
      const a = d.observe('s', { time: 1e19 + (300 + i) * 1000, text: 'ERROR database connection refused' });
      expect(a?.why).toMatch(/error pattern/);
      expect(a?.why).not.toMatch(/Invalid|NaN/);
    }
  });

  it('uses arrival times when that is all a stream has', () => {
    const d = new Detector();
    let t = T0;
    for (let i = 0; i < 1200; i++) d.observe('s', { time: (t += 50), arrivalTime: true, text: `INFO served request ${i}` });
    const spike = [];
    for (let i = 0; i < 400; i++) {
      const a = d.observe('s', { time: t + i, arrivalTime: true, text: `INFO served request ${i}` });
      if (a) spike.push(a);
    }
    expect(spike.some((a) => a.kind === 'volume_spike')).toBe(true);
  });

  it('mines an event with fields: null as one without fields (no severity token), as before the message cache', () => {
    const d = new Detector();
    d.observe('s', { time: T0, text: 'disk full on sda', fields: null as unknown as undefined, severity: 17 });
    expect(d.peek('s')!.toJSON().templates.map((t) => t.tokens.join(' '))).toEqual(['disk full on sda']);
  });

  it('reads only the head of a huge event, and a huge event does not flush the baseline', () => {
    const d = new Detector();
    let t = T0;
    const normal = (i: number) => `INFO user ${i} logged in from web`;
    for (let i = 0; i < 1500; i++) d.observe('s', { time: (t += 50), text: normal(i) });
    const huge = 'INFO ' + 'lorem ipsum dolor sit amet '.repeat(200_000);
    const a = d.observe('s', { time: (t += 50), text: huge });
    // What it says is about the head: the template and the quoted text are short.
    if (a) expect(a.why.length + a.template.length).toBeLessThan(2000);
    for (let i = 0; i < 50; i++) expect(d.observe('s', { time: (t += 50), text: normal(2000 + i) })).toBeUndefined();
  });
});

describe('detector memory', () => {
  it('keeps only the heads of huge events and values, not the whole strings (1 MB lines, a message field, another field)', () => {
    // Run in a child with --expose-gc, on the built detector, so that the heap can be measured after a full GC.
    const script = `
      const { Detector } = await import(${builtModule('dist/src/detector/index.js')});
      const d = new Detector();
      // A megabyte each, with a head of words (letters only: nothing masked) that no other line has.
      const word = (n) => { let s = ''; for (let k = 0; k < 8; k++) { s += String.fromCharCode(97 + (n % 26)); n = Math.floor(n / 26) + 7 * k; } return s; };
      const big = (i) => Array.from({ length: 600 }, (_, j) => word(i * 7919 + j * 104729)).join(' ') + ' alpha beta gamma'.repeat(61_400);
      globalThis.gc(); const before = process.memoryUsage().heapUsed;
      let t = ${T0};
      for (let i = 0; i < 100; i++) {
        d.observe('text', { time: (t += 1000), text: big(i) });
        d.observe('message-field', { time: t, text: 'x', fields: { msg: big(i), level: 'info' } });
        d.observe('other-field', { time: t, text: 'x', fields: { message: 'done', payload: big(i) } });
      }
      globalThis.gc();
      process.stdout.write(String(process.memoryUsage().heapUsed - before));`;
    const out = runWithGc(script);
    const retained = Number(out);
    // 300 MB of lines went through three streams; each keeps the heads it read (before: 30+ MiB, the
    // lines that the heads were views of).
    expect(retained).toBeGreaterThan(0);
    expect(retained).toBeLessThan(12 * 2 ** 20);
  });
});

describe('TemplateMiner.tokenize', () => {
  it('splits like split(/\\s+/) (Unicode spaces too), dropping empty tokens, at most 64', async () => {
    const { TemplateMiner } = await import('../../src/detector/drain.js');
    for (const text of ['  a  b\tc\r\n', '', '   ', 'x\u00a0y\u2003z', 'one', Array.from({ length: 80 }, (_, i) => `t${i}`).join(' ')]) {
      expect(TemplateMiner.tokenize(text)).toEqual(text.split(/\s+/).filter(Boolean).slice(0, 64));
    }
  });
});
