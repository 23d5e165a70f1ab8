/**
 * A latency histogram with ~1% relative precision over 1 µs .. ~3 h, in a fixed array: cheap
 * to record millions of samples in a client process and to merge across processes.
 */
const SCALE = 100; // buckets per e-fold of microseconds: ≈1% wide each
const BUCKETS = 2000;

export class Histogram {
  readonly counts: Uint32Array;
  count = 0;
  max = 0;

  constructor(counts?: number[]) {
    this.counts = new Uint32Array(BUCKETS);
    if (counts) {
      for (let i = 0; i < BUCKETS; i++) this.counts[i] = counts[i] ?? 0;
      for (const c of this.counts) this.count += c;
    }
  }

  /** Records a latency in milliseconds (negative values, from clock skew, count as 0). */
  record(ms: number): void {
    const us = ms > 0 ? ms * 1000 : 0;
    const i = Math.min(BUCKETS - 1, Math.floor(Math.log1p(us) * SCALE));
    this.counts[i]!++;
    this.count++;
    if (ms > this.max) this.max = ms;
  }

  merge(other: Histogram): void {
    for (let i = 0; i < BUCKETS; i++) this.counts[i]! += other.counts[i]!;
    this.count += other.count;
    this.max = Math.max(this.max, other.max);
  }

  /** The q-quantile (0..1) in milliseconds (bucket midpoint). */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.ceil(q * this.count);
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.expm1((i + 0.5) / SCALE) / 1000;
    }
    return this.max;
  }

  toJSON(): { counts: number[]; max: number } {
    return { counts: Array.from(this.counts), max: this.max };
  }

  static from(json: { counts: number[]; max: number }): Histogram {
    const h = new Histogram(json.counts);
    h.max = json.max;
    return h;
  }
}
