// Token sampling: temperature, top-k, top-p (nucleus) from a seeded PRNG, so the same seed gives
// the same tokens. temperature 0 is greedy (argmax). Rows >= `allowed` (padded vocab rows the
// tokenizer never produces) are never sampled.
import { mulberry32 } from "../models/random.ts";

export interface SamplingOptions {
  temperature?: number;
  topK?: number;
  topP?: number;
}

/** The sampler's PRNG: mulberry32 (one uint32 of state), shared with the random-weight generator. */
export const createRng = mulberry32;

/** log-softmax value of `id` under the model's own (temperature 1) distribution. */
export function logprobOf(logits: Float32Array, id: number, allowed: number): number {
  let max = -Infinity;
  for (let i = 0; i < allowed; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < allowed; i++) sum += Math.exp(logits[i] - max);
  return logits[id] - max - Math.log(sum);
}

export function sample(logits: Float32Array, allowed: number, opts: SamplingOptions, rng: () => number): number {
  const temperature = opts.temperature ?? 1;
  if (temperature <= 0) {
    let best = 0;
    for (let i = 1; i < allowed; i++) if (logits[i] > logits[best]) best = i;
    return best;
  }
  // candidates sorted by logit, cut to top-k
  let ids = Array.from({ length: allowed }, (_, i) => i);
  const k = opts.topK && opts.topK > 0 ? Math.min(opts.topK, allowed) : allowed;
  ids.sort((a, b) => logits[b] - logits[a] || a - b);
  ids = ids.slice(0, k);
  const max = logits[ids[0]];
  let probs = ids.map((i) => Math.exp((logits[i] - max) / temperature));
  let total = probs.reduce((a, b) => a + b, 0);
  // top-p: smallest prefix whose mass reaches p
  const p = opts.topP ?? 1;
  if (p < 1) {
    let acc = 0;
    let n = 0;
    while (n < probs.length && acc < p * total) acc += probs[n++];
    ids = ids.slice(0, Math.max(1, n));
    probs = probs.slice(0, ids.length);
    total = probs.reduce((a, b) => a + b, 0);
  }
  let r = rng() * total;
  for (let i = 0; i < ids.length; i++) {
    r -= probs[i];
    if (r <= 0) return ids[i];
  }
  return ids[ids.length - 1];
}
