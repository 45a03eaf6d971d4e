// Decode allocates no arrays: after the first step, every op of a Mamba-1 / Mamba-2 / MoM / S4
// decode step (S4 and delta-rule ops included) returns an array it returned before (the model's scratch, core/models/scratch.ts), and a Session
// writes each step's logits into one array of its own. Checked on the cpu and wasm backends by
// wrapping the backend and recording what each op returns. Reusing buffers must not change results:
// forward into `out` equals a fresh forward, and two interleaved sessions on one model equal each alone.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { byteTokenizer } from "../core/formats/tokenizer.ts";
import type { ModelConfig } from "../core/models/config.ts";
import { buildModel } from "../core/models/index.ts";
import { momConfig, randomMomWeights } from "../core/models/mom-random.ts";
import type { Model, WeightSource } from "../core/models/model.ts";
import { randomS4Weights, s4Config } from "../core/models/s4-random.ts";
import { Session } from "../core/stream/session.ts";
import type { Backend } from "../kernels/backend.ts";
import { createCpuBackend } from "../kernels/cpu/index.ts";
import { createWasmBackend } from "../kernels/wasm/index.ts";
import { mamba1Config, mamba2Config, randomWeights } from "./helpers/random-model.ts";

const OPS = ["matmul", "embed", "rmsnorm", "gatedRmsnorm", "conv1d", "ssdScan", "selectiveScan", "dtSoftplus", "siluGate", "add"];
const NESTED: Record<string, string[]> = {
  s4: ["diagScan", "dplrScan", "layerNorm", "activation", "glu", "fftConv", "vandermondeKernel", "cauchyKernel"],
  deltaRule: ["gatedDelta"],
};

/** The backend with every op's result (its S4 and delta-rule ops too) recorded into `seen.current`. */
function recording(b: Backend): { backend: Backend; seen: { current: Set<Float32Array> } } {
  const seen = { current: new Set<Float32Array>() };
  const wrap = <T extends object>(o: T, ops: string[]): T => {
    const w = Object.create(o) as Record<string, unknown>;
    for (const op of ops) {
      const f = (o as Record<string, (...a: unknown[]) => Float32Array>)[op]?.bind(o);
      if (f) w[op] = (...a: unknown[]) => {
        const r = f(...a);
        seen.current.add(r);
        return r;
      };
    }
    return w as T;
  };
  const wrapped = wrap(b, OPS) as Backend & Record<string, unknown>;
  for (const [k, ops] of Object.entries(NESTED)) if ((b as unknown as Record<string, object>)[k]) wrapped[k] = wrap((b as unknown as Record<string, object>)[k], ops);
  return { backend: wrapped, seen };
}

const families: Record<string, [ModelConfig, (seed: number) => WeightSource]> = {};
const add = (name: string, c: ModelConfig, weights: (seed: number) => WeightSource) => (families[name] = [c, weights]);
const m2 = mamba2Config({ d_model: 32, n_layer: 2, d_state: 16, headdim: 8, vocab_size: 256, chunk_size: 8 });
add("mamba2", m2, (seed) => randomWeights(m2, seed));
const m1 = mamba1Config({ d_model: 32, n_layer: 2, d_state: 8, vocab_size: 256 });
add("mamba1", m1, (seed) => randomWeights(m1, seed));
const mom = momConfig({ num_memories: 3, topk: 2, shared_mem: true, vocab_size: 256 });
add("mom", mom, (seed) => randomMomWeights(mom, seed));
const s4d = s4Config({ block: "S4D", d_model: 8, d_state: 8, n_layer: 2 });
add("s4d", s4d, (seed) => randomS4Weights(s4d, seed));
const s4 = s4Config({ block: "S4Block", d_model: 8, d_state: 8, n_layer: 2 });
add("s4 (dplr)", s4, (seed) => randomS4Weights(s4, seed));
const backends: [string, () => Promise<Backend>][] = [
  ["cpu", async () => createCpuBackend()],
  ["wasm", () => createWasmBackend({ threads: 1, warmUp: false })],
];

for (const [bname, make] of backends)
  for (const [family, [config, weights]] of Object.entries(families)) {
    test(`${family} on ${bname}: decode steps after the first return only arrays returned before`, async () => {
      const { backend, seen } = recording(await make());
      const model = buildModel(config, weights(3), backend);
      const state = model.newState();
      const logits = new Float32Array(model.forward([1, 2, 3, 4, 5], state, "last")!.length);
      seen.current = new Set();
      model.forward([7], state, "last", logits);
      const first = seen.current;
      assert.ok(first.size >= 5, `${first.size} op results recorded`);
      for (let step = 0; step < 4; step++) {
        seen.current = new Set();
        assert.is(model.forward([10 + step], state, "last", logits), logits, "forward returns out");
        const fresh = [...seen.current].filter((a) => !first.has(a));
        assert.is(fresh.length, 0, `step ${step + 2}: ${fresh.length} new arrays (lengths ${fresh.map((a) => a.length)})`);
      }
      backend.dispose();
    });

    test(`${family} on ${bname}: forward into out == a fresh forward; interleaved sessions == each alone`, async () => {
      const backend = await make();
      const model: Model = buildModel(config, weights(4), backend);
      const s1 = model.newState(), s2 = model.newState();
      model.forward([3, 1, 4, 1, 5], s1, "last");
      model.forward([3, 1, 4, 1, 5], s2, "last");
      const into = new Float32Array(model.forward([2], model.newState(), "last")!.length);
      for (const id of [9, 2, 6]) {
        const want = model.forward([id], s1, "last")!;
        assert.equal(Array.from(model.forward([id], s2, "last", into)!), Array.from(want));
      }
      assert.throws(() => model.forward([1], s1, "last", new Float32Array(3)), /forward: out has 3 values/);
      assert.throws(() => model.forward([1, 2], s1, "all", into), /forward: out has/);

      const session = () => new Session({ model, tokenizer: byteTokenizer(), modelHash: () => family });
      const gen = async (s: Session, prompt: string) => {
        const ids: number[] = [];
        for await (const p of s.generate(prompt, { maxTokens: 8, seed: 5 })) ids.push(p.token);
        return ids;
      };
      const alone = [await gen(session(), "one"), await gen(session(), "two")];
      const [a, b] = [session(), session()];
      const ia = a.generate("one", { maxTokens: 8, seed: 5 }), ib = b.generate("two", { maxTokens: 8, seed: 5 });
      const got: number[][] = [[], []];
      for (let i = 0; i < 8; i++) {
        const [pa, pb] = [await ia.next(), await ib.next()];
        if (!pa.done) got[0].push(pa.value.token);
        if (!pb.done) got[1].push(pb.value.token);
      }
      assert.equal(got, alone);
      backend.dispose();
    });
  }

test.run();
