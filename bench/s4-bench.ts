// S4 / S4D throughput per backend, in one run: the shipped checkpoints/s4d-text (S4D, 4 layers of
// d_model 192, d_state 64) and a random DPLR LM of the same size, prefill in recurrent mode and in
// conv mode (FFT with a kernel of `chunk` steps + state passing) and single-token streaming steps;
// then one SSM layer alone (the S4 ops without the matmuls). Prints a table with the machine, the
// backend and the S4 ops that ran, and ratios to the cpu backend measured in the same run.
//
// Usage: npx tsx bench/s4-bench.ts [--tokens 1024] [--chunk 256] [--reps 3] [--steps 64]
//                                  [--backends cpu,wasm1,wasm2] [--model checkpoints/s4d-text] [--no-dplr]
// (wasmN = the wasm backend on N threads; the random DPLR model: S4Block layout, n_ssm 1, rank 1,
// C̃ stored for l_kernel 1024.)
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { openCheckpoint } from "../core/formats/checkpoint.ts";
import { WeightReader } from "../core/formats/weights.ts";
import type { S4Config } from "../core/models/config.ts";
import type { WeightSource } from "../core/models/model.ts";
import { buildS4, type S4Mode, type S4Model } from "../core/models/s4.ts";
import { randomS4Weights, s4Config } from "../core/models/s4-random.ts";
import type { Backend } from "../kernels/backend.ts";
import { createCpuBackend } from "../kernels/cpu/index.ts";
import { createWasmBackend } from "../kernels/wasm/index.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    tokens: { type: "string", default: "1024" },
    chunk: { type: "string", default: "256" },
    reps: { type: "string", default: "3" },
    steps: { type: "string", default: "64" },
    backends: { type: "string", default: "cpu,wasm1,wasm2" },
    model: { type: "string", default: path.join(here, "../checkpoints/s4d-text") },
    "no-dplr": { type: "boolean", default: false },
  },
});
const T = Number(values.tokens), chunk = Number(values.chunk), reps = Number(values.reps), steps = Number(values.steps);

async function backendFor(spec: string): Promise<Backend> {
  if (spec === "cpu") return createCpuBackend();
  const m = /^wasm(\d+)$/.exec(spec);
  if (m) return createWasmBackend({ threads: Number(m[1]) });
  throw new Error(`unknown backend ${spec} (cpu, wasm1, wasm2, ...)`);
}

/** Best of `reps` wall times (ms). */
function time(f: () => void): number {
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    f();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

interface Row {
  what: string;
  mode: S4Mode;
  backend: string;
  s4Ops: string;
  prefill: number;
  step: number;
}

const ids = Array.from({ length: T }, (_, i) => 32 + ((i * 7919) % 95));

function benchModel(what: string, c: S4Config, w: WeightSource, b: Backend, label: string, rows: Row[]): void {
  for (const s4Mode of ["recurrent", "conv"] as S4Mode[]) {
    const m: S4Model = buildS4(c, w, b, { s4Mode, chunk, maxBlock: chunk });
    m.forward(ids.slice(0, chunk), m.newState(), "none"); // warm-up (and the cached kernel)
    const ms = time(() => m.forward(ids, m.newState(), "last"));
    const s = m.newState();
    m.forward(ids.slice(0, 16), s, "none");
    const msStep = time(() => {
      for (let i = 0; i < steps; i++) m.forward([ids[i]], s, "last");
    });
    rows.push({ what, mode: s4Mode, backend: label, s4Ops: m.s4Ops, prefill: (T / ms) * 1000, step: (steps / msStep) * 1000 });
  }
}

/** One SSM layer of the model alone (SsmLayer.recurrent / conv through the backend's S4 ops). */
function benchLayer(what: string, m: S4Model, label: string, rows: Row[]): void {
  const layer = m.layers[0];
  const u = Float32Array.from({ length: T * layer.H }, (_, i) => Math.sin(i * 0.37));
  for (const s4Mode of ["recurrent", "conv"] as S4Mode[]) {
    const run = (x: Float32Array, n: number, st: Float32Array) => {
      for (let t0 = 0; t0 < n; t0 += chunk) {
        const tc = Math.min(chunk, n - t0);
        const xc = x.subarray(t0 * layer.H, (t0 + tc) * layer.H);
        if (s4Mode === "conv" && tc > 1) layer.conv(xc, tc, st, chunk);
        else layer.recurrent(xc, tc, st);
      }
    };
    run(u, chunk, layer.newState());
    const ms = time(() => run(u, T, layer.newState()));
    const st = layer.newState();
    const msStep = time(() => {
      for (let i = 0; i < steps; i++) layer.recurrent(u.subarray(i * layer.H, (i + 1) * layer.H), 1, st);
    });
    rows.push({ what, mode: s4Mode, backend: label, s4Ops: m.s4Ops, prefill: (T / ms) * 1000, step: (steps / msStep) * 1000 });
  }
}

const cpus = os.cpus();
console.log(`machine: ${cpus[0]?.model ?? "?"} x${cpus.length}, load average ${os.loadavg().map((v) => v.toFixed(1)).join(" ")}, node ${process.version}; best of ${reps}`);
console.log(`prefill ${T} tokens in blocks of ${chunk} (conv mode: kernel length ${chunk}); step: ${steps} single-token calls`);

const ck = await openCheckpoint(values.model);
if (ck.config.family !== "s4") throw new Error(`${values.model} is not an S4 checkpoint`);
const textConfig = ck.config;
const textWeights = new WeightReader(ck);
const d = textConfig.d_model, L = textConfig.n_layer, N = textConfig.d_state;
const dplrConfig = s4Config({ block: "S4Block", mode: "dplr", d_model: d, n_layer: L, d_state: N, n_ssm: 1 });
const dplrWeights = randomS4Weights(dplrConfig, 1, { lKernel: 1024 });
const textName = `${path.basename(values.model)} (S4D, ${L}x${d}, N ${N})`;
const dplrName = `random S4 DPLR LM (${L}x${d}, N ${N}, rank 1)`;

const rows: Row[] = [];
for (const spec of values.backends.split(",")) {
  const b = await backendFor(spec);
  const label = b.name === "wasm" ? `wasm ${(b as { threads?: number }).threads} thr` : b.name;
  console.error(`[s4-bench] ${label}: ${b.detail}`);
  benchModel(textName, textConfig, textWeights, b, label, rows);
  if (!values["no-dplr"]) benchModel(dplrName, dplrConfig, dplrWeights, b, label, rows);
  benchLayer(`one S4D layer of ${path.basename(values.model)} (H ${d}, N ${N})`, buildS4(textConfig, textWeights, b), label, rows);
  if (!values["no-dplr"]) benchLayer(`one DPLR layer (H ${d}, N ${N})`, buildS4(dplrConfig, dplrWeights, b), label, rows);
  b.dispose();
}
ck.close();

console.log("");
console.log("| model | mode | backend | S4 ops | prefill tok/s | step tok/s | prefill vs cpu | step vs cpu |");
console.log("|---|---|---|---|---|---|---|---|");
const order = [...new Set(rows.map((r) => r.what))];
for (const what of order)
  for (const mode of ["recurrent", "conv"] as S4Mode[])
    for (const r of rows.filter((x) => x.what === what && x.mode === mode)) {
      const base = rows.find((x) => x.what === what && x.mode === mode && x.backend === "cpu");
      const ratio = (a: number, b?: number) => (b ? (a / b).toFixed(2) : "—");
      console.log(`| ${what} | ${mode} | ${r.backend} | ${r.s4Ops} | ${r.prefill.toFixed(0)} | ${r.step.toFixed(0)} | ${ratio(r.prefill, base?.prefill)} | ${ratio(r.step, base?.step)} |`);
    }
