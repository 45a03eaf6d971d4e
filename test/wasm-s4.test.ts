// The wasm backend's S4 ops (wasm/src/s4.rs via kernels/wasm/s4.ts) against the cpu reference, op by
// op (test/helpers/s4-parity.ts: random shapes with odd sizes, both discretisations, Cc > 1, R >= 1),
// single-threaded (single build) and on 2 threads (every kernel split however small); then whole
// models: the state-spaces/s4 goldens in both modes and checkpoints/s4d-text (logits and greedy text).
//
// Tolerances (float32 kernels against the float64 reference; u = 2^-24):
//   diagScan                |Δ| <= 2e-5·(1 + max|ref|) for y and the final state (float32 recurrence;
//                           observed <= 2e-6)
//   dplrScan                the same (observed < 1e-6 for dt down to 1e-3, |E| = |2/dt + Λ| up to 2000)
//   vandermonde, cauchy     |Δ| <= 1e-6·max(1, max|ref|): float64 inside, as the reference (observed 0:
//                           both round the same float64 values to float32)
//   fftConv                 |Δ| <= 2u·(log2 n + 2)·‖u_h‖₂·‖k_ch‖₂ + 2u·|kState| (float32 FFT error bound;
//                           observed up to 0.7u·log2 n·‖u‖‖k‖; u and k share one complex transform, so
//                           k is first scaled by a power of two to ‖u‖'s size, see ss_s4_fft_conv)
//   layerNorm               |Δ| <= 1e-5·(|ref| + |weight|) + 1e-6
//   activation, glu         |Δ| <= 2e-6·|ref| + 1e-6 (erf by a rational approximation, exp to ~2 ulp)
//   s4 goldens              scaledMaxDiff <= 2e-5 against the s4 code's forward and step (as on cpu), and
//                           <= 1e-5 against the cpu backend's outputs
//   s4d-text                logits within 1e-4 (scaled) of the cpu backend's; the same greedy text
import { test } from "uvu";
import * as assert from "uvu/assert";
import path from "node:path";
import { load } from "../core/index.ts";
import { openCheckpoint } from "../core/formats/checkpoint.ts";
import { WeightReader } from "../core/formats/weights.ts";
import { buildS4, isS4Model } from "../core/models/s4.ts";
import type { Backend } from "../kernels/backend.ts";
import { cpuS4Ops } from "../kernels/cpu/s4.ts";
import { createWasmBackend } from "../kernels/wasm/index.ts";
import { BackendError } from "../core/errors.ts";
import { U32, rand, within } from "./helpers/op-parity.ts";
import { registerS4Goldens, S4_FIXTURES } from "./helpers/s4-goldens.ts";
import { registerS4Parity } from "./helpers/s4-parity.ts";
import { S4D_TEXT, assertS4dTextLogits, assertSnapshotForkResume, generateText, s4dTextInfo } from "./helpers/s4d-text.ts";

const wasm1 = await createWasmBackend({ threads: 1, shared: false, warmUp: false });
const wasm2 = await createWasmBackend({ threads: 2, grain: "fine", warmUp: false });
const backends: [string, Backend][] = [["wasm 1 thread (single build)", wasm1], ["wasm 2 threads", wasm2]];

registerS4Parity(test, backends.map(([l, b]) => [l, b.s4!]), {
  runs: 25,
  max: { H: 7, M: 11, T: 70, L: 300, Cc: 3, R: 3 },
  tol: {
    diag: 2e-5,
    dplr: 2e-5,
    vandermonde: () => 1e-6,
    cauchy: { sum: 0, floor: 1e-6 },
    conv: 2 * U32,
    layerNorm: 1e-5,
    pointwise: 2e-6,
  },
});

test("the wasm backend has S4 ops and an S4 model says they run (not the cpu fallback)", async () => {
  for (const [, b] of backends) assert.ok(b.s4, "backend.s4");
  const ck = await openCheckpoint(path.join(S4_FIXTURES, "s4d_minimal_seq"));
  try {
    if (ck.config.family !== "s4") throw new Error("not s4");
    const m = buildS4(ck.config, new WeightReader(ck), wasm2);
    assert.match(m.s4Ops, /^wasm/);
    assert.not.match(m.s4Ops, /cpu/);
  } finally {
    ck.close();
  }
});

test("large calls split over threads (auto grain) and write into `out` without touching past it", async () => {
  const b = await createWasmBackend({ threads: 2, warmUp: false });
  try {
    const T = 300, H = 48, M = 32, Cc = 2;
    const dA = rand(1, H * M * 2, -0.7, 0.7), dB = rand(2, H * M * 2), dC = rand(3, Cc * H * M * 2), u = rand(4, T * H);
    const s0 = rand(5, H * M * 2), sRef = s0.slice(), st = s0.slice();
    const want = cpuS4Ops.diagScan({ T, H, M, Cc, dA, dB, dC, u, state: sRef });
    const out = new Float32Array(T * Cc * H + 2).fill(7);
    const got = b.s4!.diagScan({ T, H, M, Cc, dA, dB, dC, u, state: st, out });
    assert.ok(got === out);
    const m = want.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
    within("diagScan auto-split", got.subarray(0, T * Cc * H), want, () => 2e-5 * (1 + m));
    assert.is(out[T * Cc * H], 7);
    const k = rand(6, Cc * H * 256);
    const yRef = cpuS4Ops.fftConv({ T, H, Cc, Lk: 256, u, k });
    const y = b.s4!.fftConv({ T, H, Cc, Lk: 256, u, k });
    const my = yRef.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
    within("fftConv auto-split", y, yRef, () => 1e-4 * (1 + my));
  } finally {
    b.dispose();
  }
});

test("bad shapes are BackendErrors naming the op and the array", () => {
  const s4 = wasm1.s4!;
  const z = new Float32Array(8);
  assert.throws(() => s4.diagScan({ T: 2, H: 2, M: 2, Cc: 1, dA: z, dB: z, dC: z, u: new Float32Array(1), state: z }), (e: unknown) => e instanceof BackendError && /diagScan: u/.test((e as Error).message));
  assert.throws(() => s4.fftConv({ T: 4, H: 1, Cc: 1, Lk: 2, u: new Float32Array(4), k: new Float32Array(2), kState: new Float32Array(8), Ls: 3 }), /Ls = 3/);
  assert.throws(() => s4.vandermondeKernel({ Cc: 1, H: 1, M: 0, L: 3, v: z, z }), /M must be/);
  assert.throws(() => s4.activation(z, "swish" as never), /unknown kind/);
});

registerS4Goldens(test, backends, "wasm (1 and 2 threads)");

test("checkpoints/s4d-text on wasm: logits == cpu in both modes, and greedy generation gives the cpu's text", async () => {
  await assertS4dTextLogits(backends, (s4dTextInfo.golden as { ids: number[] }).ids);
  const sample = s4dTextInfo.samples[0] as { prompt: string };
  const greedy = async (backend: "cpu" | "wasm", threads?: number) => {
    const m = await load(S4D_TEXT, { backend, threads });
    try {
      assert.ok(isS4Model(m.model));
      if (backend === "wasm") assert.match((m.model as { s4Ops: string }).s4Ops, /^wasm/);
      return await generateText(m, sample.prompt, { maxTokens: 48, temperature: 0 });
    } finally {
      m.dispose();
    }
  };
  const want = await greedy("cpu");
  assert.is(await greedy("wasm", 1), want);
  assert.is(await greedy("wasm", 2), want);
});

test("s4d-text on wasm (states in wasm memory): snapshot / restore / fork resume a sampled stream exactly", async () => {
  const m = await load(S4D_TEXT, { backend: "wasm", threads: 2 });
  try {
    await assertSnapshotForkResume(m);
  } finally {
    m.dispose();
  }
});

test.run();
