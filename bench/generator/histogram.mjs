// A log-linear latency histogram in microseconds (relative error under 1.6 %).
//
// Values below 128 us have their own bucket; above, each power of two is split
// into 64 buckets. Recording is a few integer operations, so every delivery can
// be recorded.

const LINEAR = 128;
const SUB_BITS = 6;
const SUB = 1 << SUB_BITS;
const MAX_EXP = 36; // up to 2^36 us, about 19 hours
const SIZE = LINEAR + (MAX_EXP - 7) * SUB;

function bucketOf(us) {
  if (us < LINEAR) return us < 0 ? 0 : us | 0;
  const v = Math.min(Math.floor(us), 2 ** MAX_EXP - 1);
  const exp = Math.floor(Math.log2(v));
  const sub = Math.floor(v / 2 ** (exp - SUB_BITS)) - SUB;
  return LINEAR + (exp - 7) * SUB + sub;
}

function lowerBoundOf(bucket) {
  if (bucket < LINEAR) return bucket;
  const exp = Math.floor((bucket - LINEAR) / SUB) + 7;
  const sub = (bucket - LINEAR) % SUB;
  return (SUB + sub) * 2 ** (exp - SUB_BITS);
}

export class Histogram {
  constructor() {
    this.counts = new Float64Array(SIZE);
    this.total = 0;
    this.sum = 0;
    this.max = 0;
  }

  record(us) {
    this.counts[bucketOf(us)] += 1;
    this.total += 1;
    this.sum += us;
    if (us > this.max) this.max = us;
  }

  /** The value (us) below which a fraction `q` of the recorded values lie. */
  quantile(q) {
    if (this.total === 0) return null;
    const rank = Math.ceil(q * this.total);
    let seen = 0;
    for (let b = 0; b < SIZE; b++) {
      seen += this.counts[b];
      if (seen >= rank) {
        const upper = b + 1 < SIZE ? lowerBoundOf(b + 1) : this.max;
        return Math.min(upper, this.max);
      }
    }
    return this.max;
  }

  /** Summary in milliseconds. */
  summary() {
    const ms = (us) => (us === null ? null : Math.round(us) / 1000);
    return {
      count: this.total,
      mean_ms: this.total ? ms(this.sum / this.total) : null,
      p50_ms: ms(this.quantile(0.5)),
      p90_ms: ms(this.quantile(0.9)),
      p99_ms: ms(this.quantile(0.99)),
      p999_ms: ms(this.quantile(0.999)),
      max_ms: this.total ? ms(this.max) : null,
    };
  }
}
