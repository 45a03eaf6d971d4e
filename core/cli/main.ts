// scanstream CLI: thin — parses flags (node:util parseArgs), calls the library, prints results.
// Every error is printed as one line naming what is at fault (stack traces only with --debug).
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { OptionError, ScanstreamError } from "../errors.ts";
import { writeNpy } from "../formats/npy.ts";
import { DEFAULT_MODEL, num, open, parse } from "./common.ts";
import { evaluate, EVAL_USAGE } from "./eval.ts";
import { read, READ_USAGE } from "./read.ts";

const USAGE = `usage: scanstream <command> [options]

commands
  generate [prompt]                 stream generated text to stdout
  logits [model-dir] --ids F | --text T --out F.npy
                                    write float32 logits [T, vocab_rows] as .npy
  info [model-dir]                  resolved config, parameter count, state size
  read <file|->                     read a document of any length (progress, snapshots), ask questions
  eval passkey|recall|position-loss long-context evaluations (mitigations, JRT)
  bench --shape mamba2-130m --backend cpu,wasm --weights f32 --prefill 512,4096 --decode 128 [--threads N] [--json]
                                    random weights of a released shape: prefill / decode tokens/s table

common options
  --model DIR        checkpoint folder (default: the bundled ${path.relative(process.cwd(), DEFAULT_MODEL) || DEFAULT_MODEL})
  --backend NAME     auto | cpu | wasm | gpu | webgpu (default auto)
  --weights DTYPE    f32 | f16 | bf16 | int8 weight storage on the backend (default f32)
  --threads N        wasm worker threads
  --debug            print stack traces

generate options
  --max-tokens N (200)  --temperature X (0.8)  --top-k N  --top-p X  --seed N (0)  --stop S (repeatable)

${READ_USAGE}

${EVAL_USAGE}`;

async function generate(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    "max-tokens": { type: "string", default: "200" },
    temperature: { type: "string", default: "0.8" },
    "top-k": { type: "string" },
    "top-p": { type: "string" },
    seed: { type: "string", default: "0" },
    stop: { type: "string", multiple: true },
  });
  const m = await open(values);
  process.stderr.write(`[scanstream] ${m.config.family} from ${m.dir} on ${m.backend.detail}\n`);
  const session = m.session();
  const prompt = positionals.join(" ");
  process.stdout.write(prompt);
  const ac = new AbortController();
  process.once("SIGINT", () => ac.abort());
  const t0 = performance.now();
  let n = 0;
  for await (const piece of session.generate(prompt, {
    maxTokens: num(values["max-tokens"], "max-tokens", true),
    temperature: num(values.temperature, "temperature"),
    topK: num(values["top-k"], "top-k", true),
    topP: num(values["top-p"], "top-p"),
    seed: num(values.seed, "seed", true),
    stop: values.stop,
    signal: ac.signal,
  })) {
    process.stdout.write(piece.text);
    if (piece.token >= 0) n++;
  }
  const s = (performance.now() - t0) / 1000;
  process.stdout.write("\n");
  process.stderr.write(`[scanstream] ${n} tokens in ${s.toFixed(2)} s (${(n / s).toFixed(1)} tokens/s, prompt included in time)\n`);
}

async function logits(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, { ids: { type: "string" }, text: { type: "string" }, out: { type: "string" } });
  if (!values.out) throw new OptionError("required (the .npy file to write)", "--out");
  if ((values.ids === undefined) === (values.text === undefined)) throw new OptionError("give exactly one of --ids FILE or --text TEXT", "--ids");
  const m = await open(values, positionals[0]);
  let ids: number[];
  if (values.ids !== undefined) {
    let json: unknown;
    try {
      json = JSON.parse(fs.readFileSync(values.ids, "utf8"));
    } catch (e) {
      throw new OptionError(`${values.ids}: cannot read JSON ids (${(e as Error).message})`, "--ids");
    }
    const list = Array.isArray(json) ? json : (json as { tokens?: unknown })?.tokens;
    if (!Array.isArray(list) || !list.every((v) => Number.isInteger(v))) throw new OptionError(`${values.ids}: expected a JSON array of integer ids or {"tokens": [...]}`, "--ids");
    ids = list;
  } else ids = m.tokenizer.encode(values.text!);
  const rows = m.config.vocab_rows;
  const bad = ids.findIndex((id) => id < 0 || id >= rows);
  if (bad >= 0) throw new OptionError(`id ${ids[bad]} at index ${bad} is outside the model's ${rows} vocabulary rows`, "--ids");
  const out = m.model.forward(ids, m.model.newState(), "all")!;
  // write to a temporary name, then rename: never a half-written file
  const tmp = `${values.out}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, writeNpy(out, [ids.length, rows]));
  fs.renameSync(tmp, values.out);
  process.stderr.write(`[scanstream] wrote ${values.out}: float32 [${ids.length}, ${rows}] on ${m.backend.detail}\n`);
}

async function info(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {});
  const m = await open({ ...values, backend: values.backend === "auto" ? "cpu" : values.backend }, positionals[0]);
  const { source, ...config } = m.config;
  console.log(JSON.stringify({
    dir: m.dir,
    config_style: source.style,
    ...config,
    parameters: m.model.paramCount,
    state_bytes: m.model.stateBytes,
    tokenizer: m.tokenizer.kind,
    backend: m.backend.detail,
  }, (_k, v) => (v === Infinity ? "Infinity" : v), 2));
}

/** A command returns its exit code (default 0). */
/** `scanstream bench`: the llama-bench-like table of bench/model-bench.ts (its flags, its parser). */
async function bench(args: string[]): Promise<number> {
  return (await import("../../bench/model-bench.ts")).main(args);
}

const commands: Record<string, (args: string[]) => Promise<number | void>> = { generate, logits, info, read, eval: evaluate, bench };
commands.run = async (args) => (await import("./run-s4.ts")).runCommand(args); // S4 sequence models on float inputs (core/cli/run-s4.ts)

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === "--help" || cmd === "-h" || rest.includes("--help") || rest.includes("-h")) {
    console.log(USAGE);
    return cmd ? 0 : 1;
  }
  const run = commands[cmd];
  const debug = rest.includes("--debug");
  try {
    if (!run) throw new OptionError(`unknown command "${cmd}" (try --help)`);
    return (await run(rest)) ?? 0;
  } catch (e) {
    const err = e as Error;
    const known = err instanceof ScanstreamError;
    process.stderr.write(`scanstream: ${known ? err.message : `unexpected ${err?.name ?? "error"}: ${err?.message ?? err}`}\n`);
    if (debug) process.stderr.write(`${err?.stack}\n`);
    return known ? 2 : 1;
  }
}

// run when executed directly (tsx core/cli/main.ts ...); bin/scanstream.js calls main() itself
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) process.exitCode = await main(process.argv.slice(2));
