/** `driftlock stream|scan --state`: the state file of the command line's detector. */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LineDetector } from '../../src/cli/detect.js';
import { Detector } from '../../src/detector/index.js';
import { loadDetectorState } from '../../src/transforms/anomaly-detect.js';
import { T0 } from './baseline.js';
import { tempDir } from '../helpers/temp.js';

describe('LineDetector.save', () => {
  it('runs saves one after another: a periodic save and the final one at once both land, the file whole', async () => {
    const dir = await tempDir('driftlock-detect-state-');
    const state = path.join(dir, 'detector.json');
    const ld = new LineDetector({ format: 'text', profile: 'balanced', state, maxLineBytes: 1 << 20 });
    for (let s = 0; s < 300; s++) for (let i = 0; i < 20; i++) ld.detector.observe(`s${s}`, { time: T0 + i * 1000, text: `user ${i} of ${s} logged in` });
    // Before, both wrote the same temp file: one rename found it gone (ENOENT), and the writes could mix.
    await Promise.all([ld.save(), ld.save(), ld.save()]);
    const copy = new Detector();
    expect(await loadDetectorState(copy, state)).toEqual({ streams: 300, failed: [] });
    expect(copy.stream('s299').events).toBe(20);
  });
});
