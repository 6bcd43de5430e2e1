/**
 * The last `capacity` numbers, kept both in arrival order (a ring, to know which one leaves) and sorted (for
 * ranks and quantiles at once). Adding costs two binary searches and one block move (a memmove) of the
 * values between the leaving value's rank and the new one's, instead of re-sorting a copy every few updates.
 */
const FIRST_ALLOCATION = 8;

export class SortedWindow {
  private ring: Float64Array;
  private sorted: Float64Array;
  private count = 0;
  private next = 0;

  /**
   * The arrays start small and grow fourfold as values come, up to `capacity`: a stream that sees a few
   * events (a `stream_id` of high cardinality) does not allocate and zero every window whole.
   */
  constructor(readonly capacity: number) {
    const first = Math.min(capacity, FIRST_ALLOCATION);
    this.ring = new Float64Array(first);
    this.sorted = new Float64Array(first);
  }

  /** Room for one more value before the window is full: until then `ring` holds the values in order from 0. */
  private grow(): void {
    const length = Math.min(this.capacity, this.ring.length * 4);
    const ring = new Float64Array(length);
    ring.set(this.ring);
    const sorted = new Float64Array(length);
    sorted.set(this.sorted);
    this.ring = ring;
    this.sorted = sorted;
  }

  get size(): number {
    return this.count;
  }

  /** Index of the first sorted value >= x (or > x with `after`). */
  rank(x: number, after = false): number {
    return after ? this.firstAbove(x, 0, this.count) : this.firstAtLeast(x, 0, this.count);
  }

  /** Index of the first sorted value >= x within [lo, hi) (hi when none). */
  private firstAtLeast(x: number, lo: number, hi: number): number {
    const s = this.sorted;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (s[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Index of the first sorted value > x within [lo, hi) (hi when none). */
  private firstAbove(x: number, lo: number, hi: number): number {
    const s = this.sorted;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (s[mid]! <= x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  add(x: number): void {
    const v = Number.isNaN(x) ? 0 : x;
    if (this.count === this.ring.length && this.count < this.capacity) this.grow();
    const s = this.sorted;
    if (this.count === this.capacity) {
      // Full: the new value takes the place of the oldest, and slides to its rank. Only the values between
      // the two ranks move (about a third of the window on average, not all of it twice). The new value's
      // rank lies on the side of the old one's it is on, so only that side is searched; an equal value
      // (a status 200 after a 200) changes nothing in the sorted order.
      const old = this.ring[this.next]!;
      this.ring[this.next] = v;
      this.next = (this.next + 1) % this.capacity;
      if (v === old) return;
      const n = this.count;
      const i = this.firstAtLeast(old, 0, n);
      if (v > old) {
        const j = this.firstAtLeast(v, i + 1, n) - 1;
        s.copyWithin(i, i + 1, j + 1);
        s[j] = v;
      } else {
        const j = this.firstAbove(v, 0, i);
        s.copyWithin(j + 1, j, i);
        s[j] = v;
      }
      return;
    }
    this.ring[this.next] = v;
    this.next = (this.next + 1) % this.capacity;
    const j = this.firstAbove(v, 0, this.count);
    s.copyWithin(j + 1, j, this.count);
    s[j] = v;
    this.count += 1;
  }

  /** The sorted value at rank `floor(q * (n - 1))`; 0 when empty. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    return this.sorted[Math.min(this.count - 1, Math.max(0, Math.floor(q * (this.count - 1))))]!;
  }

  at(i: number): number {
    return this.sorted[i]!;
  }

  max(): number {
    return this.count ? this.sorted[this.count - 1]! : 0;
  }

  /** Values in arrival order, oldest first (for snapshots). */
  values(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.count; i++) out.push(this.ring[(this.next - this.count + i + this.capacity) % this.capacity]!);
    return out;
  }
}
