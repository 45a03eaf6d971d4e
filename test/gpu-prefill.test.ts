// Resident prefill on webgpu (kernels/webgpu/mamba2-decode.ts m2Prefill): a prompt goes through
// every layer with the chunked scan on the GPU, in blocks of `block` tokens, into a slot of the
// state pool; only the ids go up and the last logits come down. Checked against the cpu model
// (logits and states) across chunk and block boundaries, from a non-zero state, with prompts
// shorter than the conv window. model.forward takes this path for prompts under no plan or the `none`
// plan, whose state-norm telemetry then comes from the device and must equal the cpu model's.
import "./helpers/gpu.ts";
import * as fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { load, OptionError } from "../core/index.ts";
import { buildWithBatchDecoder, telemetryBlocks } from "../core/models/mamba2-batch.ts";
import type { ModelState } from "../core/models/model.ts";
import { planCuts, resolvePlan } from "../core/models/long-context.ts";
import { createWebgpuBackend, type WebgpuBackend } from "../kernels/webgpu/index.ts";
import { mamba2Config, mulberry32, randomModel, randomWeights, scaledMaxDiff } from "./helpers/random-model.ts";

function stateDiff(a: ModelState, b: ModelState): number {
  let e = 0;
  a.layers.forEach((l, i) => (e = Math.max(e, scaledMaxDiff(l.conv, b.layers[i].conv), scaledMaxDiff(l.ssm, b.layers[i].ssm))));
  return e;
}

test("random weights (ngroups 2, chunk 5, odd sizes): prefill in any block size equals the cpu model, logits and state", async () => {
  const config = mamba2Config({ d_model: 40, n_layer: 2, d_state: 12, headdim: 8, ngroups: 2, vocab_size: 61, chunk_size: 5 });
  const backend = (await createWebgpuBackend()) as WebgpuBackend;
  try {
    const { model, decoder } = buildWithBatchDecoder(config, randomWeights(config, 5), backend);
    assert.ok(decoder);
    const ref = randomModel(config, 5);
    const pool = decoder!.alloc(3);
    const V = config.vocab_rows;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 1, max: 23 }), fc.integer({ min: 1, max: 30 }), fc.integer({ min: 0, max: 2 }), fc.integer(), (pre, T, block, slot, seed) => {
        const rnd = mulberry32(seed);
        const ids = (n: number) => Array.from({ length: n }, () => Math.floor(rnd() * V));
        // a non-zero starting state (window and SSM state), then the prompt
        const host = ref.newState();
        if (pre) ref.forward(ids(pre), host, "none");
        pool.write(slot, host);
        const prompt = ids(T);
        const got = pool.prefill(slot, prompt, block);
        const want = ref.forward(prompt, host, "last")!;
        const err = scaledMaxDiff(got, want);
        assert.ok(err < 1e-4, `pre ${pre} T ${T} block ${block}: logit error ${err}`);
        const back = model.newState();
        pool.read(slot, back);
        const se = stateDiff(back, host);
        assert.ok(se < 1e-5, `pre ${pre} T ${T} block ${block}: state error ${se}`);
      }),
      { numRuns: 12 },
    );
    assert.throws(() => pool.prefill(0, [V]), (e: unknown) => e instanceof OptionError && /outside/.test((e as Error).message));
    assert.throws(() => pool.prefill(0, []), (e: unknown) => e instanceof OptionError);
    assert.throws(() => pool.prefill(0, [1, 2], 0), (e: unknown) => e instanceof OptionError && (e as OptionError).option === "block");
    assert.throws(() => pool.prefill(3, [1, 2]), (e: unknown) => e instanceof OptionError);
    pool.free();

    // model.forward: a prompt without a plan takes the resident path; one token, "all" and a plan do not
    const host = ref.newState();
    const st = model.newState();
    const prompt = [3, 9, 27, 20, 60, 1, 0, 44, 12, 7, 7, 7, 2];
    const n0 = decoder!.prefills;
    const got = model.forward(prompt, st, "last")!;
    assert.is(decoder!.prefills, n0 + 1);
    assert.is(st.position, prompt.length);
    assert.ok(scaledMaxDiff(got, ref.forward(prompt, host, "last")!) < 1e-4);
    assert.ok(stateDiff(st, host) < 1e-5);
    const into = new Float32Array(V);
    assert.ok(model.forward([5, 6], st, "last", into) === into, "writes into `out`");
    assert.ok(scaledMaxDiff(into, ref.forward([5, 6], host, "last")!) < 1e-4);
    assert.is(model.forward([8, 9], st, "none"), null);
    ref.forward([8, 9], host, "none");
    assert.ok(stateDiff(st, host) < 1e-5);
    assert.is(decoder!.prefills, n0 + 3);
    model.forward([4], st, "last");
    model.forward([4, 5], st, "all");
    model.forward([4, 5], { ...model.newState(), plan: resolvePlan(config, { mitigation: "window" }) }, "last");
    assert.is(decoder!.prefills, n0 + 3, "T = 1, mode all and a mitigation run the per-op path");

    // the `none` plan (what every session runs): telemetry equal to the cpu model's, probes read off the device
    const plan = resolvePlan(config, { mitigation: "none", probeEvery: 6, trainLength: 40 }); // calibEvery 1
    for (const [start, T] of [[0, 53], [17, 30], [50, 2]]) {
      const a = { ...model.newState(), plan }, b = { ...ref.newState(), plan };
      const rnd = mulberry32(start + 1000 * T);
      const warm = Array.from({ length: start }, () => Math.floor(rnd() * V));
      const ids = Array.from({ length: T }, () => Math.floor(rnd() * V));
      if (start) {
        ref.forward(warm, b, "none");
        ref.forward(warm, a, "none"); // same weights: the cpu model brings `a` to the same start
      }
      const p0 = decoder!.prefills;
      const got = model.forward(ids, a, "last")!;
      assert.is(decoder!.prefills, p0 + 1);
      assert.ok(scaledMaxDiff(got, ref.forward(ids, b, "last")!) < 1e-4, `start ${start} T ${T}: logits`);
      assert.ok(stateDiff(a, b) < 1e-5, `start ${start} T ${T}: state`);
      a.layers.forEach((l, i) => {
        const w = b.layers[i].aux!;
        assert.ok(l.aux, `layer ${i}: telemetry`);
        assert.equal(Array.from(l.aux!.meta), Array.from(w.meta), `start ${start} T ${T} layer ${i}: probe position`);
        assert.ok(scaledMaxDiff(l.aux!.norms, w.norms) < 1e-4, `start ${start} T ${T} layer ${i}: norms ${l.aux!.norms} vs ${w.norms}`);
        assert.ok(scaledMaxDiff(l.aux!.calib, w.calib) < 1e-4, `start ${start} T ${T} layer ${i}: calibration`);
      });
    }
    decoder!.dispose();
  } finally {
    backend.dispose();
  }
});

test("telemetryBlocks: blocks cover the call and every stop of the plan is a chunk start or a block end", () => {
  const config = mamba2Config({ d_model: 16, n_layer: 1, d_state: 4, headdim: 8, vocab_size: 16, chunk_size: 7 });
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 1, max: 300 }), fc.integer({ min: 0, max: 500 }), fc.integer({ min: 1, max: 900 }), fc.integer({ min: 1, max: 64 }),
      (every, train, position, T, maxBlock) => {
        const plan = resolvePlan(config, { mitigation: "none", probeEvery: every, trainLength: train });
        const { blocks, positions } = telemetryBlocks(plan, position, T, config.chunk_size, maxBlock);
        let sum = 0;
        for (let k = 0; k < blocks.length; k += 2) {
          assert.ok(blocks[k] >= 1 && blocks[k + 1] >= 1);
          sum += blocks[k];
        }
        assert.is(sum, T);
        assert.ok(positions.has(T), "the end");
        for (const c of planCuts(plan, position, T)) if (c.at) assert.ok(positions.has(c.t1), `stop ${c.n1} (${c.at})`);
      }),
    { numRuns: 300 },
  );
});

test("mamba2-text on webgpu: a 300-byte prompt through model.forward equals wasm's last logits and state", async () => {
  const gpu = await load("checkpoints/mamba2-text", { backend: "webgpu" });
  const wasm = await load("checkpoints/mamba2-text", { backend: "wasm" });
  try {
    const ids = Array.from(Buffer.from("In the beginning God created the heavens and the earth. ".repeat(6)).subarray(0, 300));
    const a = gpu.model.newState(), b = wasm.model.newState();
    const n0 = gpu.batch!.prefills;
    const got = gpu.model.forward(ids, a, "last")!;
    assert.is(gpu.batch!.prefills, n0 + 1);
    const want = wasm.model.forward(ids, b, "last")!;
    const err = scaledMaxDiff(got, want);
    assert.ok(err < 1e-3, `logit error ${err}`);
    const se = stateDiff(a, b);
    assert.ok(se < 1e-4, `state error ${se}`);
  } finally {
    gpu.dispose();
    wasm.dispose();
  }
});

test.run();
