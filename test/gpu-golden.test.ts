// Whole-model golden parity on the GPU backends, every fixture, logits within 1e-4 (absolute) of
// golden_logits.npy. webgpu (WGSL): prefill of all tokens (chunked SSD) with final states within 1e-5,
// and 12 decode steps. gpu (gpu.js webgpu mode): a 64-token prefill then 4 decode steps, checked
// against the first 68 golden rows (a causal model's prefix logits are the golden prefix rows; its
// Mamba-1 scan recomputes the recurrence per output, quadratic in T, too slow on SwiftShader for all
// 300 tokens). In CI both run on SwiftShader; the fixtures are float32 models.
import "./helpers/gpu.ts";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { openCheckpoint } from "../core/formats/checkpoint.ts";
import { WeightReader } from "../core/formats/weights.ts";
import { buildModel } from "../core/models/index.ts";
import type { Backend } from "../kernels/backend.ts";
import { createGpuBackend } from "../kernels/gpu/index.ts";
import { createBackend } from "../kernels/registry.ts";
import { createWebgpuBackend } from "../kernels/webgpu/index.ts";
import { assertGoldenDecode, assertGoldenPrefill, goldenDirs, goldenLogits, goldenTokens, maxAbsDiff } from "./helpers/golden.ts";

const TOL = 1e-4;
const backends: [string, Backend][] = [["webgpu", await createWebgpuBackend()], ["gpu", await createGpuBackend()]];

async function model(dir: string, backend: Backend) {
  const ckpt = await openCheckpoint(dir);
  try {
    return { model: buildModel(ckpt.config, new WeightReader(ckpt), backend), config: ckpt.config };
  } finally {
    ckpt.close();
  }
}

test("createBackend('gpu' | 'webgpu') starts the GPU backends and names what runs", async () => {
  for (const name of ["gpu", "webgpu"] as const) {
    const b = await createBackend(name);
    assert.is(b.name, name);
    assert.match(b.detail, name === "gpu" ? /gpu\.js webgpu mode/ : /WGSL/);
    b.dispose();
  }
});

for (const dir of goldenDirs) {
  const name = path.basename(dir);
  const [[, webgpu], [, gpujs]] = backends;
  test(`${name}, gpu (gpu.js): 64-token prefill, then 4 decode steps, match the golden prefix`, async () => {
    const m = await model(dir, gpujs);
    const ids = goldenTokens(dir).slice(0, 68);
    const V = m.config.vocab_rows;
    const want = goldenLogits(dir).data.subarray(0, ids.length * V);
    const state = m.model.newState();
    const got = new Float32Array(ids.length * V);
    got.set(m.model.forward(ids.slice(0, 64), state, "all")!);
    for (let t = 64; t < ids.length; t++) got.set(m.model.forward([ids[t]], state, "last")!, t * V);
    const err = maxAbsDiff(got, want);
    assert.ok(err < TOL, `max abs logit error ${err}`);
  });
  for (const [label, backend] of [["webgpu", webgpu]] as const) {
    test(`${name}, ${label}: prefill logits and final state match the golden files`, async () => {
      const m = await model(dir, backend);
      assertGoldenPrefill(m, dir, TOL);
    });

    test(`${name}, ${label}: token-by-token decode matches golden_logits.npy`, async () => {
      const m = await model(dir, backend);
      assertGoldenDecode(m, dir, 12, TOL);
    });
  }
}

test.after(() => {
  for (const [, b] of backends) b.dispose();
});

test.run();
