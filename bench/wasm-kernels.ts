// Kernel microbenchmark: matvec (decode, T = 1) and matmul (prefill, T tokens) at the mamba2-130m
// shapes (in_proj 3352x768, out_proj 768x1536, lm_head 50288x768) on the wasm backend (1 and N
// threads) and the cpu reference, in the same run; plus the SSD scan (decode step and chunked
// prefill, chunkSize 256 as in the released configs, state in wasm memory via alloc()) at the
// mamba2-130m layer shape (H 24, P 64, N 128) and the Mamba-1 selective scan (D 1536, N 16).
// Times are wall-clock medians of the op as a model calls it (activations copied in and out);
// "cpu-s ms" is the process CPU time per call, meaningful for one thread on a busy machine
// (with N threads it also counts the waiting threads' polling). The header gives the load average.
// Usage: tsx bench/wasm-kernels.ts [--threads N] [--T 64] [--dtypes f32,f16,bf16,int8] [--budget 0.4] [--no-cpu]
import os from "node:os";
import type { Backend, WeightDType } from "../kernels/backend.ts";
import { createCpuBackend } from "../kernels/cpu/index.ts";
import { createWasmBackend } from "../kernels/wasm/index.ts";

const argv = process.argv.slice(2);
const opt = (name: string, dflt: string) => (argv.includes(`--${name}`) ? argv[argv.indexOf(`--${name}`) + 1] : dflt);
const threads = Number(opt("threads", String(os.availableParallelism())));
const T = Number(opt("T", "64"));
const dtypes = opt("dtypes", "f32,f16,bf16,int8").split(",") as WeightDType[];
const budget = Number(opt("budget", "0.4"));
const withCpu = !argv.includes("--no-cpu");

const shapes = [
  { name: "in_proj", rows: 3352, cols: 768 },
  { name: "out_proj", rows: 768, cols: 1536 },
  { name: "lm_head", rows: 50288, cols: 768 },
];
const BYTES: Record<WeightDType, number> = { f32: 4, f16: 2, bf16: 2, int8: 34 / 32 };

function rand(n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    a[i] = ((s >>> 8) / 16777216 - 0.5) * 2 * scale;
  }
  return a;
}

let lastCpu = NaN;
/** Median wall seconds of fn() over repeats filling `budget` seconds (at least 3, after one warm-up); lastCpu: median CPU seconds. */
function time(fn: () => void, maxBudget = budget): number {
  fn();
  const ts: number[] = [];
  const cs: number[] = [];
  const t0 = performance.now();
  while (ts.length < 3 || (performance.now() - t0) / 1000 < maxBudget) {
    const a = performance.now();
    const c = process.cpuUsage();
    fn();
    const d = process.cpuUsage(c);
    ts.push((performance.now() - a) / 1000);
    cs.push((d.user + d.system) / 1e6);
    if (ts.length >= 200) break;
  }
  ts.sort((a, b) => a - b);
  cs.sort((a, b) => a - b);
  lastCpu = cs[cs.length >> 1];
  return ts[ts.length >> 1];
}

const backends: { label: string; b: Backend }[] = [];
backends.push({ label: "wasm x1", b: await createWasmBackend({ threads: 1 }) });
if (threads > 1) backends.push({ label: `wasm x${threads}`, b: await createWasmBackend({ threads }) });
const cpu = createCpuBackend();

console.log(`# wasm kernels — ${os.cpus()[0]?.model ?? "?"}, ${os.availableParallelism()} cpus, node ${process.version}`);
for (const { label, b } of backends) console.log(`# ${label}: ${b.detail}`);
console.log(`# cpu: ${cpu.detail}; prefill T = ${T}; median of repeats over ${budget} s; load average ${os.loadavg().map((l) => l.toFixed(1)).join(" ")}`);
console.log("");
console.log("| op | shape | weights | T | backend | ms | cpu-s ms | GFLOP/s | weight GB/s | x cpu |");
console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");

for (const s of shapes) {
  const w = rand(s.rows * s.cols, 0.05);
  for (const dt of dtypes) {
    for (const t of [1, T]) {
      const x = rand(t * s.cols);
      const flops = 2 * t * s.rows * s.cols;
      const wbytes = s.rows * s.cols * BYTES[dt];
      let cpuSec = NaN;
      const rows: string[] = [];
      if (withCpu && !(t > 1 && s.rows * s.cols * t > 1e9)) {
        const m = cpu.matrix(w, s.rows, s.cols, dt);
        const out = new Float32Array(t * s.rows);
        cpuSec = time(() => cpu.matmul(x, t, m, out), Math.min(budget, 0.5));
        rows.push(`| ${t === 1 ? "matvec" : "matmul"} | ${s.name} ${s.rows}x${s.cols} | ${dt} | ${t} | cpu | ${(cpuSec * 1e3).toFixed(3)} | ${(lastCpu * 1e3).toFixed(3)} | ${(flops / cpuSec / 1e9).toFixed(2)} | ${(wbytes / cpuSec / 1e9).toFixed(2)} | 1.0 |`);
      }
      for (const { label, b } of backends) {
        const m = b.matrix(w, s.rows, s.cols, dt);
        const out = new Float32Array(t * s.rows);
        const sec = time(() => b.matmul(x, t, m, out));
        const ratio = Number.isNaN(cpuSec) ? "" : (cpuSec / sec).toFixed(1);
        rows.push(`| ${t === 1 ? "matvec" : "matmul"} | ${s.name} ${s.rows}x${s.cols} | ${dt} | ${t} | ${label} | ${(sec * 1e3).toFixed(3)} | ${(lastCpu * 1e3).toFixed(3)} | ${(flops / sec / 1e9).toFixed(2)} | ${(wbytes / sec / 1e9).toFixed(2)} | ${ratio} |`);
        (b as { release?: (m: unknown) => void }).release?.(m);
      }
      console.log(rows.join("\n"));
    }
  }
}

// SSD scan at the mamba2-130m layer shape; selective scan at the mamba-130m one
const H = 24, P = 64, N = 128, G = 1;
const alloc = (b: Backend, a: Float32Array) => {
  const f = (b as { alloc?: (n: number) => Float32Array }).alloc;
  if (!f) return a;
  const v = f.call(b, a.length);
  v.set(a);
  return v;
};
const scanRow = (op: string, shape: string, t: number, label: string, sec: number, cpuS: number, flops: number, cpuSec: number) =>
  `| ${op} | ${shape} | - | ${t} | ${label} | ${(sec * 1e3).toFixed(3)} | ${(cpuS * 1e3).toFixed(3)} | ${(flops / sec / 1e9).toFixed(2)} | | ${Number.isNaN(cpuSec) ? "" : (cpuSec / sec).toFixed(1)} |`;
for (const t of [1, 256]) {
  const mk = (b: Backend) => ({
    T: t, H, P, G, N, x: rand(t * H * P), dt: rand(t * H).map((v) => 0.01 + Math.abs(v) * 0.1), A: rand(H).map((v) => -1 - Math.abs(v) * 8),
    B: rand(t * G * N), C: rand(t * G * N), D: rand(H), state: alloc(b, rand(H * P * N, 0.1)), chunkSize: 256, out: new Float32Array(t * H * P),
  });
  // step: 5 flops per state element; chunked (Q = 256): C·Bᵀ, masked mix, state in / out
  const flops = t === 1 ? 5 * H * P * N : t * (H * (4 * P * N + 256 * P) + 256 * N);
  const rows: string[] = [];
  let cpuSec = NaN;
  if (withCpu) {
    const a = mk(cpu);
    cpuSec = time(() => cpu.ssdScan(a), Math.min(budget, 0.5));
    rows.push(scanRow("ssdScan", `H${H} P${P} N${N} Q256`, t, "cpu", cpuSec, lastCpu, flops, cpuSec));
  }
  for (const { label, b } of backends) {
    const a = mk(b);
    const sec = time(() => b.ssdScan(a));
    rows.push(scanRow("ssdScan", `H${H} P${P} N${N} Q256`, t, label, sec, lastCpu, flops, cpuSec));
  }
  console.log(rows.join("\n"));
}
for (const t of [1, 256]) {
  const Dm = 1536, Nm = 16;
  const mk = (b: Backend) => ({
    T: t, D: Dm, N: Nm, x: rand(t * Dm), dt: rand(t * Dm).map((v) => 0.01 + Math.abs(v) * 0.1), A: rand(Dm * Nm).map((v) => -1 - Math.abs(v) * 8),
    B: rand(t * Nm), C: rand(t * Nm), Dskip: rand(Dm), state: alloc(b, rand(Dm * Nm, 0.1)), out: new Float32Array(t * Dm),
  });
  const flops = 7 * t * Dm * Nm; // exp counted as one
  const rows: string[] = [];
  let cpuSec = NaN;
  if (withCpu) {
    const a = mk(cpu);
    cpuSec = time(() => cpu.selectiveScan(a), Math.min(budget, 0.5));
    rows.push(scanRow("selectiveScan", `D${Dm} N${Nm}`, t, "cpu", cpuSec, lastCpu, flops, cpuSec));
  }
  for (const { label, b } of backends) {
    const a = mk(b);
    const sec = time(() => b.selectiveScan(a));
    rows.push(scanRow("selectiveScan", `D${Dm} N${Nm}`, t, label, sec, lastCpu, flops, cpuSec));
  }
  console.log(rows.join("\n"));
}

for (const { b } of backends) b.dispose();
