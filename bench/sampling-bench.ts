// Time per sampled token of core/stream/sampling.ts at a real vocabulary size (50,288 rows, the
// mamba2-130m shape), for greedy, temperature only, top-k and top-p, on logits drawn like a trained
// model's (a few likely ids over a wide low tail). Median over --reps tokens, fresh logits each.
// A/B against another tree: copy this file there and run it in the same session.
//
// Usage: npx tsx bench/sampling-bench.ts [--vocab 50288] [--reps 200] [--spread 3]
import os from "node:os";
import { parseArgs } from "node:util";
import { createRng, sample, type SamplingOptions } from "../core/stream/sampling.ts";

const { values } = parseArgs({
  options: { vocab: { type: "string", default: "50288" }, reps: { type: "string", default: "200" }, spread: { type: "string", default: "3" } },
});
const V = Number(values.vocab), reps = Number(values.reps), spread = Number(values.spread);
const rng = createRng(1);
const gauss = () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());

function logitsRow(): Float32Array {
  const l = Float32Array.from({ length: V }, () => spread * gauss());
  for (let i = 0; i < 20; i++) l[Math.floor(rng() * V)] += 12; // a handful of likely next tokens
  return l;
}

const configs: [string, SamplingOptions][] = [
  ["greedy", { temperature: 0 }],
  ["T 0.8", { temperature: 0.8 }],
  ["T 0.8, top-k 40", { temperature: 0.8, topK: 40 }],
  ["T 0.8, top-p 0.9", { temperature: 0.8, topP: 0.9 }],
  ["T 1.5", { temperature: 1.5 }],
];
const rows = Array.from({ length: 16 }, logitsRow);
console.log(`# sampling, vocab ${V}, ${reps} tokens per row, ${os.cpus()[0].model}, node ${process.version}`);
console.log("| options | ms / token (median) |\n| --- | ---: |");
for (const [name, opts] of configs) {
  const draw = createRng(7);
  const ts: number[] = [];
  for (let r = 0; r < reps + 10; r++) {
    const t0 = performance.now();
    sample(rows[r % rows.length], V, opts, draw);
    if (r >= 10) ts.push(performance.now() - t0);
  }
  ts.sort((a, b) => a - b);
  console.log(`| ${name} | ${ts[ts.length >> 1].toFixed(3)} |`);
}
