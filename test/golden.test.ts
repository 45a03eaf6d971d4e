// Golden parity: the cpu backend reproduces the independent float64 reference's logits for every
// fixture within 1e-4 absolute (logits are of magnitude 4..7; typical bugs cost 2e-3 to 6), through
// prefill (chunked SSD) and through step-by-step decode.
import path from "node:path";
import { test } from "uvu";
import { load } from "../core/index.ts";
import { assertGoldenDecode, assertGoldenPrefill, goldenDirs } from "./helpers/golden.ts";

const TOL = 1e-4;

for (const dir of goldenDirs) {
  const name = path.basename(dir);
  test(`${name}: prefill logits match golden_logits.npy, final states golden_state.npz`, async () => {
    assertGoldenPrefill(await load(dir, { backend: "cpu" }), dir, TOL);
  });

  test(`${name}: token-by-token decode matches golden_logits.npy`, async () => {
    const m = await load(dir, { backend: "cpu" });
    assertGoldenDecode(m, dir, 64, TOL);
  });
}

test.run();
