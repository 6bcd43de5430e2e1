/**
 * Checks that the cheap conditional code length ranks events like a real compressor: for a sample of lines,
 * the Spearman rank correlation between `LzWindow`'s conditional bits and the size of the line deflated with
 * the preceding 32 KiB of lines as a preset dictionary (zlib). Used by `npm run eval`.
 */
import { deflateRawSync } from 'node:zlib';
import { LzWindow } from './lz-window.js';
import { maskVolatile } from './mask.js';

function ranks(values: number[]): number[] {
  const order = values.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]);
  const r = new Array<number>(values.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && order[j + 1]![0] === order[i]![0]) j++;
    for (let k = i; k <= j; k++) r[order[k]![1]] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return r;
}

export function spearman(a: number[], b: number[]): number {
  const ra = ranks(a);
  const rb = ranks(b);
  const n = a.length;
  const mean = (n + 1) / 2;
  let num = 0;
  let da = 0;
  let db = 0;
  for (let i = 0; i < n; i++) {
    num += (ra[i]! - mean) * (rb[i]! - mean);
    da += (ra[i]! - mean) ** 2;
    db += (rb[i]! - mean) ** 2;
  }
  return num / Math.sqrt(da * db);
}

export function compressorCorrelation(
  lines: string[],
  options: { sample?: number; warmup?: number } = {},
): { spearman: number; sample: number; oursMicros: number; deflateMicros: number } {
  const warmup = options.warmup ?? 200;
  const sample = options.sample ?? 1000;
  const window = new LzWindow(1 << 15);
  let dictionary = '';
  const ours: number[] = [];
  const deflate: number[] = [];
  let oursNs = 0n;
  let deflateNs = 0n;
  lines.forEach((line, i) => {
    const masked = maskVolatile(line);
    if (i >= warmup && ours.length < sample) {
      const t0 = process.hrtime.bigint();
      ours.push(window.cost(masked).conditionalBits);
      const t1 = process.hrtime.bigint();
      const dict = Buffer.from(dictionary.slice(-32768));
      deflate.push(deflateRawSync(Buffer.from(masked), { dictionary: dict, level: 9 }).length);
      oursNs += t1 - t0;
      deflateNs += process.hrtime.bigint() - t1;
    }
    window.append(masked);
    dictionary += masked + '\n';
    if (dictionary.length > 65536) dictionary = dictionary.slice(-32768);
  });
  const n = Math.max(1, ours.length);
  return { spearman: spearman(ours, deflate), sample: ours.length, oursMicros: Number(oursNs) / 1e3 / n, deflateMicros: Number(deflateNs) / 1e3 / n };
}
