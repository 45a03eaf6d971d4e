// Token sampling: temperature, top-k, top-p (nucleus) from a seeded PRNG, so the same seed gives
// the same tokens. temperature 0 is greedy (argmax). Rows >= `allowed` (padded vocab rows the
// tokenizer never produces) are never sampled.
//
// Cost per token is O(V): no sort of the vocabulary. Ids whose weight exp((logit - max) / T) is
// below e^-40 are dropped (their mass is under V·4e-18); without top-k / top-p the draw walks the
// ids in id order; top-k keeps a size-k heap; top-p sorts only the few weight bands that can hold
// the nucleus. (Sorting 50K ids took 27-30 ms per token: bench/sampling-bench.ts.)
import { mulberry32 } from "../models/random.ts";

export interface SamplingOptions {
  temperature?: number;
  topK?: number;
  topP?: number;
}

/** The sampler's PRNG: mulberry32 (one uint32 of state), shared with the random-weight generator. */
export const createRng = mulberry32;

const MIN_LOG_WEIGHT = -40;

/** log-softmax value of `id` under the model's own (temperature 1) distribution. */
export function logprobOf(logits: Float32Array, id: number, allowed: number): number {
  let max = -Infinity;
  for (let i = 0; i < allowed; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < allowed; i++) sum += Math.exp(logits[i] - max);
  return logits[id] - max - Math.log(sum);
}

function argmax(logits: Float32Array, allowed: number): number {
  let best = 0;
  for (let i = 1; i < allowed; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/** Higher logit first, then lower id: the candidate order of top-k and top-p. */
const before = (logits: Float32Array, a: number, b: number) => logits[a] > logits[b] || (logits[a] === logits[b] && a < b);

/** The k best of `ids` in candidate order, through a size-k heap whose root is the worst kept. */
function topKOf(logits: Float32Array, ids: Int32Array, k: number): number[] {
  const heap: number[] = [];
  const worse = (i: number, j: number) => before(logits, heap[j], heap[i]); // heap[i] after heap[j]
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < heap.length && worse(l, m)) m = l;
      if (r < heap.length && worse(r, m)) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m], heap[i]];
      i = m;
    }
  };
  for (const id of ids) {
    if (heap.length < k) {
      heap.push(id);
      for (let i = heap.length - 1; i > 0; ) {
        const p = (i - 1) >> 1;
        if (!worse(i, p)) break;
        [heap[i], heap[p]] = [heap[p], heap[i]];
        i = p;
      }
    } else if (before(logits, id, heap[0])) {
      heap[0] = id;
      down(0);
    }
  }
  return heap.sort((a, b) => (before(logits, a, b) ? -1 : 1));
}

const ID_BITS = 2 ** 21;
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** `ids` in candidate order. Each becomes one float64 key, (descending logit bits) · 2^21 + id,
 *  exact below 2^53, so the typed array's own numeric sort does it without a comparator. */
function sortedOf(logits: Float32Array, ids: Int32Array): number[] {
  if (ids.length && ids[ids.length - 1] >= ID_BITS) return Array.from(ids).sort((a, b) => (before(logits, a, b) ? -1 : 1));
  const keys = new Float64Array(ids.length);
  for (let i = 0; i < ids.length; i++) {
    f32[0] = logits[ids[i]] + 0; // -0 -> +0: equal logits must tie
    const b = u32[0];
    const ascending = b & 0x80000000 ? ~b >>> 0 : (b | 0x80000000) >>> 0;
    keys[i] = (0xffffffff - ascending) * ID_BITS + ids[i];
  }
  keys.sort();
  return Array.from(keys, (k) => k % ID_BITS);
}

/** The top-p prefix of `cand` (sorted): the fewest best ids whose weights, summed in that order,
 *  reach `target`. Only the ids in the best power-of-two weight bands that can hold that mass are
 *  sorted (plus one band of margin); if rounding still leaves it short, everything is. */
function nucleusOf(logits: Float32Array, cand: Int32Array, target: number): number[] {
  const bands = new Uint8Array(cand.length);
  const mass = new Float64Array(64);
  for (let i = 0; i < cand.length; i++) {
    const w = weights[cand[i]];
    bands[i] = Math.min(63, -Math.floor(Math.log2(w)));
    mass[bands[i]] += w;
  }
  let last = 0;
  for (let acc = 0; last < 63 && (acc += mass[last]) < target; ) last++;
  last = Math.min(63, last + 1);
  for (const sub of [cand.filter((_, i) => bands[i] <= last), cand]) {
    const ids = sortedOf(logits, sub);
    let acc = 0;
    let n = 0;
    while (n < ids.length && acc < target) acc += weights[ids[n++]];
    if (acc >= target || sub === cand) return ids.slice(0, Math.max(1, n));
  }
  throw new Error("unreachable");
}

let weights = new Float64Array(0);

/** Draw an id from `ids` with probability weights[id] / (their sum, in this order). */
function draw(ids: ArrayLike<number>, rng: () => number): number {
  let total = 0;
  for (let i = 0; i < ids.length; i++) total += weights[ids[i]];
  let r = rng() * total;
  for (let i = 0; i < ids.length; i++) if ((r -= weights[ids[i]]) <= 0) return ids[i];
  return ids[ids.length - 1];
}

/** One token id. Weights exp((logit - max) / T), cut to 0 below e^-40; with top-k, the k best;
 *  with top-p, the shortest best-first prefix holding p of the mass (of the k best, or of all ids
 *  summed in id order); then a draw in that order (id order when neither is set). */
export function sample(logits: Float32Array, allowed: number, opts: SamplingOptions, rng: () => number): number {
  const temperature = opts.temperature ?? 1;
  if (temperature <= 0) return argmax(logits, allowed);
  const max = logits[argmax(logits, allowed)];
  const k = opts.topK && opts.topK > 0 ? opts.topK : Infinity;
  const p = opts.topP ?? 1;
  if (weights.length < allowed) weights = new Float64Array(allowed);
  let total = 0;
  let live = 0;
  for (let i = 0; i < allowed; i++) {
    const x = (logits[i] - max) / temperature;
    const w = x >= MIN_LOG_WEIGHT ? Math.exp(x) : 0;
    weights[i] = w;
    total += w;
    if (w > 0) live++;
  }
  if (live === 0) return argmax(logits, allowed); // all -Infinity or NaN: nothing to weigh
  const cand = new Int32Array(live);
  for (let i = 0, n = 0; i < allowed; i++) if (weights[i] > 0) cand[n++] = i;
  if (k === Infinity && p >= 1) return draw(cand, rng);
  let ids: number[];
  if (k < live) {
    ids = topKOf(logits, cand, k);
    if (p < 1) ids = nucleusOf(logits, Int32Array.from(ids), p * ids.reduce((a, id) => a + weights[id], 0));
  } else ids = p < 1 ? nucleusOf(logits, cand, p * total) : sortedOf(logits, cand);
  return draw(ids, rng);
}
