// Whole-model throughput: prefill tokens/s and decode tokens/s of a Mamba-2 / Mamba-1 model with
// random weights of a released model's shape, built in process (no checkpoint needed; the speed of a
// model does not depend on its weight values). Prints a markdown table that names the machine.
//
//   tsx bench/model-bench.ts --backend cpu --shape mamba2-130m --prefill 512,64 --decode 16 [--json]
//   tsx bench/model-bench.ts --backend cpu,wasm --shape tiny      (several backends: adds ratio columns)
//
// Method, per prefill length p and repeat:
//   prefill: a fresh state, forward(p random ids, "last")                      -> p / seconds
//   decode:  then `decode` single-token forward([id], "last") steps, each id the argmax of the previous
//            logits (greedy), continuing from the prefilled state, the logits written into one reused
//            array as a Session does                                            -> decode / seconds
// On webgpu a Mamba-2 prefill runs resident (embedding to logits on the GPU, as a loaded model's
// forward does; `--gpu-prefill per-op` for the op-by-op path); decode steps are per-op either way.
// A row reports the median over the repeats and the spread (max - min) / 2 / median. `warmup` untimed
// iterations (shortest prefill + decode) run first so the JIT has compiled the kernels.
// Rates are wall-clock. The *_cpu rates divide by the process's CPU time (user + system) instead:
// on a shared machine they show how much of a wall-clock figure is waiting for a core (they include
// the time of any helper threads, e.g. the garbage collector, so they are not an upper bound).
// peak_rss_mb is the process's peak resident set so far (process.resourceUsage().maxRSS), which
// includes generating the random weights and the backend's copy of them.
import os from "node:os";
import { realpathSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import type { Backend, WeightDType } from "../kernels/backend.ts";
import { checkBackendChoice, createBackend } from "../kernels/registry.ts";
import { buildModel } from "../core/models/index.ts";
import { buildWithBatchDecoder } from "../core/models/mamba2-batch.ts";
import { resolvePlan } from "../core/models/long-context.ts";
import { mamba1Config, mamba2Config, mulberry32, randomWeights, type MambaConfig } from "../core/models/random.ts";
import { ConfigError, ScanstreamError } from "../core/errors.ts";

export type BenchShape = "mamba2-130m" | "mamba-130m" | "tiny";

/** The benchmarked shapes. mamba2-130m / mamba-130m: the state-spaces releases (129M parameters). */
export const BENCH_SHAPES: Record<BenchShape, () => MambaConfig> = {
  // d_model 768, 24 layers, d_state 128, headdim 64, expand 2, ngroups 1, chunk 256, vocab rows 50288
  "mamba2-130m": () => mamba2Config({ vocab_size: 50277 }),
  // Mamba-1: d_model 768, 24 layers, d_state 16, dt_rank 48, expand 2, vocab rows 50280
  "mamba-130m": () => mamba1Config({ vocab_size: 50277 }),
  // a seconds-long smoke shape: Mamba-2, d_model 64, 2 layers, d_state 16, headdim 16, chunk 64
  tiny: () => mamba2Config({ d_model: 64, n_layer: 2, d_state: 16, headdim: 16, chunk_size: 64, vocab_size: 256 }),
};

export interface ModelBenchOptions {
  shape: BenchShape;
  /** The backend, or a factory for it (called once, after the weights are generated). */
  backend: Backend | (() => Backend | Promise<Backend>);
  weights: WeightDType;
  /** Prefill lengths; one result row each. */
  prefill: number[];
  /** Decode steps timed after each prefill (0: no decode timing). */
  decode: number;
  repeats: number;
  warmup: number;
  /** Seed of the random weights and token ids (default 1). */
  seed?: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
  /** webgpu + Mamba-2: prefill on the GPU from embedding to logits ("resident", the default, as a
   *  loaded model's forward does) or op by op with activations round-tripping ("per-op"). */
  gpuPrefill?: "resident" | "per-op";
  /** Attach the `none` long-context plan to each state, as a session does (state-norm telemetry
   *  every 64 tokens; on webgpu the resident prefill then lays its chunks out on the probes). */
  telemetry?: boolean;
}

export interface ModelBenchRow {
  shape: BenchShape;
  /** backend.detail: what actually ran (", resident prefill" appended where the prefill ran resident). */
  backend: string;
  weights: WeightDType;
  prefill_tokens: number;
  /** Median prefill tokens/s over the repeats. */
  prefill_tps: number;
  /** (max - min) / 2 / median of the prefill tokens/s; 0 with one repeat. */
  prefill_spread: number;
  decode_tokens: number;
  /** Median decode tokens/s (NaN if decode is 0). */
  decode_tps: number;
  decode_spread: number;
  /** Median tokens per second of process CPU time (user + system), see the header comment. */
  prefill_tps_cpu: number;
  decode_tps_cpu: number;
  repeats: number;
  /** Peak resident set of the process so far, MiB (includes building the model). */
  peak_rss_mb: number;
  params: number;
  /** Seconds to generate the random weights and upload them to the backend. */
  build_s: number;
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  node: string;
  os: string;
}

export function machineInfo(): MachineInfo {
  return {
    cpu: os.cpus()[0]?.model.trim() ?? "unknown cpu",
    cores: os.cpus().length,
    node: process.version,
    os: `${os.platform()} ${os.arch()} ${os.release()}`,
  };
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function stats(v: number[]): { med: number; spread: number } {
  if (v.length === 0) return { med: NaN, spread: NaN };
  const med = median(v);
  return { med, spread: (Math.max(...v) - Math.min(...v)) / 2 / med };
}

function argmax(v: Float32Array): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

export async function runModelBench(opts: ModelBenchOptions): Promise<ModelBenchRow[]> {
  const { shape, weights, prefill, decode, repeats, warmup } = opts;
  const log = opts.log ?? (() => {});
  const make = BENCH_SHAPES[shape];
  if (!make) throw new ConfigError(`unknown shape "${shape}"; expected one of ${Object.keys(BENCH_SHAPES).join(", ")}`, undefined, "shape");
  if (prefill.length === 0 || prefill.some((p) => !Number.isInteger(p) || p < 1))
    throw new ConfigError(`prefill lengths must be integers >= 1, got [${prefill}]`, undefined, "prefill");
  if (!Number.isInteger(decode) || decode < 0) throw new ConfigError(`decode must be an integer >= 0, got ${decode}`, undefined, "decode");
  if (!Number.isInteger(repeats) || repeats < 1) throw new ConfigError(`repeats must be an integer >= 1, got ${repeats}`, undefined, "repeats");
  if (!Number.isInteger(warmup) || warmup < 0) throw new ConfigError(`warmup must be an integer >= 0, got ${warmup}`, undefined, "warmup");

  const config = make();
  const seed = opts.seed ?? 1;
  const t0 = performance.now();
  const backend = typeof opts.backend === "function" ? await opts.backend() : opts.backend;
  // default maxBlock (256): prefill runs in the blocks a session would use
  const resident = backend.name === "webgpu" && config.family === "mamba2" && opts.gpuPrefill !== "per-op";
  const { model, decoder } = resident
    ? buildWithBatchDecoder(config, randomWeights(config, seed), backend, { weights })
    : { model: buildModel(config, randomWeights(config, seed), backend, { weights }), decoder: null };
  const detail = backend.detail + (decoder ? ", resident prefill" : "") + (opts.telemetry ? ", none-plan telemetry" : "");
  const build_s = (performance.now() - t0) / 1000;
  log(`${shape}: ${(model.paramCount / 1e6).toFixed(1)}M parameters, ${weights} weights on ${backend.detail}, built in ${build_s.toFixed(1)} s`);

  const rand = mulberry32(seed ^ 0x1d5);
  const randomIds = (n: number) => Array.from({ length: n }, () => Math.floor(rand() * config.vocab_size));

  const cpuSeconds = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1e6;
  const out = new Float32Array(model.config.vocab_rows);
  /** One prefill + decode; returns wall and process-CPU seconds for each. */
  function once(p: number) {
    const state = model.newState();
    if (opts.telemetry) state.plan = resolvePlan(config, { mitigation: "none" });
    const ids = randomIds(p);
    const a = performance.now();
    const ca = process.cpuUsage();
    const logits = model.forward(ids, state, "last", out)!;
    const b = performance.now();
    const cb = process.cpuUsage();
    for (let k = 0; k < decode; k++) model.forward([argmax(logits)], state, "last", logits);
    const c = performance.now();
    const cc = process.cpuUsage();
    return {
      prefill: (b - a) / 1000, decode: (c - b) / 1000,
      prefillCpu: cpuSeconds(cb) - cpuSeconds(ca), decodeCpu: cpuSeconds(cc) - cpuSeconds(cb),
    };
  }

  const shortest = Math.min(...prefill);
  for (let i = 0; i < warmup; i++) {
    const r = once(shortest);
    log(`  warmup ${i + 1}/${warmup}: prefill ${shortest} in ${r.prefill.toFixed(2)} s, decode ${decode} in ${r.decode.toFixed(2)} s`);
  }

  const rows: ModelBenchRow[] = [];
  for (const p of prefill) {
    const pre: number[] = [];
    const dec: number[] = [];
    const preCpu: number[] = [];
    const decCpu: number[] = [];
    for (let r = 0; r < repeats; r++) {
      const t = once(p);
      pre.push(p / t.prefill);
      preCpu.push(p / t.prefillCpu);
      if (decode > 0) {
        dec.push(decode / t.decode);
        decCpu.push(decode / t.decodeCpu);
      }
      log(`  prefill ${p} repeat ${r + 1}/${repeats}: ${t.prefill.toFixed(2)} s (${(p / t.prefill).toFixed(2)} tok/s; ` +
        `cpu ${t.prefillCpu.toFixed(2)} s)` +
        (decode > 0 ? `, decode ${decode}: ${t.decode.toFixed(2)} s (${(decode / t.decode).toFixed(2)} tok/s; cpu ${t.decodeCpu.toFixed(2)} s)` : ""));
    }
    const ps = stats(pre);
    const ds = stats(dec);
    rows.push({
      shape, backend: detail, weights, prefill_tokens: p,
      prefill_tps: ps.med, prefill_spread: ps.spread,
      decode_tokens: decode, decode_tps: ds.med, decode_spread: ds.spread,
      prefill_tps_cpu: stats(preCpu).med, decode_tps_cpu: stats(decCpu).med,
      repeats, peak_rss_mb: process.resourceUsage().maxRSS / 1024, params: model.paramCount, build_s,
    });
  }
  decoder?.dispose();
  backend.dispose();
  return rows;
}

const fmtNum = (v: number) => (Number.isFinite(v) ? (v < 10 ? v.toFixed(2) : v.toFixed(1)) : "-");
const fmtRate = (v: number, spread: number) => (Number.isFinite(v) ? `${fmtNum(v)} ± ${(100 * spread).toFixed(0)}%` : "-");

/**
 * A markdown table of the rows under a line naming the machine. When rows of several backends share a
 * (shape, weights, prefill) the table adds their speed relative to the first backend listed for it.
 */
export function formatTable(rows: ModelBenchRow[], machine: MachineInfo = machineInfo()): string {
  const key = (r: ModelBenchRow) => `${r.shape}|${r.weights}|${r.prefill_tokens}|${r.decode_tokens}`;
  const base = new Map<string, ModelBenchRow>();
  for (const r of rows) if (!base.has(key(r))) base.set(key(r), r);
  const ratios = new Set(rows.map((r) => r.backend)).size > 1;
  const head = [
    "shape", "backend", "weights", "prefill tokens", "prefill tok/s", "decode tok/s",
    "prefill tok/cpu-s", "decode tok/cpu-s", "repeats", "peak RSS MiB",
  ];
  if (ratios) head.push("prefill ×", "decode ×");
  const lines = [
    `machine: ${machine.cpu}, ${machine.cores} cores, node ${machine.node}, ${machine.os}`,
    "",
    `| ${head.join(" | ")} |`,
    `|${head.map((h) => (/tok|MiB|×|repeats|tokens/.test(h) ? "---:" : "---")).join("|")}|`,
  ];
  for (const r of rows) {
    const cells = [
      r.shape, r.backend, r.weights, String(r.prefill_tokens),
      fmtRate(r.prefill_tps, r.prefill_spread),
      r.decode_tokens > 0 ? `${fmtRate(r.decode_tps, r.decode_spread)} (${r.decode_tokens} tok)` : "-",
      fmtNum(r.prefill_tps_cpu), r.decode_tokens > 0 ? fmtNum(r.decode_tps_cpu) : "-",
      String(r.repeats), r.peak_rss_mb.toFixed(0),
    ];
    if (ratios) {
      const b = base.get(key(r))!;
      cells.push((r.prefill_tps / b.prefill_tps).toFixed(2), r.decode_tokens > 0 ? (r.decode_tps / b.decode_tps).toFixed(2) : "-");
    }
    lines.push(`| ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}

const DTYPES: readonly WeightDType[] = ["f32", "f16", "bf16", "int8"];

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      backend: { type: "string", default: "cpu" },
      threads: { type: "string" },
      shape: { type: "string", default: "mamba2-130m" },
      weights: { type: "string", default: "f32" },
      prefill: { type: "string", multiple: true },
      decode: { type: "string", default: "16" },
      repeats: { type: "string", default: "3" },
      warmup: { type: "string", default: "1" },
      seed: { type: "string", default: "1" },
      "gpu-prefill": { type: "string", default: "resident" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(
      "usage: tsx bench/model-bench.ts [--backend cpu[,wasm,auto]] [--threads N] [--shape mamba2-130m|mamba-130m|tiny]\n" +
      "                                [--weights f32|f16|bf16|int8] [--prefill 512,64] [--decode 16] [--repeats 3]\n" +
      "                                [--warmup 1] [--seed 1] [--gpu-prefill resident|per-op] [--json]",
    );
    return 0;
  }
  const int = (name: string, v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n)) throw new ConfigError(`expected an integer, got "${v}"`, undefined, `--${name}`);
    return n;
  };
  if (!(values.shape in BENCH_SHAPES))
    throw new ConfigError(`unknown shape "${values.shape}"; expected one of ${Object.keys(BENCH_SHAPES).join(", ")}`, undefined, "--shape");
  if (!DTYPES.includes(values.weights as WeightDType))
    throw new ConfigError(`unknown weight dtype "${values.weights}"; expected one of ${DTYPES.join(", ")}`, undefined, "--weights");
  const backends = values.backend!.split(",").map((b) => b.trim());
  for (const b of backends) checkBackendChoice(b);
  const threads = values.threads === undefined ? undefined : int("threads", values.threads);
  const gpuPrefill = values["gpu-prefill"];
  if (gpuPrefill !== "resident" && gpuPrefill !== "per-op")
    throw new ConfigError(`expected resident or per-op, got "${gpuPrefill}"`, undefined, "--gpu-prefill");
  const rows: ModelBenchRow[] = [];
  for (const name of backends)
    rows.push(...await runModelBench({
      shape: values.shape as BenchShape,
      backend: () => createBackend(name as Parameters<typeof createBackend>[0], { threads }),
      weights: values.weights as WeightDType,
      prefill: (values.prefill ?? ["512"]).flatMap((s) => s.split(",")).map((s) => int("prefill", s.trim())),
      decode: int("decode", values.decode!),
      repeats: int("repeats", values.repeats!),
      warmup: int("warmup", values.warmup!),
      seed: int("seed", values.seed!),
      gpuPrefill,
      log: (line) => process.stderr.write(line + "\n"),
    }));
  const machine = machineInfo();
  if (values.json) console.log(JSON.stringify({ machine, rows }, null, 2));
  else console.log(formatTable(rows, machine));
  return 0;
}

/** Whether the module whose import.meta.url is `url` is the script node was started with (links resolved). */
export function isEntryScript(url: string): boolean {
  if (!process.argv[1]) return false;
  try {
    return pathToFileURL(realpathSync(process.argv[1])).href === url;
  } catch {
    return false;
  }
}

if (isEntryScript(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      const expected = e instanceof ScanstreamError || String((e as { code?: unknown })?.code).startsWith("ERR_PARSE_ARGS");
      console.error(expected ? `error: ${(e as Error).message}` : e);
      process.exit(1);
    },
  );
}
