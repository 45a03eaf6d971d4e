// Fuzz the checkpoint loaders (safetensors, torch .bin, config.json) with mutated real files.
//   npx tsx bench/fuzz-loaders.ts [cases=10000] [--seed N] [--path P]   (--seed/--path replay a failure)
// Exit code 1 and the seed / path / counterexample when a mutated file makes a loader throw
// anything but a typed ScanstreamError, or allocate more than the file size justifies.
import os from "node:os";
import { runFuzz } from "../test/fuzz/fuzz.ts";

const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args.splice(i, 2)[1] : undefined;
};
const seed = flag("--seed");
const replayPath = flag("--path");
const cases = Number(args[0] ?? 10000);
if (!Number.isSafeInteger(cases) || cases <= 0) {
  console.error("usage: tsx bench/fuzz-loaders.ts [cases] [--seed N] [--path P]");
  process.exit(2);
}

const cpu = os.cpus()[0]?.model ?? "unknown cpu";
console.log(`machine: ${cpu}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}, ${os.platform()} ${os.arch()}`);
const r = runFuzz({
  cases,
  seed: seed === undefined ? undefined : Number(seed),
  path: replayPath,
  onProgress: (n) => process.stderr.write(`\r${n} / ${cases}`),
});
process.stderr.write("\n");

console.log(`seed ${r.seed}: ${r.cases} cases in ${(r.durationMs / 1000).toFixed(1)} s (slowest case ${r.slowestMs.toFixed(0)} ms)`);
console.log("\n| outcome | cases |\n| --- | --- |");
for (const [k, v] of Object.entries(r.outcomes).sort((a, b) => b[1] - a[1])) console.log(`| ${k} | ${v} |`);
console.log("\n| base file | cases |\n| --- | --- |");
for (const [k, v] of Object.entries(r.byBase)) console.log(`| ${k} | ${v} |`);
console.log(`\nlargest loader allocation / file size: ${r.maxAllocRatio.toFixed(3)}; largest float32 output / file size: ${r.maxFloatRatio.toFixed(3)}`);
if (r.failure) {
  console.log(`\nFAILURE (replay: tsx bench/fuzz-loaders.ts 1 --seed ${r.failure.seed} --path ${r.failure.path})`);
  console.log(r.failure.message);
  console.log("counterexample:", r.failure.counterexample);
  process.exit(1);
}
console.log("\nno failures: every mutated file loaded or raised a typed ScanstreamError");
