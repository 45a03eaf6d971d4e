// The GPU check of the device machine (bench/gpu-device.sh runs it, bundled): in one run it
//   1. starts the webgpu (WGSL) and gpu (gpu.js) backends and checks that the adapter is the NVIDIA GPU,
//   2. runs the golden parity (test/fixtures/golden: prefill logits within 1e-4, final states within 1e-5),
//   3. measures prefill (512, 4096, 65536 tokens) and decode tokens/s of the mamba2-130m shape with
//      random weights (bench/model-bench.ts) on the webgpu backend (gpu.js cannot hold the 50288x768
//      embedding: its index arithmetic is float32, exact to 2^24 values): the resident prefill at
//      every length, the per-op one up to 4096 for the ratio,
//   4. measures batched decode with GPU-resident states (bench/batch-decode.ts: Session.generateBatch's
//      path) at batch 1 and 16 (SCANSTREAM_DEVICE_BATCHES), the same shape: tokens/s over all
//      sessions, per session, and the ratio to batch 1, next to the per-op path,
//   5. times the two WGSL matmul shaders on the same matrices (kernels/webgpu/shaders.ts: `matmul`,
//      one thread per output, used for T = 1; `matmulTiled`, workgroup-memory tiles, used for T >= 2)
//      at the mamba2-130m projections (in_proj 3352x768, out_proj 768x1536, lm_head 50288x768) for
//      T = 1, 16 (batched decode of 16) and 512 (a prefill block), with the largest |Δ| between them,
//   and writes a markdown report to $OUT/gpu-device.md (or ./gpu-device.md).
//
// SCANSTREAM_DEVICE_SMOKE=1: any adapter (SwiftShader), the tiny shape, prefill 64 / 200, decode 4,
// batched decode 4 steps at batch 1 and 4, matmul shaders on 70x40 and 33x100 at T = 1, 5, 40.
// SCANSTREAM_DEVICE_MATMUL_ONLY=1: only the adapter check and section 5.
import fs from "node:fs";
import path from "node:path";
import { openCheckpoint } from "../core/formats/checkpoint.ts";
import { WeightReader } from "../core/formats/weights.ts";
import { buildModel } from "../core/models/index.ts";
import type { Backend } from "../kernels/backend.ts";
import { createGpuBackend } from "../kernels/gpu/index.ts";
import { createWebgpuBackend, type WebgpuBackend } from "../kernels/webgpu/index.ts";
import { MemoryBytes } from "../core/formats/bytes.ts";
import { readNpy, type NpyArray } from "../core/formats/npy.ts";
import { ZipArchive } from "../core/formats/zip.ts";
import { runBatchDecodeBench } from "./batch-decode.ts";
import { formatTable, machineInfo, runModelBench, type BenchShape } from "./model-bench.ts";

const smoke = process.env.SCANSTREAM_DEVICE_SMOKE === "1";
const outDir = process.env.OUT || ".";
const fixtures = process.env.SCANSTREAM_GOLDEN ?? path.resolve("test/fixtures/golden");
const report: string[] = [`# scanstream GPU device run, ${new Date().toISOString()}`, ""];
const say = (line: string) => {
  console.log(line);
  report.push(line);
};
const write = () => fs.writeFileSync(path.join(outDir, "gpu-device.md"), report.join("\n") + "\n");

const goldenTokens = (dir: string): number[] => {
  const j = JSON.parse(fs.readFileSync(path.join(dir, "tokens.json"), "utf8"));
  return Array.isArray(j) ? j : j.tokens;
};
const goldenLogits = (dir: string) => readNpy(fs.readFileSync(path.join(dir, "golden_logits.npy")), "golden_logits.npy");
function goldenState(dir: string): Map<string, NpyArray> {
  const file = path.join(dir, "golden_state.npz");
  const zip = new ZipArchive(new MemoryBytes(fs.readFileSync(file), file));
  const out = new Map<string, NpyArray>();
  for (const [name, entry] of zip.entries) out.set(name.replace(/\.npy$/, ""), readNpy(zip.read(entry), name));
  return out;
}
function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

async function golden(backend: Backend): Promise<boolean> {
  let ok = true;
  for (const d of fs.readdirSync(fixtures).sort()) {
    const dir = path.join(fixtures, d);
    const ckpt = await openCheckpoint(dir);
    let model;
    try {
      model = buildModel(ckpt.config, new WeightReader(ckpt), backend);
    } finally {
      ckpt.close();
    }
    const ids = goldenTokens(dir);
    const state = model.newState();
    const t0 = performance.now();
    const got = model.forward(ids, state, "all")!;
    const ms = performance.now() - t0;
    const err = maxAbsDiff(got, goldenLogits(dir).data);
    const gs = goldenState(dir);
    let sErr = 0;
    state.layers.forEach((l, i) => (sErr = Math.max(sErr, maxAbsDiff(l.ssm, gs.get(`ssm_${i}`)!.data))));
    const pass = err < 1e-4 && sErr < 1e-5;
    ok &&= pass;
    say(`| ${backend.name} | ${d} | ${ids.length} | ${err.toExponential(2)} | ${sErr.toExponential(2)} | ${pass ? "pass" : "FAIL"} | ${ms.toFixed(0)} |`);
  }
  return ok;
}

/** Section 5: ms per dispatch of the per-output and the tiled matmul shader on one resident matrix
 *  (the engine's benchMatmul op). The per-output shader stays in shaders.ts for T = 1; at T >= 2 it
 *  runs only here, as the baseline: drop it from this table (and benchMatmul) once the ratio is
 *  recorded, and drop it altogether if the tiled one also wins at T = 1. */
async function matmulShaders(backend: WebgpuBackend): Promise<boolean> {
  const mats: [string, number, number][] = smoke
    ? [["tiny a", 70, 40], ["tiny b", 33, 100]]
    : [["in_proj", 3352, 768], ["out_proj", 768, 1536], ["lm_head", 50288, 768]];
  const Ts = smoke ? [1, 5, 40] : [1, 16, 512];
  say("## WGSL matmul shaders: per-output (the T = 1 path) vs tiled (the T >= 2 path), f32, random weights");
  say("");
  say("ms per dispatch: wall time of `reps` dispatches in one submission, after a warm-up; weight GB/s = rows·cols·4 bytes / time.");
  say("");
  say("| matrix | rows x cols | T | reps | per-output ms | tiled ms | per-output / tiled | weight GB/s per-output | weight GB/s tiled | max abs diff | result |");
  say("|---|---|---|---|---|---|---|---|---|---|---|");
  let ok = true;
  let seed = 12345;
  const rnd = (n: number, a: number) => {
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) v[i] = ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32 * 2 - 1) * a;
    return v;
  };
  for (const [name, rows, cols] of mats) {
    const m = backend.matrix(rnd(rows * cols, 0.05), rows, cols);
    for (const T of Ts) {
      const reps = Math.max(3, Math.min(200, Math.round(4e9 / (T * rows * cols))));
      const r = backend.call<{ perOutputMs: number; tiledMs: number; maxDiff: number }>("benchMatmul", { x: rnd(T * cols, 1), T, id: backend.matrixId(m), reps });
      // both are float32 sums of `cols` terms |w x| <= 0.05: each within (cols + 4)·2^-24·0.05·cols of the exact value
      const pass = r.maxDiff <= 2 * (cols + 4) * 2 ** -24 * 0.05 * cols;
      ok &&= pass;
      const gbs = (ms: number) => ((rows * cols * 4) / (ms * 1e6)).toPrecision(3);
      say(`| ${name} | ${rows}x${cols} | ${T} | ${reps} | ${r.perOutputMs.toFixed(4)} | ${r.tiledMs.toFixed(4)} | ${(r.perOutputMs / r.tiledMs).toFixed(2)} | ${gbs(r.perOutputMs)} | ${gbs(r.tiledMs)} | ${r.maxDiff.toExponential(2)} | ${pass ? "pass" : "FAIL"} |`);
      write();
    }
    backend.release(m);
  }
  return ok;
}

async function main(): Promise<number> {
  const m = machineInfo();
  say(`machine: ${m.cpu}, ${m.cores} cores, node ${m.node}, ${m.os}${smoke ? " (SMOKE run: tiny shapes)" : ""}`);
  const webgpu = await createWebgpuBackend();
  say(`webgpu backend: ${webgpu.detail}`);
  const a = webgpu.adapter;
  say(`adapter: vendor "${a.vendor}", architecture "${a.architecture}", device "${a.device}", description "${a.description}"`);
  const nvidia = /nvidia/i.test(`${a.vendor} ${a.description} ${a.device}`);
  if (!nvidia && !smoke) {
    say("FAIL: the WebGPU adapter is not the NVIDIA GPU (Dawn fell back to another Vulkan driver?)");
    write();
    return 1;
  }
  say("");
  if (process.env.SCANSTREAM_DEVICE_MATMUL_ONLY === "1") {
    const ok = await matmulShaders(webgpu);
    webgpu.dispose();
    write();
    return ok ? 0 : 1;
  }
  say("## Golden parity (test/fixtures/golden; logits < 1e-4, SSM states < 1e-5)");
  say("");
  say("| backend | fixture | tokens | max logit err | max state err | result | prefill ms |");
  say("|---|---|---|---|---|---|---|");
  let ok = await golden(webgpu);
  const gpujs = await createGpuBackend();
  say(`<!-- gpu backend: ${gpujs.detail} -->`);
  ok = (await golden(gpujs)) && ok;
  gpujs.dispose();
  write();

  say("");
  const shape: BenchShape = smoke ? "tiny" : "mamba2-130m";
  const prefill = smoke ? [64, 200] : (process.env.SCANSTREAM_DEVICE_PREFILL ?? "512,4096,65536").split(",").map(Number);
  say(`## Throughput: ${shape}, random weights, f32, webgpu backend`);
  say("");
  say("Prefill resident (one submission per 2048-token block, only the last logits read back), then");
  say("per-op (activations round-trip every op, blocks of 256) at the shorter lengths (× = vs the resident row);");
  say("decode is the per-op single-token forward in both (resident decode: the batch section below);");
  say("\"none-plan telemetry\" rows: a session's prefill (state-norm probes every 64 tokens computed on the device).");
  say("");
  const rows = await runModelBench({
    shape, backend: () => createWebgpuBackend(), weights: "f32", prefill, decode: smoke ? 4 : 32, repeats: 1, warmup: 1,
    log: (l) => console.log(l),
  });
  write();
  // what a session gets: the `none` plan's telemetry, chunks laid out on its probes (64 tokens)
  rows.push(...await runModelBench({
    shape, backend: () => createWebgpuBackend(), weights: "f32", prefill: prefill.filter((p) => p >= 4096 || smoke), decode: smoke ? 4 : 32, repeats: 1, warmup: 1, telemetry: true,
    log: (l) => console.log(l),
  }));
  write();
  const perOp = prefill.filter((p) => p <= 4096);
  if (perOp.length)
    rows.push(...await runModelBench({
      shape, backend: () => createWebgpuBackend(), weights: "f32", prefill: perOp, decode: smoke ? 4 : 32, repeats: 1, warmup: 1, gpuPrefill: "per-op",
      log: (l) => console.log(l),
    }));
  say(formatTable(rows));
  write();
  say("");
  try {
    ok = (await matmulShaders(webgpu)) && ok;
  } catch (e) {
    ok = false;
    say(`FAIL (matmul shaders): ${(e as Error).stack ?? e}`);
  }
  write();
  webgpu.dispose();

  say("");
  const batches = smoke ? [1, 4] : (process.env.SCANSTREAM_DEVICE_BATCHES ?? "1,16").split(",").map(Number);
  await runBatchDecodeBench(shape, batches, smoke ? 4 : 64, (line) => {
    say(line);
    write();
  });
  write();
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    say(`FAIL: ${(e as Error).stack ?? e}`);
    write();
    process.exit(1);
  },
);
