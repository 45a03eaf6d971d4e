// Golden parity: the cpu backend reproduces the independent float64 reference's logits for every
// fixture within 1e-4 absolute (logits are of magnitude 4..7; typical bugs cost 2e-3 to 6), through
// prefill (chunked SSD) and through step-by-step decode.
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { load } from "../core/index.ts";
import { goldenDirs, goldenLogits, goldenState, goldenTokens, maxAbsDiff } from "./helpers/golden.ts";

const TOL = 1e-4;

for (const dir of goldenDirs) {
  const name = path.basename(dir);
  test(`${name}: prefill logits match golden_logits.npy`, async () => {
    const m = await load(dir, { backend: "cpu" });
    const ids = goldenTokens(dir);
    const got = m.model.forward(ids, m.model.newState(), "all")!;
    const want = goldenLogits(dir);
    assert.equal(want.shape, [ids.length, m.config.vocab_rows]);
    const err = maxAbsDiff(got, want.data);
    assert.ok(err < TOL, `max abs error ${err}`);
  });

  test(`${name}: final states match golden_state.npz`, async () => {
    const m = await load(dir, { backend: "cpu" });
    const state = m.model.newState();
    m.model.forward(goldenTokens(dir), state, "none");
    const golden = goldenState(dir);
    if (m.config.family === "s4" || m.config.family === "mom") throw new Error("the golden fixtures are Mamba models");
    const K = m.config.d_conv;
    state.layers.forEach((layer, i) => {
      // golden conv holds the last d_conv inputs [1, C, K]; scanstream keeps the last K-1
      const conv = golden.get(`conv_${i}`)!;
      const C = conv.shape[1];
      const tail = Float64Array.from({ length: C * (K - 1) }, (_, j) => conv.data[Math.floor(j / (K - 1)) * K + 1 + (j % (K - 1))]);
      assert.ok(maxAbsDiff(layer.conv, tail) < 1e-5, `layer ${i} conv ${maxAbsDiff(layer.conv, tail)}`);
      const ssm = golden.get(`ssm_${i}`)!.data;
      assert.ok(maxAbsDiff(layer.ssm, ssm) < 1e-5, `layer ${i} ssm ${maxAbsDiff(layer.ssm, ssm)}`);
    });
  });

  test(`${name}: token-by-token decode matches golden_logits.npy`, async () => {
    const m = await load(dir, { backend: "cpu" });
    const ids = goldenTokens(dir).slice(0, 64);
    const V = m.config.vocab_rows;
    const want = goldenLogits(dir).data.subarray(0, ids.length * V);
    const state = m.model.newState();
    const got = new Float32Array(ids.length * V);
    ids.forEach((id, t) => got.set(m.model.forward([id], state, "last")!, t * V));
    const err = maxAbsDiff(got, want);
    assert.ok(err < TOL, `max abs error ${err}`);
  });
}

test.run();
