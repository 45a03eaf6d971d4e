// Kernel microbenchmark: matvec (decode, T = 1) and matmul (prefill, T tokens) at the mamba2-130m
// shapes (in_proj 3352x768, out_proj 768x1536, lm_head 50288x768) on the wasm backend (1 and N
// threads) and the cpu reference, in the same run; plus the SSD scan (decode step and chunked
// prefill) at the mamba2-130m layer shape (H 24, P 64, N 128).
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

/** Median seconds of fn() over repeats filling `budget` seconds (at least 3, after one warm-up). */
function time(fn: () => void, maxBudget = budget): number {
  fn();
  const ts: number[] = [];
  const t0 = performance.now();
  while (ts.length < 3 || (performance.now() - t0) / 1000 < maxBudget) {
    const a = performance.now();
    fn();
    ts.push((performance.now() - a) / 1000);
    if (ts.length >= 200) break;
  }
  ts.sort((a, b) => a - b);
  return ts[ts.length >> 1];
}

const backends: { label: string; b: Backend }[] = [];
backends.push({ label: "wasm x1", b: await createWasmBackend({ threads: 1 }) });
if (threads > 1) backends.push({ label: `wasm x${threads}`, b: await createWasmBackend({ threads }) });
const cpu = createCpuBackend();

console.log(`# wasm kernels — ${os.cpus()[0]?.model ?? "?"}, ${os.availableParallelism()} cpus, node ${process.version}`);
for (const { label, b } of backends) console.log(`# ${label}: ${b.detail}`);
console.log(`# cpu: ${cpu.detail}; prefill T = ${T}; median of repeats over ${budget} s`);
console.log("");
console.log("| op | shape | weights | T | backend | ms | GFLOP/s | weight GB/s | x cpu |");
console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");

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
        rows.push(`| ${t === 1 ? "matvec" : "matmul"} | ${s.name} ${s.rows}x${s.cols} | ${dt} | ${t} | cpu | ${(cpuSec * 1e3).toFixed(3)} | ${(flops / cpuSec / 1e9).toFixed(2)} | ${(wbytes / cpuSec / 1e9).toFixed(2)} | 1.0 |`);
      }
      for (const { label, b } of backends) {
        const m = b.matrix(w, s.rows, s.cols, dt);
        const out = new Float32Array(t * s.rows);
        const sec = time(() => b.matmul(x, t, m, out));
        const ratio = Number.isNaN(cpuSec) ? "" : (cpuSec / sec).toFixed(1);
        rows.push(`| ${t === 1 ? "matvec" : "matmul"} | ${s.name} ${s.rows}x${s.cols} | ${dt} | ${t} | ${label} | ${(sec * 1e3).toFixed(3)} | ${(flops / sec / 1e9).toFixed(2)} | ${(wbytes / sec / 1e9).toFixed(2)} | ${ratio} |`);
        (b as { release?: (m: unknown) => void }).release?.(m);
      }
      console.log(rows.join("\n"));
    }
  }
}

// SSD scan at the mamba2-130m layer shape
const H = 24, P = 64, N = 128, G = 1;
for (const t of [1, 256]) {
  const mk = () => ({
    T: t, H, P, G, N, x: rand(t * H * P), dt: rand(t * H).map((v) => 0.01 + Math.abs(v) * 0.1), A: rand(H).map((v) => -1 - Math.abs(v) * 8),
    B: rand(t * G * N), C: rand(t * G * N), D: rand(H), state: rand(H * P * N, 0.1), chunkSize: 256, out: new Float32Array(t * H * P),
  });
  const flops = t === 1 ? 5 * H * P * N : t * (H * (P * N * 4 + 256 * P) + 256 * N); // step: 5/elem; chunked: ~ per token
  const rows: string[] = [];
  let cpuSec = NaN;
  if (withCpu) {
    const a = mk();
    cpuSec = time(() => cpu.ssdScan(a), Math.min(budget, 0.5));
    rows.push(`| ssdScan | H${H} P${P} N${N} Q256 | - | ${t} | cpu | ${(cpuSec * 1e3).toFixed(3)} | ${(flops / cpuSec / 1e9).toFixed(2)} | | 1.0 |`);
  }
  for (const { label, b } of backends) {
    const a = mk();
    const sec = time(() => b.ssdScan(a));
    rows.push(`| ssdScan | H${H} P${P} N${N} Q256 | - | ${t} | ${label} | ${(sec * 1e3).toFixed(3)} | ${(flops / sec / 1e9).toFixed(2)} | | ${Number.isNaN(cpuSec) ? "" : (cpuSec / sec).toFixed(1)} |`);
  }
  console.log(rows.join("\n"));
}

for (const { b } of backends) b.dispose();
