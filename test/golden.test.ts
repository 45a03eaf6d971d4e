// Golden parity: the cpu backend reproduces the independent float64 reference's logits for every
// fixture within 1e-4 absolute (logits are of magnitude 4..7; typical bugs cost 2e-3 to 6), through
// prefill (chunked SSD) and through step-by-step decode.
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { load } from "../core/index.ts";
import { assertGoldenPrefill, goldenDirs, goldenLogits, goldenTokens, maxAbsDiff } from "./helpers/golden.ts";

const TOL = 1e-4;

for (const dir of goldenDirs) {
  const name = path.basename(dir);
  test(`${name}: prefill logits match golden_logits.npy, final states golden_state.npz`, async () => {
    assertGoldenPrefill(await load(dir, { backend: "cpu" }), dir, TOL);
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
