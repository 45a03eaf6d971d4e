// The gated delta-rule op (Backend.deltaRule.gatedDelta, the memory of MoM) at a MoM-like shape:
// prefill of T tokens (the chunked form) and a decode step (T = 1), on the cpu reference and the wasm
// backend with 1 and 2 threads, in the same run; and the same prefill as T one-token calls (the step
// kernel), the baseline of the chunked form. Optionally (--webgpu) the WGSL backend, on whatever adapter Dawn
// finds: on SwiftShader (software Vulkan) that is a correctness check, not a speed figure.
// Times are wall-clock medians of the op as the model calls it (inputs copied into wasm memory and
// the output and state copied back). The header gives the machine and its load average.
//
// Usage: npx tsx bench/delta-rule-bench.ts [--T 512] [--H 4] [--K 64] [--V 64] [--chunk 16] [--budget 1] [--webgpu]
import os from "node:os";
import { parseArgs } from "node:util";
import type { Backend, GatedDeltaArgs } from "../kernels/backend.ts";
import { createCpuBackend } from "../kernels/cpu/index.ts";
import { MAX_CHUNK } from "../kernels/wasm/delta-rule.ts";
import { createWasmBackend } from "../kernels/wasm/index.ts";

const { values } = parseArgs({
  options: {
    T: { type: "string", default: "512" },
    H: { type: "string", default: "4" },
    K: { type: "string", default: "64" },
    V: { type: "string", default: "64" },
    chunk: { type: "string", default: "16" },
    budget: { type: "string", default: "1" },
    webgpu: { type: "boolean", default: false },
  },
});
const T = Number(values.T), H = Number(values.H), K = Number(values.K), V = Number(values.V);
const chunk = Number(values.chunk), budget = Number(values.budget);

function rand(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    a[i] = lo + ((s >>> 8) / 16777216) * (hi - lo);
  }
  return a;
}
function l2rows(x: Float32Array): Float32Array {
  for (let o = 0; o < x.length; o += K) {
    let s = 0;
    for (let i = 0; i < K; i++) s += x[o + i] * x[o + i];
    for (let i = 0; i < K; i++) x[o + i] /= Math.sqrt(s + 1e-6);
  }
  return x;
}
function args(T: number): GatedDeltaArgs {
  return {
    T, H, K, V, chunkSize: chunk, scale: 1 / Math.sqrt(K),
    q: l2rows(rand(T * H * K, 1)), k: l2rows(rand(T * H * K, 2)), v: rand(T * H * V, 3),
    beta: rand(T * H, 4, 0.05, 0.95), g: rand(T * H, 5, -0.5, 0), state: rand(H * K * V, 6, -0.1, 0.1),
  };
}

let lastCpu = NaN;
/** Median wall ms of fn() over repeats filling `budget` seconds (at least 5, after two warm-ups);
 *  lastCpu: the median process CPU ms per call (robust to other load for one thread; with two
 *  threads it also counts the pool's polling). */
function time(fn: () => void): number {
  fn();
  fn();
  const ts: number[] = [];
  const cs: number[] = [];
  const t0 = performance.now();
  while (ts.length < 5 || (performance.now() - t0) / 1000 < budget) {
    const a = performance.now();
    const c = process.cpuUsage();
    fn();
    const d = process.cpuUsage(c);
    ts.push(performance.now() - a);
    cs.push((d.user + d.system) / 1000);
    if (ts.length >= 500) break;
  }
  ts.sort((a, b) => a - b);
  cs.sort((a, b) => a - b);
  lastCpu = cs[cs.length >> 1];
  return ts[ts.length >> 1];
}

const prefill = args(T), step = args(1);
const run = (b: Backend, a: GatedDeltaArgs) => () => {
  b.deltaRule!.gatedDelta({ ...a, state: a.state.slice() });
};
/** The prefill as T decode calls (the step recurrence), the baseline of the chunked form. */
const tokenByToken = (b: Backend) => () => {
  const state = prefill.state.slice();
  const out = new Float32Array(H * V);
  for (let t = 0; t < T; t++) {
    const r = (x: Float32Array, n: number) => x.subarray(t * n, (t + 1) * n);
    b.deltaRule!.gatedDelta({ ...prefill, T: 1, state, out, q: r(prefill.q, H * K), k: r(prefill.k, H * K), v: r(prefill.v, H * V), beta: r(prefill.beta, H), g: r(prefill.g, H) });
  }
};
const cpu = createCpuBackend();
const rows: { what: string; ms: number; cpuMs: number; stepMs: number }[] = [];
const row = (what: string, a: () => void, b?: () => void) => {
  const ms = time(a), cpuMs = lastCpu;
  rows.push({ what, ms, cpuMs, stepMs: b ? time(b) : NaN });
};
row("cpu reference (float64, chunked)", run(cpu, prefill), run(cpu, step));
for (const threads of [1, 2]) {
  const w = await createWasmBackend({ threads });
  row(`${w.detail}, chunked`, run(w, prefill), run(w, step));
  row(`${w.detail}, T calls of one token (step kernel)`, tokenByToken(w));
  w.dispose();
}
let note = "";
if (values.webgpu) {
  await import("../test/helpers/gpu.ts");
  const { createWebgpuBackend } = await import("../kernels/webgpu/index.ts");
  const g = await createWebgpuBackend();
  const a = { ...prefill, state: prefill.state.slice() };
  const want = cpu.deltaRule!.gatedDelta({ ...prefill, state: prefill.state.slice() });
  const t0 = performance.now();
  const got = g.deltaRule!.gatedDelta(a);
  const ms = performance.now() - t0;
  let d = 0, m = 1;
  for (let i = 0; i < want.length; i++) {
    d = Math.max(d, Math.abs(got[i] - want[i]));
    m = Math.max(m, Math.abs(want[i]));
  }
  note = `webgpu (${g.detail}): one prefill call ${ms.toFixed(0)} ms, max |Δ| vs cpu ${(d / m).toExponential(1)} of max(1, max|ref|) — a software adapter, not a speed figure`;
  g.dispose();
}

const cpus = os.cpus();
console.log(`machine: ${cpus[0]?.model ?? "?"} x${cpus.length}, node ${process.version}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`);
console.log(`shape: T ${T}, H ${H}, K ${K}, V ${V}, chunkSize ${chunk} (wasm caps chunks at ${MAX_CHUNK}); median of >= 5 runs, ${budget} s budget per row`);
console.log("| delta-rule op | prefill ms | prefill tok/s | vs cpu | prefill CPU-time ms | decode step ms | vs cpu |");
console.log("|---|---|---|---|---|---|---|");
for (const r of rows)
  console.log(
    `| ${r.what} | ${r.ms.toFixed(2)} | ${((T / r.ms) * 1000).toFixed(0)} | ${(rows[0].ms / r.ms).toFixed(1)}x | ${r.cpuMs.toFixed(1)} | ` +
      (Number.isNaN(r.stepMs) ? "| |" : `${r.stepMs.toFixed(3)} | ${(rows[0].stepMs / r.stepMs).toFixed(1)}x |`),
  );
if (note) console.log(note);
