// The gated delta-rule op (Backend.deltaRule.gatedDelta) of the wasm (1 thread, single build; 2 threads,
// every call split over heads however small), webgpu (WGSL) and gpu (gpu.js) backends equals the cpu
// reference (kernels/cpu/delta-rule.ts, float64 accumulation) for random shapes: T from 1 (the decode
// step) up past the wasm chunk cap, odd H, K, V (tails that are not multiples of the SIMD width or of
// the gemm tiles), chunk sizes dividing T or not, carried state, one call or two consecutive calls.
// Inputs as in the models: q, k L2-normalised per head, β ∈ (0, 1); g ≤ 0 (decay ∈ (e^-6, 1]) or
// general (g ∈ [−1, 0.25]: the state may grow). Then a MoM model runs on wasm and webgpu and gives the
// cpu's logits and states for prefill and decode.
//
// Tolerances (float32 kernels against float64; GPU exp is a few ulp):
//   op output and final state  |Δ| <= 2e-6·(1 + max|ref|)   (max over the compared array; observed ~1.5e-7)
//   MoM logits and states      scaledMaxDiff <= 2e-5 (test/helpers/random-model.ts; observed 1e-6 wasm, 4e-6 webgpu)
import "./helpers/gpu.ts";
import * as fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { BackendError } from "../core/errors.ts";
import { buildModel } from "../core/models/index.ts";
import { momConfig, randomMomWeights } from "../core/models/mom-random.ts";
import type { MomModel } from "../core/models/mom.ts";
import type { Backend, GatedDeltaArgs } from "../kernels/backend.ts";
import { createCpuBackend } from "../kernels/cpu/index.ts";
import { cpuDeltaRule } from "../kernels/cpu/delta-rule.ts";
import { createGpuBackend } from "../kernels/gpu/index.ts";
import { createWasmBackend } from "../kernels/wasm/index.ts";
import { createWebgpuBackend } from "../kernels/webgpu/index.ts";
import { maxAbs } from "./helpers/op-parity.ts";
import { deltaRuleInputs, deltaRuleRows } from "./helpers/delta-rule-inputs.ts";
import { scaledMaxDiff, stateDiff } from "./helpers/random-model.ts";

const OP_TOL = 2e-6;
const MODEL_TOL = 2e-5;

const wasm1 = await createWasmBackend({ threads: 1, shared: false, warmUp: false });
const wasm2 = await createWasmBackend({ threads: 2, grain: "fine", warmUp: false });
const webgpu = await createWebgpuBackend();
const gpu = await createGpuBackend();

interface Case { T: number; H: number; K: number; V: number; chunk: number | undefined; general: boolean; zero: boolean; cut: number; seed: number }

const caseArb = (maxT: number, maxKV: number): fc.Arbitrary<Case> =>
  fc.record({
    T: fc.integer({ min: 1, max: maxT }),
    H: fc.integer({ min: 1, max: 3 }),
    K: fc.integer({ min: 1, max: maxKV }),
    V: fc.integer({ min: 1, max: maxKV }),
    chunk: fc.option(fc.integer({ min: 1, max: maxT }), { nil: undefined }),
    general: fc.boolean(),
    zero: fc.boolean(),
    cut: fc.nat(),
    seed: fc.integer(),
  });

function inputs(c: Case): GatedDeltaArgs {
  return deltaRuleInputs({
    ...c, chunkSize: c.chunk, zeroState: c.zero,
    beta: (r) => 0.01 + 0.98 * r(),
    g: (r) => (c.general ? -1 + 1.25 * r() : -6 * r() * r()),
  });
}

function close(what: string, got: Float32Array, want: Float32Array): void {
  assert.is(got.length, want.length, `${what}: length`);
  const tol = OP_TOL * (1 + maxAbs(want));
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= tol)) assert.unreachable(`${what}[${i}] = ${got[i]}, reference ${want[i]} (|Δ| ${d.toExponential(2)} > ${tol.toExponential(2)})`);
  }
}

/** One case on `b`: a single call, or two consecutive calls cut at c.cut % (T + 1), against one cpu call. */
function check(label: string, b: Backend, c: Case): void {
  const a = inputs(c);
  const refState = a.state.slice();
  const want = cpuDeltaRule.gatedDelta({ ...a, state: refState });
  const state = a.state.slice();
  const cut = c.cut % (c.T + 1);
  const ops = b.deltaRule!;
  const got = new Float32Array(c.T * c.H * c.V);
  if (cut === 0 || cut === c.T) got.set(ops.gatedDelta({ ...a, state }));
  else {
    got.set(ops.gatedDelta(deltaRuleRows(a, 0, cut, state)), 0);
    // the second part writes into a caller-provided `out`
    ops.gatedDelta({ ...deltaRuleRows(a, cut, c.T, state), out: got.subarray(cut * c.H * c.V) });
  }
  const what = `${label} T ${c.T} H ${c.H} K ${c.K} V ${c.V} chunk ${c.chunk} cut ${cut}${c.general ? " general g" : ""}`;
  close(`${what}: out`, got, want);
  close(`${what}: state`, state, refState);
}

test("every backend exposes the op (cpu included)", () => {
  for (const b of [createCpuBackend(), wasm1, wasm2, webgpu, gpu]) assert.type(b.deltaRule?.gatedDelta, "function", b.name);
  assert.is(wasm2.threads, 2);
});

test("wasm (1 thread, 2 threads) equals the cpu reference", () => {
  fc.assert(
    fc.property(caseArb(40, 20), (c) => {
      check("wasm 1 thread", wasm1, c);
      check("wasm 2 threads", wasm2, c);
    }),
    { numRuns: 150 },
  );
});

test("wasm at a MoM-like head size (K = V = 64, full chunks and a partial one)", () => {
  for (const [T, chunk] of [[1, undefined], [77, undefined], [40, 16]] as const)
    for (const b of [wasm1, wasm2]) check(`wasm ${b.threads}`, b, { T, H: 4, K: 64, V: 64, chunk, general: false, zero: false, cut: 0, seed: T });
});

test("wasm: state and out living in wasm memory (alloc()) are used in place", () => {
  for (const T of [1, 9]) {
    const c: Case = { T, H: 3, K: 7, V: 5, chunk: 4, general: false, zero: false, cut: 0, seed: 40 + T };
    const a = inputs(c);
    const refState = a.state.slice();
    const want = cpuDeltaRule.gatedDelta({ ...a, state: refState });
    const state = wasm2.alloc(a.state.length), out = wasm2.alloc(T * c.H * c.V);
    state.set(a.state);
    assert.ok(wasm2.deltaRule!.gatedDelta({ ...a, state, out }) === out, "returns out");
    close(`T ${T}: out`, out, want);
    close(`T ${T}: state`, state, refState);
  }
});

test("webgpu (WGSL) and gpu (gpu.js) equal the cpu reference", () => {
  fc.assert(
    fc.property(caseArb(12, 12), (c) => {
      check("webgpu", webgpu, c);
      check("gpu", gpu, c);
    }),
    { numRuns: 12 },
  );
});

test("webgpu at a MoM-like head size (T = 64, H = 4, K = V = 64)", () => {
  check("webgpu", webgpu, { T: 64, H: 4, K: 64, V: 64, chunk: 16, general: false, zero: false, cut: 0, seed: 5 });
});

test("T = 0 returns an empty output; bad arguments are BackendErrors naming the tensor or size", () => {
  const c: Case = { T: 3, H: 2, K: 5, V: 3, chunk: 2, general: false, zero: false, cut: 0, seed: 1 };
  for (const b of [createCpuBackend(), wasm1, wasm2, webgpu, gpu]) {
    const a = inputs(c);
    const s0 = a.state.slice();
    assert.is(b.deltaRule!.gatedDelta({ ...a, T: 0 }).length, 0);
    assert.equal(a.state, s0, `${b.name}: T = 0 leaves the state alone`);
    const bad = (args: GatedDeltaArgs, re: RegExp) =>
      assert.throws(() => b.deltaRule!.gatedDelta(args), (e: unknown) => e instanceof BackendError && re.test(e.message), `${b.name}: ${re}`);
    bad({ ...a, k: a.k.subarray(1) }, /tensor k has 29 values, expected at least 30/);
    bad({ ...a, state: new Float32Array(3) }, /tensor state has 3 values/);
    bad({ ...a, out: new Float32Array(2) }, /tensor out/);
    bad({ ...a, V: 0 }, /V must be a positive integer/);
    bad({ ...a, chunkSize: 0 }, /chunkSize must be a positive integer/);
  }
});

// ---- MoM model parity -------------------------------------------------------------------------------

const config = momConfig({
  d_model: 24, n_layer: 2, num_heads: 2, head_dim: 6, expand_v: 1, num_memories: 3, topk: 2, shared_mem: true,
  conv_size: 4, vocab_size: 40, intermediate_size: 20, chunk_size: 5,
});
const weights = randomMomWeights(config, 21);
const tokens = Array.from({ length: 13 }, (_, i) => (i * 17 + 3) % config.vocab_size);

function run(b: Backend): { prefill: Float32Array; decode: Float32Array[]; model: MomModel; state: ReturnType<MomModel["newState"]> } {
  const model = buildModel(config, weights, b, { maxBlock: 8 }) as MomModel;
  const state = model.newState();
  const prefill = model.forward(tokens, state, "all")!;
  const decode = [5, 9, 31, 2].map((id) => model.forward([id], state, "last")!);
  return { prefill, decode, model, state };
}

test("a MoM model on wasm and webgpu gives the cpu logits and states (prefill, then decode)", () => {
  const ref = run(createCpuBackend());
  assert.is(ref.model.deltaRuleOp, "cpu");
  for (const b of [wasm1, wasm2, webgpu]) {
    const r = run(b);
    assert.is(r.model.deltaRuleOp, b.name, "the backend's own op runs");
    const dp = scaledMaxDiff(ref.prefill, r.prefill);
    assert.ok(dp <= MODEL_TOL, `${b.detail}: prefill logits differ by ${dp}`);
    r.decode.forEach((l, i) => {
      const d = scaledMaxDiff(ref.decode[i], l);
      assert.ok(d <= MODEL_TOL, `${b.detail}: decode step ${i} logits differ by ${d}`);
    });
    const ds = stateDiff(ref.state, r.state);
    assert.ok(ds <= MODEL_TOL, `${b.detail}: states differ by ${ds}`);
  }
});

test("a backend without the op runs the cpu reference and says so", () => {
  const cpu = createCpuBackend();
  const bare: Backend = { ...cpu, deltaRule: undefined };
  const model = buildModel(config, weights, bare) as MomModel;
  assert.match(model.deltaRuleOp, /^cpu reference \(backend cpu has no delta-rule op\)$/);
  const withOp = buildModel(config, weights, cpu);
  assert.equal(model.forward(tokens, model.newState(), "last"), withOp.forward(tokens, withOp.newState(), "last"));
});

test.after(() => {
  for (const b of [wasm1, wasm2, webgpu, gpu]) b.dispose();
});

test.run();
