// Whole-model golden parity on the wasm backend: logits for every fixture's tokens.json within 1e-4
// (absolute) of golden_logits.npy, through prefill (chunked SSD) and token-by-token decode, on the
// single-threaded build and on 2 threads (every kernel split, however small); final states within
// 1e-5. The fixtures are float32 models, so the f32 weight path is what golden parity covers.
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { openCheckpoint } from "../core/formats/checkpoint.ts";
import { WeightReader } from "../core/formats/weights.ts";
import { buildModel } from "../core/models/index.ts";
import type { Model } from "../core/models/model.ts";
import { createWasmBackend } from "../kernels/wasm/index.ts";
import { assertGoldenDecode, assertGoldenPrefill, goldenDirs } from "./helpers/golden.ts";

const TOL = 1e-4;

/** The fixture's model on a wasm backend; with threads > 1 every kernel is split ("fine" grain). */
async function wasmModel(dir: string, threads: number) {
  const backend = await createWasmBackend({ threads, grain: threads > 1 ? "fine" : "auto", warmUp: false });
  const ckpt = await openCheckpoint(dir);
  try {
    const model: Model = buildModel(ckpt.config, new WeightReader(ckpt), backend);
    return { model, config: ckpt.config, backend, dispose: () => backend.dispose() };
  } finally {
    ckpt.close();
  }
}

for (const dir of goldenDirs) {
  const name = path.basename(dir);
  for (const threads of [1, 2]) {
    test(`${name}, wasm ${threads} thread(s): prefill logits and final state match the golden files`, async () => {
      const m = await wasmModel(dir, threads);
      try {
        assert.is(m.backend.name, "wasm");
        assertGoldenPrefill(m, dir, TOL);
      } finally {
        m.dispose();
      }
    });
  }

  test(`${name}, wasm: token-by-token decode matches golden_logits.npy`, async () => {
    const m = await wasmModel(dir, 1);
    try {
      assertGoldenDecode(m, dir, 48, TOL);
    } finally {
      m.dispose();
    }
  });
}

test.run();
