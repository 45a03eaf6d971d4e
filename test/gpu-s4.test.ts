// The S4 ops of both GPU backends — webgpu (WGSL, kernels/webgpu/s4.ts) and gpu (gpu.js,
// kernels/gpu/s4.ts) — against the cpu reference, op by op (test/helpers/s4-parity.ts: random shapes
// with odd sizes, both discretisations, Cc > 1, R >= 1; smaller and fewer than the wasm suite, since
// CI runs them on SwiftShader), then whole models: the state-spaces/s4 goldens in both modes on both
// backends, and checkpoints/s4d-text greedy generation on webgpu.
//
// Tolerances (float32 GPU kernels against the float64 reference; u = 2^-24; GPU exp / log / division
// are a few ulp, not correctly rounded):
//   diagScan, dplrScan      |Δ| <= 2e-5·(1 + max|ref|) for y and the final state
//   vandermonde             |Δ| <= 2e-6·max(1, max|ref|): powers from the polar form (exact phase
//                           reduction), so the error does not grow with l
//   cauchy                  per output row r: |Δ[r, l]| <= 16u·2M·‖ref[r, :]‖₁ + 4u·max(1, max|ref|):
//                           float32 Cauchy sums over 2M poles (the Woodbury solves are float64 on the
//                           worker), then a float32 inverse DFT, so the error follows the row's own
//                           size. Observed worst 0.105 of this bound over 3,000 random systems
//                           (`npx tsx bench/cauchy-accuracy.ts --cases 3000`); the old flat bound
//                           2e-5·max(1, max|ref|) was exceeded 2.4x (CI failed on M 7, L 106)
//   fftConv                 |Δ| <= 4u·(log2 n + 2)·‖u_h‖₂·‖k_ch‖₂ + 2u·|kState| (a direct sum here, whose
//                           error bound taps·u·‖u‖‖k‖ this covers for random signs)
//   layerNorm               |Δ| <= 1e-5·(|ref| + |weight|) + 1e-6
//   activation, glu         |Δ| <= 2e-6·|ref| + 1e-6
//   s4 goldens              scaledMaxDiff <= 2e-5 against the s4 code's forward and step, <= 1e-5 against cpu
//   s4d-text                the cpu backend's greedy text; logits within 1e-4 (scaled) of the cpu's
import "./helpers/gpu.ts";
import { test } from "uvu";
import * as assert from "uvu/assert";
import path from "node:path";
import { load } from "../core/index.ts";
import { openCheckpoint } from "../core/formats/checkpoint.ts";
import { WeightReader } from "../core/formats/weights.ts";
import { buildS4 } from "../core/models/s4.ts";
import type { Backend } from "../kernels/backend.ts";
import { createGpuBackend } from "../kernels/gpu/index.ts";
import { createWebgpuBackend } from "../kernels/webgpu/index.ts";
import { BackendError } from "../core/errors.ts";
import { U32 } from "./helpers/op-parity.ts";
import { registerS4Goldens, S4_FIXTURES } from "./helpers/s4-goldens.ts";
import { registerS4Parity } from "./helpers/s4-parity.ts";
import { S4D_TEXT, assertS4dTextLogits, generateText, s4dTextInfo } from "./helpers/s4d-text.ts";

const webgpu = await createWebgpuBackend();
const gpu = await createGpuBackend();
const backends: [string, Backend][] = [["webgpu (WGSL)", webgpu], ["gpu (gpu.js)", gpu]];

registerS4Parity(test, backends.map(([l, b]) => [l, b.s4!]), {
  runs: 8,
  max: { H: 5, M: 9, T: 33, L: 150, Cc: 3, R: 3 },
  tol: {
    diag: 2e-5,
    dplr: 2e-5,
    vandermonde: () => 2e-6,
    cauchy: { sum: 16 * U32, floor: 4 * U32 },
    conv: 4 * U32,
    layerNorm: 1e-5,
    pointwise: 2e-6,
  },
});

test("both GPU backends have S4 ops, and an S4 model on them says so", async () => {
  const ck = await openCheckpoint(path.join(S4_FIXTURES, "s4d_minimal_seq"));
  try {
    if (ck.config.family !== "s4") throw new Error("not s4");
    for (const [label, b] of backends) {
      assert.ok(b.s4, `${label}: backend.s4`);
      assert.is(buildS4(ck.config, new WeightReader(ck), b).s4Ops, b.name);
    }
  } finally {
    ck.close();
  }
});

test("bad shapes are BackendErrors on the host, before any GPU work", () => {
  for (const [, b] of backends) {
    const z = new Float32Array(8);
    assert.throws(() => b.s4!.dplrScan({ T: 1, H: 1, M: 4, R: 1, Cc: 1, E: z, D: z, B: z, P: z, W: new Float32Array(2), dC: z, u: z, state: z }), (e: unknown) => e instanceof BackendError && /dplrScan: W/.test((e as Error).message));
    assert.throws(() => b.s4!.glu(z, 3, 2), /glu: x/);
  }
});

registerS4Goldens(test, backends, "webgpu and gpu");

test("checkpoints/s4d-text on webgpu: logits == cpu (both modes) and greedy generation gives the cpu's text", async () => {
  await assertS4dTextLogits([["webgpu", webgpu]], (s4dTextInfo.golden as { ids: number[] }).ids.slice(0, 48));
  const sample = s4dTextInfo.samples[0] as { prompt: string };
  const greedy = async (backend: "cpu" | "webgpu") => {
    const m = await load(S4D_TEXT, { backend });
    try {
      assert.is((m.model as unknown as { s4Ops: string }).s4Ops, backend);
      return await generateText(m, sample.prompt, { maxTokens: 20, temperature: 0 });
    } finally {
      m.dispose();
    }
  };
  assert.is(await greedy("webgpu"), await greedy("cpu"));
});

test.run();
