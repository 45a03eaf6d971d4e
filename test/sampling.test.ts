// The sampler (core/stream/sampling.ts), which never sorts the whole vocabulary, against a plain
// reference that does: the same id for the same random draw, with and without top-k / top-p; and
// its frequencies against the softmax.
import fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createRng, sample, type SamplingOptions } from "../core/stream/sampling.ts";

/** The sampler's rule written plainly: weights cut below e^-40, sort everything (higher logit,
 *  then lower id), top-k slice, top-p prefix; the draw walks ids in id order when neither is set. */
function reference(logits: Float32Array, allowed: number, opts: SamplingOptions, u: number): number {
  const t = opts.temperature ?? 1;
  const ids0 = Array.from({ length: allowed }, (_, i) => i);
  const max = Math.max(...ids0.map((i) => logits[i]));
  const w = ids0.map((i) => ((logits[i] - max) / t >= -40 ? Math.exp((logits[i] - max) / t) : 0));
  const sum = (ids: number[]) => ids.reduce((a, i) => a + w[i], 0);
  let ids = ids0.filter((i) => w[i] > 0);
  const live = ids.length;
  const p = opts.topP ?? 1;
  if (opts.topK || p < 1) {
    ids.sort((a, b) => logits[b] - logits[a] || a - b);
    if (opts.topK && opts.topK < live) ids = ids.slice(0, opts.topK);
    if (p < 1) {
      const target = p * (opts.topK && opts.topK < live ? sum(ids) : sum(ids0));
      let acc = 0, n = 0;
      while (n < ids.length && acc < target) acc += w[ids[n++]];
      ids = ids.slice(0, Math.max(1, n));
    }
  }
  let r = u * sum(ids);
  for (const i of ids) if ((r -= w[i]) <= 0) return i;
  return ids[ids.length - 1];
}

// logits with ties (a small integer grid) and spread, a padded tail past `allowed`
const logitsArb = fc
  .tuple(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 0, max: 8 }), fc.constantFrom(0.5, 2, 20))
  .chain(([allowed, pad, scale]) =>
    fc.tuple(
      fc.array(fc.integer({ min: -40, max: 40 }), { minLength: allowed + pad, maxLength: allowed + pad }).map((v) => Float32Array.from(v, (x) => (x * scale) / 8)),
      fc.constant(allowed),
    ),
  );

test("the same id as the full sort for the same draw (incl. ties, k past the vocab)", () => {
  fc.assert(
    fc.property(
      logitsArb,
      fc.double({ min: 0.05, max: 3, noNaN: true }),
      fc.option(fc.integer({ min: 1, max: 400 }), { nil: undefined }),
      fc.option(fc.double({ min: 0.01, max: 1, noNaN: true }), { nil: undefined }),
      fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      ([logits, allowed], temperature, topK, topP, draw) => {
        const u = draw / 2 ** 32;
        const opts = { temperature, topK, topP };
        assert.is(sample(logits, allowed, opts, () => u), reference(logits, allowed, opts, u));
      },
    ),
    { numRuns: 400 },
  );
});

test("no top-k / top-p: frequencies follow softmax(logits / T) (5 sigma over 40,000 draws)", () => {
  const logits = Float32Array.from([1.5, -0.5, 0.25, 2, 2, -30, 0, 9]);
  const allowed = 7, T = 1.3, N = 40_000;
  const w = Array.from(logits.subarray(0, allowed), (l) => Math.exp(l / T));
  const z = w.reduce((a, b) => a + b, 0);
  const rng = createRng(11);
  const count = new Array(logits.length).fill(0);
  for (let i = 0; i < N; i++) count[sample(logits, allowed, { temperature: T }, rng)]++;
  assert.is(count[7], 0, "a padded row was sampled");
  for (let i = 0; i < allowed; i++) {
    const p = w[i] / z;
    const sigma = Math.sqrt(N * p * (1 - p));
    assert.ok(Math.abs(count[i] - N * p) <= 5 * sigma + 1, `id ${i}: ${count[i]} draws, expected ${(N * p).toFixed(0)}`);
  }
});

test("degenerate rows: all -Infinity gives a valid id; temperature 0 is the argmax", () => {
  const dead = new Float32Array(5).fill(-Infinity);
  const id = sample(dead, 5, { temperature: 1 }, () => 0.3);
  assert.ok(id >= 0 && id < 5);
  assert.is(sample(Float32Array.from([0, 3, 3, 1]), 4, { temperature: 0 }, () => 0.9), 1);
});

test.run();
