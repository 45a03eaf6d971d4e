// Where a forward pass spends its time, op by op: wraps every Backend method with a wall-clock timer
// and runs prefill (and decode steps) of a bench shape with random weights.
//   npx tsx bench/op-profile.ts --backend wasm --threads 1 --shape mamba2-130m --prefill 512 --decode 32 [--host-state] [--by-shape]
// Prints, per op, calls, total ms and share of the forward's time (prefill and decode separately);
// the rest ("outside ops") is the model code between ops (allocation, slicing, the JS glue).
import { parseArgs } from "node:util";
import type { Backend, Matrix, WeightDType } from "../kernels/backend.ts";
import { createBackend } from "../kernels/registry.ts";
import { buildModel } from "../core/models/index.ts";
import { randomWeights } from "../core/models/random.ts";
import { cloneState } from "../core/models/model.ts";
import { BENCH_SHAPES, type BenchShape } from "./model-bench.ts";

type Times = Map<string, { calls: number; ms: number }>;

/** A Backend whose methods record their wall time into `times` (the nested s4 group is left as is). */
function timed(b: Backend, times: Times): Backend {
  return new Proxy(b, {
    get(target, prop, recv) {
      const v = Reflect.get(target, prop, recv);
      if (typeof v !== "function" || prop === "matrix" || prop === "dispose") return v;
      return (...args: unknown[]) => {
        const t0 = performance.now();
        const r = (v as (...a: unknown[]) => unknown).apply(target, args);
        const m = prop === "matmul" && byShape ? (args[2] as Matrix) : null;
        const key = m ? `matmul ${m.rows}x${m.cols}` : String(prop);
        const e = times.get(key) ?? { calls: 0, ms: 0 };
        e.calls++;
        e.ms += performance.now() - t0;
        times.set(key, e);
        return r;
      };
    },
  });
}

function report(label: string, times: Times, total: number): void {
  const rows = [...times.entries()].sort((a, b) => b[1].ms - a[1].ms);
  const inOps = rows.reduce((s, [, e]) => s + e.ms, 0);
  console.log(`\n${label}: ${total.toFixed(0)} ms\n| op | calls | ms | share |\n|---|---:|---:|---:|`);
  for (const [name, e] of rows) console.log(`| ${name} | ${e.calls} | ${e.ms.toFixed(1)} | ${((100 * e.ms) / total).toFixed(1)}% |`);
  console.log(`| (outside ops) | | ${(total - inOps).toFixed(1)} | ${((100 * (total - inOps)) / total).toFixed(1)}% |`);
}

const { values } = parseArgs({
  options: {
    backend: { type: "string", default: "wasm" },
    threads: { type: "string", default: "1" },
    shape: { type: "string", default: "mamba2-130m" },
    weights: { type: "string", default: "f32" },
    prefill: { type: "string", default: "512" },
    decode: { type: "string", default: "32" },
    // keep the recurrent state in ordinary arrays instead of the backend's memory (Backend.alloc)
    "host-state": { type: "boolean", default: false },
    // one row per matmul shape (rows x cols) instead of one for all matmuls
    "by-shape": { type: "boolean", default: false },
  },
});
const byShape = values["by-shape"];
const config = BENCH_SHAPES[values.shape as BenchShape]();
const inner = await createBackend(values.backend as "wasm", { threads: Number(values.threads) });
const times: Times = new Map();
const backend = timed(inner, times);
const model = buildModel(config, randomWeights(config, 1), backend, { weights: values.weights as WeightDType });
const ids = Array.from({ length: Number(values.prefill) }, (_, i) => (i * 7919) % 50000);
model.forward(ids.slice(0, 16), model.newState(), "last"); // warm-up
times.clear();
const state = values["host-state"] ? cloneState(model.newState()) : model.newState();
let t0 = performance.now();
const logits = model.forward(ids, state, "last")!;
report(`prefill ${ids.length} tokens on ${inner.detail}`, times, performance.now() - t0);
times.clear();
const argmax = (l: Float32Array) => l.reduce((best, v, i) => (v > l[best] ? i : best), 0);
let next = argmax(logits);
let inForward = 0;
for (let i = 0; i < Number(values.decode); i++) {
  t0 = performance.now();
  const l = model.forward([next], state, "last")!;
  inForward += performance.now() - t0;
  next = argmax(l);
}
report(`decode ${values.decode} tokens`, times, inForward);
inner.dispose();
