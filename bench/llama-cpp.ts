// llama.cpp on the same machine, the same shape and the same random weights as bench/model-bench.ts:
// the anchor of issue 9's goals ("llama.cpp is the bar").
//
//   npm i --no-save node-llama-cpp@3.22.1      # prebuilt llama.cpp (ggml v0.5.0) CPU binaries, no compiler
//   npx tsx bench/llama-cpp.ts --weights f32,f16,q8_0 --threads 1,2 --prefill 512,4096 --decode 128 [--json] [--check]
//
// --check first shows that llama.cpp computes the same function: 24 greedy tokens after a fixed prompt,
// from llama.cpp and from scanstream's wasm backend on the same weights.
//
// The weights are written once per dtype as GGUF to --dir (default $TMPDIR/scanstream-llama) from
// core/models/random.ts (seed 1, the mamba2-130m shape: 129.0M parameters, vocab rows 50288; a dummy
// SentencePiece vocabulary of that size). The projections and the embedding take the dtype, everything
// else stays F32 (as llama.cpp's own converter and quantizer do for Mamba-2).
// Method (as llama-bench): per prefill length and repeat, a cleared sequence evaluates that many random
// tokens in batches of 512 (timed); decode generates --decode tokens greedily from there, one llama_decode
// per token (timed). Median over --repeats after one untimed warm-up. node-llama-cpp picks the best ggml
// CPU variant for the machine (it reports which: e.g. sapphirerapids = AVX-512); `--variant haswell`
// hides the others so that the AVX2 + FMA build runs (the kind of build the reference numbers
// came from). node-llama-cpp is not a dependency of scanstream: install it for this benchmark only.
import { existsSync, mkdirSync, readdirSync, realpathSync, renameSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { buildModel } from "../core/models/index.ts";
import { mulberry32, randomWeights } from "../core/models/random.ts";
import { createBackend } from "../kernels/registry.ts";
import { BENCH_SHAPES, machineInfo } from "./model-bench.ts";
import { writeGguf, type GgmlType, type GgufTensor, type GgufValue } from "./gguf.ts";
import type { Mamba2Config } from "../core/models/config.ts";

const DTYPES: Record<string, GgmlType> = { f32: "F32", f16: "F16", bf16: "BF16", q8_0: "Q8_0" };
const FILE_TYPE: Record<GgmlType, number> = { F32: 0, F16: 1, Q8_0: 7, BF16: 32 };

/** The mamba2-130m bench shape as a llama.cpp `mamba2` GGUF (tensor names of llama.cpp's converter). */
function writeModel(path: string, type: GgmlType): void {
  const c = BENCH_SHAPES["mamba2-130m"]() as Mamba2Config;
  const src = randomWeights(c, 1);
  const { d_model: d, d_inner: E, d_state: N, nheads: H, ngroups: G, d_conv: K, vocab_rows: V } = c;
  const convDim = E + 2 * G * N;
  const t = (name: string, shape: number[], from: string, ty: GgmlType = "F32"): GgufTensor => ({
    name, shape, type: ty, data: () => src.f32(from, shape),
  });
  const tensors: GgufTensor[] = [
    t("token_embd.weight", [V, d], "backbone.embedding.weight", type),
    t("output_norm.weight", [d], "backbone.norm_f.weight"),
  ];
  for (let i = 0; i < c.n_layer; i++) {
    const m = `backbone.layers.${i}.mixer.`;
    const b = `blk.${i}.`;
    tensors.push(
      t(b + "attn_norm.weight", [d], `backbone.layers.${i}.norm.weight`),
      t(b + "ssm_in.weight", [2 * E + 2 * G * N + H, d], m + "in_proj.weight", type),
      { name: b + "ssm_conv1d.weight", shape: [convDim, K], type: "F32", data: () => src.f32(m + "conv1d.weight", [convDim, 1, K]) },
      t(b + "ssm_conv1d.bias", [convDim], m + "conv1d.bias"),
      t(b + "ssm_dt.bias", [H], m + "dt_bias"),
      { name: b + "ssm_a", shape: [H, 1], type: "F32", data: () => src.f32(m + "A_log", [H]).map((v) => -Math.exp(v)) },
      { name: b + "ssm_d", shape: [H, 1], type: "F32", data: () => src.f32(m + "D", [H]) },
      { name: b + "ssm_norm.weight", shape: [G, E / G], type: "F32", data: () => src.f32(m + "norm.weight", [E]) },
      t(b + "ssm_out.weight", [d, E], m + "out_proj.weight", type),
    );
  }
  // SentencePiece-style dummy vocabulary: <unk> <s> </s>, the 256 byte tokens, then filler pieces
  const tokens = ["<unk>", "<s>", "</s>"];
  const types = [2, 3, 3];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
    types.push(6);
  }
  while (tokens.length < V) {
    tokens.push(`▁t${tokens.length}`);
    types.push(1);
  }
  const u32 = (value: number): GgufValue => ({ type: "u32", value });
  const meta: Record<string, GgufValue> = {
    "general.architecture": { type: "string", value: "mamba2" },
    "general.name": { type: "string", value: "scanstream random mamba2-130m shape" },
    "general.file_type": u32(FILE_TYPE[type]),
    "mamba2.context_length": u32(1 << 20),
    "mamba2.embedding_length": u32(d),
    "mamba2.feed_forward_length": u32(0),
    "mamba2.attention.head_count": u32(0),
    "mamba2.block_count": u32(c.n_layer),
    "mamba2.ssm.conv_kernel": u32(K),
    "mamba2.ssm.inner_size": u32(E),
    "mamba2.ssm.state_size": u32(N),
    "mamba2.ssm.time_step_rank": u32(H),
    "mamba2.ssm.group_count": u32(G),
    "mamba2.attention.layer_norm_rms_epsilon": { type: "f32", value: c.norm_eps },
    "tokenizer.ggml.model": { type: "string", value: "llama" },
    "tokenizer.ggml.tokens": { type: "string[]", value: tokens },
    "tokenizer.ggml.scores": { type: "f32[]", value: new Float32Array(V) },
    "tokenizer.ggml.token_type": { type: "i32[]", value: Int32Array.from(types) },
    "tokenizer.ggml.bos_token_id": u32(1),
    "tokenizer.ggml.eos_token_id": u32(2),
    "tokenizer.ggml.unknown_token_id": u32(0),
  };
  writeGguf(path, meta, tensors);
}

/** Moves every ggml CPU variant except `keep` aside (and back with the returned function). */
function onlyVariant(keep: string): () => void {
  // resolve the binaries package from node-llama-cpp's own location (it may be a linked install)
  const req = createRequire(realpathSync(fileURLToPath(import.meta.resolve("node-llama-cpp"))));
  const dir = join(dirname(req.resolve("@node-llama-cpp/linux-x64")), "..", "bins", "linux-x64");
  const hidden = join(dir, "hidden");
  mkdirSync(hidden, { recursive: true });
  const moved = readdirSync(dir).filter((f) => /^libggml-cpu-.*\.so$/.test(f) && f !== `libggml-cpu-${keep}.so`);
  if (!existsSync(join(dir, `libggml-cpu-${keep}.so`))) throw new Error(`no ggml CPU variant "${keep}" in ${dir}`);
  for (const f of moved) renameSync(join(dir, f), join(hidden, f));
  return () => { for (const f of moved) renameSync(join(hidden, f), join(dir, f)); };
}

// the part of node-llama-cpp's API used here (it is not a dependency, so its types may be absent)
interface LlamaLib { getLlama(o: object): Promise<Llama>; LlamaLogLevel: { warn: unknown } }
interface Llama { loadModel(o: { modelPath: string; gpuLayers: number }): Promise<LlamaModel> }
interface LlamaModel { createContext(o: object): Promise<LlamaContext>; dispose(): Promise<void> }
interface LlamaContext { getSequence(): LlamaSequence; dispose(): Promise<void> }
interface LlamaSequence {
  clearHistory(): Promise<void>;
  evaluateWithoutGeneratingNewTokens(tokens: number[]): Promise<void>;
  evaluate(tokens: number[], o: object): AsyncIterable<number>;
}

/**
 * Evidence that the GGUF is the same model: 24 greedy tokens after a 32-token prompt, from llama.cpp
 * and from scanstream (wasm, the same dtype where it has one) on the same random weights.
 */
async function checkSameFunction(model: LlamaModel, w: string): Promise<void> {
  const prompt = Array.from({ length: 32 }, (_, i) => 259 + ((i * 7919) % 50000));
  const context = await model.createContext({ contextSize: 1024, batchSize: 512, sequences: 1 });
  const theirs: number[] = [];
  for await (const t of context.getSequence().evaluate(prompt, { temperature: 0 })) if (theirs.push(t) >= 24) break;
  await context.dispose();
  const c = BENCH_SHAPES["mamba2-130m"]();
  const backend = await createBackend("wasm", { threads: 1 });
  const dtype = ({ f32: "f32", f16: "f16", bf16: "bf16", q8_0: "int8" } as const)[w as "f32"];
  const m = buildModel(c, randomWeights(c, 1), backend, { weights: dtype });
  const state = m.newState();
  const ours: number[] = [];
  let logits = m.forward(prompt, state, "last")!;
  while (ours.length < 24) {
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
    ours.push(best);
    logits = m.forward([best], state, "last")!;
  }
  backend.dispose();
  const same = ours.filter((t, i) => t === theirs[i]).length;
  console.error(`check ${w}: ${same}/24 greedy tokens equal (llama.cpp ${theirs.slice(0, 6).join(",")}... scanstream ${ours.slice(0, 6).join(",")}...)`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      weights: { type: "string", default: "f32" },
      threads: { type: "string", default: "1,2" },
      prefill: { type: "string", default: "512,4096" },
      decode: { type: "string", default: "128" },
      repeats: { type: "string", default: "2" },
      variant: { type: "string" },
      dir: { type: "string", default: join(tmpdir(), "scanstream-llama") },
      json: { type: "boolean", default: false },
      check: { type: "boolean", default: false },
    },
  });
  const list = (s: string) => s.split(",").map((x) => x.trim()).filter(Boolean);
  let lib: LlamaLib;
  try {
    const name = "node-llama-cpp";
    lib = (await import(name)) as LlamaLib;
  } catch {
    console.error("node-llama-cpp is not installed: npm i --no-save node-llama-cpp@3.22.1");
    process.exit(2);
  }
  const restore = values.variant ? onlyVariant(values.variant) : () => {};
  for (const sig of ["SIGINT", "SIGTERM"] as const)
    process.once(sig, () => {
      restore(); // put the hidden variants back even when interrupted
      process.exit(130);
    });
  try {
    const llama = await lib.getLlama({ gpu: false, build: "never", logLevel: lib.LlamaLogLevel.warn });
    const rows: Record<string, unknown>[] = [];
    mkdirSync(values.dir!, { recursive: true });
    for (const w of list(values.weights!)) {
      const type = DTYPES[w];
      if (!type) throw new Error(`--weights: unknown "${w}" (f32, f16, bf16, q8_0)`);
      const path = join(values.dir!, `mamba2-130m-random-${w}.gguf`);
      if (!existsSync(path)) {
        console.error(`writing ${path}`);
        writeModel(path, type);
      }
      const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
      if (values.check) await checkSameFunction(model, w);
      for (const threads of list(values.threads!).map(Number)) {
        const context = await model.createContext({ contextSize: 8192, batchSize: 512, threads: { ideal: threads, min: threads }, sequences: 1 });
        const seq = context.getSequence();
        const next = mulberry32(7);
        // random ordinary pieces (ids past the specials and byte tokens), as llama-bench draws random ids
        const rand = (n: number) => Array.from({ length: n }, () => (259 + Math.floor(next() * 50000)));
        const run = async (p: number) => {
          await seq.clearHistory();
          let t0 = performance.now();
          await seq.evaluateWithoutGeneratingNewTokens(rand(p));
          const prefill = (performance.now() - t0) / 1000;
          const n = Number(values.decode);
          let k = 0;
          t0 = performance.now();
          if (n > 0) for await (const _ of seq.evaluate([300], { temperature: 0 })) if (++k >= n) break;
          return { prefill, decode: (performance.now() - t0) / 1000 };
        };
        await run(Math.min(...list(values.prefill!).map(Number)));
        for (const p of list(values.prefill!).map(Number)) {
          const pre: number[] = [];
          const dec: number[] = [];
          for (let r = 0; r < Number(values.repeats); r++) {
            const t = await run(p);
            pre.push(p / t.prefill);
            dec.push(Number(values.decode) / t.decode);
            console.error(`  ${w} ${threads}t prefill ${p}: ${(p / t.prefill).toFixed(1)} tok/s, decode ${(Number(values.decode) / t.decode).toFixed(1)} tok/s`);
          }
          rows.push({ engine: "llama.cpp (node-llama-cpp 3.22.1, ggml v0.5.0)", variant: values.variant ?? "auto", weights: w, threads, prefill_tokens: p,
            prefill_tps: median(pre), decode_tps: median(dec), repeats: pre.length });
        }
        await context.dispose();
      }
      await model.dispose();
    }
    const machine = machineInfo();
    if (values.json) for (const r of rows) console.log(JSON.stringify({ ...r, machine }));
    else {
      console.log(`machine: ${machine.cpu}, ${machine.cores} cores, node ${machine.node}`);
      console.log("| engine | variant | weights | threads | prefill tokens | prefill tok/s | decode tok/s |\n|---|---|---|---:|---:|---:|---:|");
      for (const r of rows) console.log(`| llama.cpp | ${r.variant} | ${r.weights} | ${r.threads} | ${r.prefill_tokens} | ${(r.prefill_tps as number).toFixed(1)} | ${(r.decode_tps as number).toFixed(1)} |`);
    }
  } finally {
    restore();
  }
}

await main();
