// Peak memory of `session.read()` against document length: each length runs in a fresh child
// process that reads a generated text file through fromFile() (byte-level model: one byte = one
// token) and reports its peak RSS (process.resourceUsage().maxRSS) and the RSS seen during the read.
//
//   npx tsx bench/read-memory.ts [--model DIR] [--backend wasm] [--weights f32] [--tokens 10000,1000000] [--mitigation auto]
//   npx tsx bench/read-memory.ts --shape mamba2-130m [--weights f32] --tokens 1000,100000 --mitigation none
//
// --shape reads through a model of a bench shape with random weights (model-bench.ts) instead of a
// checkpoint. Building those weights makes the process peak (maxRSS) before the read starts, so the
// table also gives the RSS after the build (after a GC) and the largest RSS sampled during the read.
// Prints a table with the machine, the backend that ran, and the ratio of each peak to the first.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { byteTokenizer } from "../core/formats/tokenizer.ts";
import { buildModel } from "../core/models/index.ts";
import { randomWeights } from "../core/models/random.ts";
import { Session } from "../core/stream/session.ts";
import type { WeightDType } from "../kernels/backend.ts";
import { createBackend, type BackendChoice } from "../kernels/registry.ts";
import { BENCH_SHAPES, type BenchShape } from "./model-bench.ts";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..");
const { values } = parseArgs({
  options: {
    model: { type: "string", default: path.join(ROOT, "checkpoints/mamba2-text") },
    backend: { type: "string", default: "wasm" },
    tokens: { type: "string", default: "10000,1000000" },
    mitigation: { type: "string", default: "auto" },
    threads: { type: "string" },
    shape: { type: "string" },
    weights: { type: "string", default: "f32" },
    child: { type: "string" },
  },
});

const WORDS = "the a of and to in is was that he for it with as his on be at by had not are but from or have an they which one you were her all she there would their we him been has when who will more no if out so said what up its about into than them can only other new some could time these two may then do first any my now such like our over man me even most made after also did many before must through back years where much your way well down should because each just those people mr how too little state good very make world still own see men work long get here between both life being under never day same another know while last might us great old year off come since against go came right used take three".split(" ");

function writeDoc(file: string, bytes: number): void {
  let s = 1234567;
  const rand = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296);
  const fd = fs.openSync(file, "w");
  let n = 0;
  let line = "";
  while (n < bytes) {
    line += WORDS[Math.floor(rand() * WORDS.length)] + (rand() < 0.08 ? ".\n" : " ");
    if (line.length > 4096 || n + line.length >= bytes) {
      const chunk = line.slice(0, bytes - n);
      fs.writeSync(fd, chunk);
      n += chunk.length;
      line = "";
    }
  }
  fs.closeSync(fd);
}

/** A session on the model to read through: the checkpoint in --model, or random weights of --shape. */
async function open(): Promise<{ session: Session; backend: string }> {
  const { load } = await import("../core/index.ts");
  const threads = values.threads ? Number(values.threads) : undefined;
  const mitigation = values.mitigation as "auto";
  const weights = values.weights as WeightDType;
  if (!values.shape) {
    const m = await load(values.model!, { backend: values.backend as "wasm", threads, weights });
    return { session: m.session({ mitigation }), backend: m.backend.detail };
  }
  const config = BENCH_SHAPES[values.shape as BenchShape]?.();
  if (!config) throw new Error(`--shape: expected one of ${Object.keys(BENCH_SHAPES).join(", ")}`);
  const backend = await createBackend(values.backend as BackendChoice, { threads });
  const model = buildModel(config, randomWeights(config, 1), backend, { weights });
  const session = new Session({ model, tokenizer: byteTokenizer(), modelHash: () => `random ${values.shape}` }, { mitigation });
  return { session, backend: backend.detail };
}

async function child(file: string): Promise<void> {
  const { fromFile } = await import("../core/index.ts");
  const { session: s, backend } = await open();
  globalThis.gc?.();
  const before = process.memoryUsage().rss;
  const rss: number[] = [];
  const t0 = performance.now();
  await s.read(fromFile(file), { onProgress: () => rss.push(process.memoryUsage().rss) });
  const seconds = (performance.now() - t0) / 1000;
  const at = (f: number) => rss[Math.min(rss.length - 1, Math.floor(f * rss.length))] / 2 ** 20;
  console.log(JSON.stringify({
    tokens: s.position, seconds, backend, mitigation: s.stats().mitigation,
    peakMiB: process.resourceUsage().maxRSS / 1024, rss10: at(0.1), rss50: at(0.5), rss100: at(1),
    beforeMiB: before / 2 ** 20, readMaxMiB: rss.reduce((m, v) => Math.max(m, v), 0) / 2 ** 20,
  }));
}

async function parent(): Promise<void> {
  const lengths = values.tokens!.split(",").map(Number);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "scanstream-readmem-"));
  const rows: Record<string, number | string>[] = [];
  for (const n of lengths) {
    const file = path.join(dir, `doc-${n}.txt`);
    writeDoc(file, n);
    const args = ["--expose-gc", "--import", "tsx", fileURLToPath(import.meta.url), "--child", file, "--model", values.model!, "--backend", values.backend!, "--mitigation", values.mitigation!, "--weights", values.weights!];
    if (values.threads) args.push("--threads", values.threads);
    if (values.shape) args.push("--shape", values.shape);
    const r = spawnSync(process.execPath, args, { encoding: "utf8", cwd: ROOT, maxBuffer: 1 << 24 });
    if (r.status !== 0) throw new Error(`child for ${n} tokens failed: ${r.stderr}`);
    rows.push(JSON.parse(r.stdout.trim().split("\n").pop()!));
    fs.rmSync(file);
  }
  fs.rmSync(dir, { recursive: true });
  const base = rows[0].peakMiB as number;
  const readBase = rows[0].readMaxMiB as number;
  const model = values.shape ? `random weights of the ${values.shape} shape, ${values.weights}` : path.relative(ROOT, values.model!) || values.model;
  console.log(`machine: ${os.cpus()[0]?.model ?? "?"}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`);
  console.log(`model: ${model}; backend: ${rows[0].backend}; mitigation: ${rows[0].mitigation}`);
  console.log("| tokens | seconds | tokens/s | RSS before the read (MiB) | RSS at 10% | RSS at 50% | RSS at end | max RSS in the read | / first | peak RSS (MiB) | / first |");
  console.log("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const r of rows) {
    const f = (v: unknown) => (v as number).toFixed(1);
    const ratio = (v: unknown, b: number) => ((v as number) / b).toFixed(3);
    console.log(`| ${r.tokens} | ${f(r.seconds)} | ${((r.tokens as number) / (r.seconds as number)).toFixed(0)} | ${f(r.beforeMiB)} | ${f(r.rss10)} | ${f(r.rss50)} | ${f(r.rss100)} | ${f(r.readMaxMiB)} | ${ratio(r.readMaxMiB, readBase)} | ${f(r.peakMiB)} | ${ratio(r.peakMiB, base)} |`);
  }
}

if (values.child) await child(values.child);
else await parent();
