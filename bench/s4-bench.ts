// S4 / S4D throughput on the cpu reference: prefill in recurrent mode vs conv mode (FFT with a
// kernel of `chunk` steps + state passing), and single-token steps. Prints a table with the machine,
// the backend that ran the S4 ops, and ratios measured in the same run.
//
// Usage: npx tsx bench/s4-bench.ts [--tokens 2048] [--d-model 128] [--layers 4] [--d-state 64] [--chunk 256]
import os from "node:os";
import { parseArgs } from "node:util";
import { buildS4, type S4Mode } from "../core/models/s4.ts";
import { randomS4Weights, s4Config } from "../core/models/s4-random.ts";
import { createCpuBackend } from "../kernels/cpu/index.ts";

const { values } = parseArgs({
  options: {
    tokens: { type: "string", default: "2048" },
    "d-model": { type: "string", default: "128" },
    layers: { type: "string", default: "4" },
    "d-state": { type: "string", default: "64" },
    chunk: { type: "string", default: "256" },
    reps: { type: "string", default: "2" },
  },
});
const T = Number(values.tokens), d = Number(values["d-model"]), L = Number(values.layers), N = Number(values["d-state"]);
const chunk = Number(values.chunk), reps = Number(values.reps);
const backend = createCpuBackend();
const ids = Array.from({ length: T }, (_, i) => (i * 7919) % 256);

function time(f: () => void): number {
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    f();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

console.log(`machine: ${os.cpus()[0]?.model ?? "?"} x${os.cpus().length}, node ${process.version}; best of ${reps}`);
console.log(`model: d_model ${d}, n_layers ${L}, d_state ${N}, byte LM; prefill ${T} tokens in blocks of ${chunk}`);
console.log("| kernel | mode | S4 ops | prefill tok/s | step tok/s | prefill vs recurrent |");
console.log("|---|---|---|---|---|---|");
for (const mode of ["dplr", "diag"] as const) {
  const c = s4Config({ block: "S4Block", mode, d_model: d, n_layer: L, d_state: N, n_ssm: mode === "dplr" ? 1 : d });
  const w = randomS4Weights(c, 1, { lKernel: mode === "dplr" ? 1024 : 0 });
  const rates: Record<string, number> = {};
  for (const s4Mode of ["recurrent", "conv"] as S4Mode[]) {
    const m = buildS4(c, w, backend, { s4Mode, chunk, maxBlock: chunk });
    m.forward(ids.slice(0, chunk), m.newState(), "none"); // warm-up (and the cached kernel)
    const ms = time(() => m.forward(ids, m.newState(), "last"));
    const s = m.newState();
    const steps = 64;
    const msStep = time(() => {
      for (let i = 0; i < steps; i++) m.forward([ids[i]], s, "last");
    });
    rates[s4Mode] = (T / ms) * 1000;
    console.log(`| ${mode} | ${s4Mode} | ${m.s4Ops} | ${rates[s4Mode].toFixed(0)} | ${((steps / msStep) * 1000).toFixed(0)} | ${(rates[s4Mode] / rates.recurrent).toFixed(2)} |`);
  }
}
