// The same weights in every container and dtype (pytorch_model.bin written by real torch.save,
// sharded .bin and safetensors, F16 and BF16; made by test/fixtures/formats/make_fixtures.py)
// give the golden logits through load(), within the rounding of the stored dtype.
// Tolerances (logits are of magnitude 4..7): F32 1e-4, F16 5e-3 (seen 1.8e-3), BF16 8e-2 (seen 3.5e-2).
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { load } from "../core/index.ts";
import { openCheckpoint } from "../core/formats/checkpoint.ts";
import { FIXTURES, GOLDEN, goldenLogits, goldenTokens, maxAbsDiff } from "./helpers/golden.ts";

const FORMATS = path.join(FIXTURES, "formats");
const TOLERANCE: Record<string, number> = { F32: 1e-4, F16: 5e-3, BF16: 8e-2 };

async function storedDtype(dir: string): Promise<string> {
  const ckpt = await openCheckpoint(dir);
  try {
    return ckpt.tensors.get("backbone.embedding.weight")!.dtype;
  } finally {
    ckpt.close();
  }
}

for (const name of fs.readdirSync(FORMATS).filter((f) => fs.existsSync(path.join(FORMATS, f, "config.json")))) {
  const source = path.join(GOLDEN, name.startsWith("m2") ? "m2_ss_v256_g1_tied_f32" : "m1_ss_v256_tied_f32");
  test(`${name}: logits match the golden fixture within the stored dtype's rounding`, async () => {
    const tol = TOLERANCE[await storedDtype(path.join(FORMATS, name))];
    const m = await load(path.join(FORMATS, name), { backend: "cpu" });
    const ids = goldenTokens(source).slice(0, 120);
    const got = m.model.forward(ids, m.model.newState(), "all")!;
    const want = goldenLogits(source).data.subarray(0, got.length);
    const err = maxAbsDiff(got, want);
    assert.ok(err < tol, `max abs error ${err} (tolerance ${tol})`);
  });
}

test.run();
