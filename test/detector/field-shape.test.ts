import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { Detector } from '../../src/detector/index.js';
import { restoreDetector, snapshotDetector } from '../../src/detector/snapshot.js';
import { AccessLogGenerator } from '../../src/inputs/demo.js';
import { builtModule } from '../helpers/gc-child.js';

/** The states of a stream's fields, read from the outside (they are private). */
function fieldStates(d: Detector, stream: string): Map<string, object> {
  return (d.peek(stream) as unknown as { fields: Map<string, object> }).fields;
}

// What V8 sees of a stream's state: the code optimized on the streams before a new one must fit the new one's
// objects too, or it is thrown away and made again while the new stream's events wait.
describe('shapes of a stream state', () => {
  // Every field's state has the same properties in the same order, whatever the field holds (numbers, a
  // category, free text, a mask cache): then V8 gives them one hidden class, and the code that reads them
  // stays monomorphic. Properties added as each field needed them gave each kind of field a shape of its
  // own, and each new stream's fields passed through more shapes while they filled (the code was
  // deoptimized for them).
  it("field states share one set of properties, in one order, fresh and restored", () => {
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

  // The arrays of a stream's event scratch (its candidates, its fields to learn, the names and states of its
  // fields) hold objects from the start: an empty `[]` is one of small integers to V8 until its first object,
  // and a new stream's first candidate (thousands of events in) threw `observe`'s optimized code away.
  it("a new stream's arrays of objects are of V8's kind for objects before they hold any", () => {
    const script = `
      const { Detector } = await import(${builtModule('dist/src/detector/index.js')});
      const d = new Detector();
      const s = d.peek('s') ?? d.stream('s');
      const names = ['candidates', 'pending', 'scanNames', 'scanStates', 'scanValues', 'seenNames', 'seenStates'];
      console.log(JSON.stringify(Object.fromEntries(names.map((n) => [n, %HasObjectElements(s[n])]))));
    `;
    const out = execFileSync(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ candidates: true, pending: true, scanNames: true, scanStates: true, scanValues: true, seenNames: true, seenStates: true });
  });
});
