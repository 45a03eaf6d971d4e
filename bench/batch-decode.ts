// Batched decode with GPU-resident states (Session.generateBatch's path: core/models/mamba2-batch.ts,
// kernels/webgpu/mamba2-decode.ts) against batch 1 and the per-op path, on the webgpu backend with
// random weights of a Mamba-2 shape. bench/gpu-device.ts runs it on the device machine (batch 1 vs 16
// on mamba2-130m); here it only checks that it runs (SwiftShader timings say nothing about a GPU):
//
//   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json XDG_RUNTIME_DIR=/tmp \
//     npx tsx bench/batch-decode.ts --shape tiny --batches 1,4 --steps 4
//
// A step is what a session's decode loop does: B ids up, one submission, [B, V] logits down, argmax
// on the host. Tokens/s are over all sessions and per session; the ratio is to the first batch size.
import { parseArgs } from "node:util";
import { buildWithBatchDecoder } from "../core/models/mamba2-batch.ts";
import { mulberry32, randomWeights } from "../core/models/random.ts";
import { createWebgpuBackend } from "../kernels/webgpu/index.ts";
import { BENCH_SHAPES, isEntryScript, machineInfo, type BenchShape } from "./model-bench.ts";

const argmaxRow = (l: Float32Array, from: number, n: number): number => {
  let best = 0;
  for (let i = 1; i < n; i++) if (l[from + i] > l[from + best]) best = i;
  return best;
};

/** Markdown lines: a heading, then one table row per path / batch size (`say` gets each as it is measured). */
export async function runBatchDecodeBench(shape: BenchShape, batches: number[], steps: number, say: (line: string) => void): Promise<void> {
  const config = BENCH_SHAPES[shape]();
  if (config.family !== "mamba2") throw new Error(`batched decode needs a Mamba-2 shape, got ${shape}`);
  if (!batches.length || batches.some((b) => !Number.isInteger(b) || b < 1)) throw new Error(`batch sizes must be integers >= 1, got [${batches}]`);
  const backend = await createWebgpuBackend();
  try {
    const { model, decoder } = buildWithBatchDecoder(config, randomWeights(config, 1), backend);
    if (!decoder) throw new Error("no batched decoder on this backend");
    const V = config.vocab_rows;
    const rand = mulberry32(7);
    const ids = (n: number) => Array.from({ length: n }, () => Math.floor(rand() * config.vocab_size));
    say(`## Batched decode, GPU-resident states: ${shape}, random weights, f32, ${steps} greedy steps after 2 warm-up steps`);
    say("");
    say(`${backend.detail}`);
    say("");
    say("| path | sessions | steps | wall s | tok/s (all sessions) | tok/s per session | vs first batch size |");
    say("|---|---|---|---|---|---|---|");
    {
      // the per-op path with one session: what Session.generate does on webgpu
      const st = model.newState();
      let logits = model.forward(ids(1), st, "last")!;
      logits = model.forward([argmaxRow(logits, 0, V)], st, "last")!;
      const t0 = performance.now();
      for (let k = 0; k < steps; k++) logits = model.forward([argmaxRow(logits, 0, V)], st, "last")!;
      const s = (performance.now() - t0) / 1000;
      say(`| per-op round trips | 1 | ${steps} | ${s.toFixed(2)} | ${(steps / s).toFixed(1)} | ${(steps / s).toFixed(1)} | |`);
    }
    let base = 0;
    for (const B of batches) {
      const pool = decoder.alloc(B);
      const slots = Array.from({ length: B }, (_, b) => b);
      const next = (l: Float32Array) => slots.map((b) => argmaxRow(l, b * V, V));
      let cur = ids(B);
      for (let w = 0; w < 2; w++) cur = next(pool.step(cur, slots));
      const t0 = performance.now();
      for (let k = 0; k < steps; k++) cur = next(pool.step(cur, slots));
      const s = (performance.now() - t0) / 1000;
      pool.free();
      const all = (B * steps) / s;
      if (!base) base = all;
      say(`| resident, one submission per step | ${B} | ${steps} | ${s.toFixed(2)} | ${all.toFixed(1)} | ${(steps / s).toFixed(1)} | ${(all / base).toFixed(2)}x |`);
    }
    decoder.dispose();
  } finally {
    backend.dispose();
  }
}

if (isEntryScript(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      shape: { type: "string", default: "tiny" },
      batches: { type: "string", default: "1,4" },
      steps: { type: "string", default: "4" },
    },
  });
  const m = machineInfo();
  console.log(`machine: ${m.cpu}, ${m.cores} cores, node ${m.node}, ${m.os}`);
  runBatchDecodeBench(values.shape as BenchShape, values.batches!.split(",").map(Number), Number(values.steps), (l) => console.log(l)).then(
    () => process.exit(0),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
