// Throughput of each long-context plan against the plain recurrence, on one model and backend:
// prefill of N tokens in blocks of 256 (the way Session.feed runs), best of `--repeat` runs each.
//
//   npx tsx bench/mitigation-speed.ts [--model DIR] [--backend wasm] [--tokens 30000] [--repeat 3]
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { load } from "../core/index.ts";
import { resolvePlan, type LongContextOptions } from "../core/models/long-context.ts";

const { values } = parseArgs({
  options: {
    model: { type: "string", default: "checkpoints/mamba2-passkey" },
    backend: { type: "string", default: "wasm" },
    tokens: { type: "string", default: "30000" },
    repeat: { type: "string", default: "3" },
  },
});
const m = await load(values.model!, { backend: values.backend as "wasm" });
const N = Number(values.tokens);
const ids = Array.from({ length: N }, (_, i) => (i * 7919 + (i >> 3)) % Math.min(256, m.config.vocab_size));
const configs: [string, LongContextOptions | null][] = [
  ["plain (no plan)", null], ["none (telemetry only)", {}], ["window r=T from 0", { mitigation: "window", start: 0 }],
  ["forget", { mitigation: "forget" }], ["norm", { mitigation: "norm", start: 0, normBound: 1e30 }],
];
const rows: [string, number][] = [];
for (const [name, o] of configs) {
  let best = 0;
  for (let k = 0; k < Number(values.repeat); k++) {
    const s = m.model.newState();
    if (o) s.plan = resolvePlan(m.config, o);
    const t0 = performance.now();
    for (let i = 0; i < N; i += 256) m.model.forward(ids.slice(i, i + 256), s, "last");
    best = Math.max(best, N / ((performance.now() - t0) / 1000));
  }
  rows.push([name, best]);
}
console.log(`machine: ${os.cpus()[0]?.model}, ${os.cpus().length} cores, node ${process.version}; model ${path.basename(values.model!)}; backend ${m.backend.detail}; ${N} tokens, best of ${values.repeat}`);
console.log("| plan | tokens/s | vs plain |\n|---|---:|---:|");
for (const [name, v] of rows) console.log(`| ${name} | ${v.toFixed(0)} | ${(v / rows[0][1]).toFixed(2)} |`);
