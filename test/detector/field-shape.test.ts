import { describe, expect, it } from 'vitest';
import { Detector } from '../../src/detector/index.js';
import { restoreDetector, snapshotDetector } from '../../src/detector/snapshot.js';
import { AccessLogGenerator } from '../../src/inputs/demo.js';

/** The states of a stream's fields, read from the outside (they are private). */
function fieldStates(d: Detector, stream: string): Map<string, object> {
  return (d.peek(stream) as unknown as { fields: Map<string, object> }).fields;
}

describe('field states', () => {
  // Every field's state has the same properties in the same order, whatever the field holds (numbers, a
  // category, free text, a mask cache): then V8 gives them one hidden class, and the code that reads them
  // stays monomorphic. Properties added as each field needed them gave each kind of field a shape of its
  // own, and each new stream's fields passed through more shapes while they filled (the code was
  // deoptimized for them).
  it('share one set of properties, in one order, fresh and restored', () => {
    const gen = new AccessLogGenerator(3);
    const d = new Detector();
    let t = Date.UTC(2025, 0, 1);
    for (let i = 0; i < 1500; i++) {
      const { timestamp: _, ...fields } = gen.record((t += 100));
      d.observe('s', { time: t, text: '', fields: { ...fields, msg: i % 3 ? 'request completed' : 'slow upstream', level: 'info' } });
    }
    const fresh = [...fieldStates(d, 's')];
    expect(fresh.length).toBeGreaterThanOrEqual(8);
    const keys = Object.keys(fresh[0]![1]);
    for (const [name, state] of fresh) expect({ name, keys: Object.keys(state) }).toEqual({ name, keys });

    const restored = new Detector();
    restoreDetector(restored, snapshotDetector(d));
    for (const [name, state] of fieldStates(restored, 's')) expect({ name, keys: Object.keys(state) }).toEqual({ name, keys });
  });
});
