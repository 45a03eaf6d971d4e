// `scanstream eval passkey | recall | position-loss`: long-context evaluations through Sessions,
// printing markdown tables (or --json) with the machine, the model, the backend and the command.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { OptionError } from "../errors.ts";
import { fromFile, openText } from "../stream/sources.ts";
import {
  evalPasskey, evalPositionLoss, evalRecall, type CellResult, type EvalCommon, type LossBucket, type TrialRecord,
} from "../stream/eval.ts";
import { describePlan, resolvePlan } from "../models/long-context.ts";
import { DEFAULT_MODEL, num, open, parse } from "./common.ts";
import { linePlotPng, type PlotSpec } from "./plot.ts";
import { mitigationFlags, mitigationOptions } from "./read.ts";

const CHECKPOINTS = path.dirname(DEFAULT_MODEL);

export const EVAL_USAGE = `eval options (scanstream eval passkey|recall|position-loss [options])
  --model DIR           default checkpoints/mamba2-passkey | mamba2-recall | mamba2-text
  --mitigation M[,M..]  configurations to compare (default none); parameters as for read
  --lengths L[,L..]     context lengths, K = 1024, M = 1024^2 (passkey default 1K,2K,4K,8K,16K;
                        position-loss: the largest is the text length, default 64K)
  --depths D[,D..]      passkey depths, 0 = start of the context, 1 = end (default 0,0.25,0.5,0.75,1)
  --distances N[,N..]   passkey: instead of depths, the needle N tokens before the question (K, M allowed)
  --pairs N[,N..]       recall key-value pairs (default 4,8,12,16,20; at most 26); --asked N (4)
  --jrt N[,N..]         context shown N times (default 1)
  --seed S (0)  --trials K (passkey 4, recall 24)
  --text FILE | --newlines   position-loss text (default: --newlines, the paper's "newlines" prompt)
  --bucket N (256)      first loss bucket; buckets double: [0,N) [N,2N) [2N,4N) ...
  --no-reference        position-loss: skip the reference run reset every training length (reset@T)
  --json                print JSON (every configuration has an "accuracy" or "loss" field)
  --plot FILE.png       position-loss: loss by position per mitigation; passkey: accuracy by length`;

/** "4K" -> 4096, "1M" -> 1048576, "1500" -> 1500. */
export function parseLength(s: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(s.trim());
  if (!m) throw new OptionError(`expected a length like 512, 4K or 1M, got "${s}"`, option);
  const v = Number(m[1]) * (m[2] === "" ? 1 : /k/i.test(m[2]) ? 1024 : 1024 * 1024);
  if (!Number.isInteger(v) || v < 1) throw new OptionError(`expected a positive whole length, got "${s}"`, option);
  return v;
}

function list<T>(v: string | undefined, fallback: string, each: (s: string) => T): T[] {
  return (v ?? fallback).split(",").filter((s) => s.trim() !== "").map(each);
}

export async function evaluate(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    lengths: { type: "string" },
    depths: { type: "string" },
    distances: { type: "string" },
    pairs: { type: "string" },
    asked: { type: "string", default: "4" },
    jrt: { type: "string", default: "1" },
    seed: { type: "string", default: "0" },
    trials: { type: "string" },
    text: { type: "string" },
    newlines: { type: "boolean", default: false },
    bucket: { type: "string", default: "256" },
    json: { type: "boolean", default: false },
    plot: { type: "string" },
    "no-reference": { type: "boolean", default: false },
    quiet: { type: "boolean", default: false },
    ...mitigationFlags,
  });
  const task = positionals[0];
  if (!["passkey", "recall", "position-loss"].includes(task) || positionals.length !== 1)
    throw new OptionError(`expected one task: passkey, recall or position-loss, got "${positionals.join(" ")}"`, "<task>");
  const modelDir = values.model ?? path.join(CHECKPOINTS, task === "passkey" ? "mamba2-passkey" : task === "recall" ? "mamba2-recall" : "mamba2-text");
  const names = (values.mitigation ?? "none").split(",");
  const mitigations = names.map((name) => ({ name, options: mitigationOptions({ ...values, mitigation: name }, "none") }));
  const jrts = list(values.jrt, "1", (s) => {
    const n = num(s, "jrt", true)!;
    if (n < 1) throw new OptionError(`expected positive integers, got ${n}`, "--jrt");
    return n;
  });
  const seed = num(values.seed, "seed", true)!;
  const trials = num(values.trials ?? (task === "recall" ? "24" : "4"), "trials", true)!;
  if (trials < 1) throw new OptionError(`expected a positive integer, got ${trials}`, "--trials");
  const m = await open({ ...values, model: modelDir });
  for (const mit of mitigations) resolvePlan(m.config, mit.options); // option errors before any work
  const ac = new AbortController();
  const onSigint = () => ac.abort();
  process.once("SIGINT", onSigint);
  const log = (line: string) => void (values.quiet || process.stderr.write(line + "\n"));
  log(`[scanstream] eval ${task}: ${m.config.family} from ${m.dir} on ${m.backend.detail}`);
  const common: EvalCommon = {
    session: (o) => m.session(o),
    mitigations,
    signal: ac.signal,
    allowed: Math.min(m.config.vocab_rows, m.tokenizer.vocabSize),
    encode: (t) => m.tokenizer.encode(t),
    onTrial: (r: TrialRecord) =>
      log(`[scanstream] ${r.mitigation}${r.length !== undefined ? ` length ${r.length} depth ${r.depth}` : ""}${r.pairs !== undefined ? ` pairs ${r.pairs}` : ""} jrt ${r.jrt}: ` +
        `${r.correct}/${r.total} (${r.tokens} tokens, ${r.seconds.toFixed(1)} s)`),
  };
  const header = {
    task,
    command: `scanstream eval ${args.join(" ")}`,
    machine: `${os.cpus()[0]?.model ?? "?"}, ${os.cpus().length} cores, node ${process.version}`,
    model: m.dir,
    backend: m.backend.detail,
    trainLength: resolvePlan(m.config, mitigations[0].options).trainLength,
    seed,
    trials,
    mitigations: mitigations.map((x) => ({ name: x.name, plan: describePlan(resolvePlan(m.config, x.options)), options: x.options })),
  };
  const t0 = performance.now();
  try {
    if (task === "passkey") {
      const lengths = list(values.lengths, "1K,2K,4K,8K,16K", (s) => parseLength(s, "--lengths"));
      const depths = list(values.depths, "0,0.25,0.5,0.75,1", (s) => {
        const d = num(s, "depths")!;
        if (d < 0 || d > 1) throw new OptionError(`expected depths in [0, 1], got ${d}`, "--depths");
        return d;
      });
      if (values.distances !== undefined && values.depths !== undefined) throw new OptionError("give --depths or --distances, not both", "--distances");
      const distances = values.distances !== undefined ? list(values.distances, "", (s) => s === "0" ? 0 : parseLength(s, "--distances")) : undefined;
      const results: CellResult[] = [];
      for (const jrt of jrts) results.push(...(await evalPasskey({ ...common, lengths, depths, distances, trials, seed, jrt })));
      print(values.json, { ...header, seconds: (performance.now() - t0) / 1000, results }, () => passkeyTables(results, lengths, depths, distances));
      if (values.plot) {
        const groups = [...new Set(results.map((r) => `${r.mitigation}${jrts.length > 1 ? ` jrt ${r.jrt}` : ""}`))];
        writePlot(values.plot, {
          title: `passkey accuracy by length, mean over ${distances ? "distances" : "depths"} ${(distances ?? depths).join(", ")}`, xLabel: "context length (tokens)", yLabel: "accuracy",
          xLog: true, marker: { x: header.trainLength, label: "train length" },
          series: groups.map((g) => ({
            name: g,
            points: lengths.map((L) => {
              const rs = results.filter((r) => r.length === L && `${r.mitigation}${jrts.length > 1 ? ` jrt ${r.jrt}` : ""}` === g);
              return [L, rs.reduce((a, r) => a + r.accuracy, 0) / rs.length] as [number, number];
            }),
          })),
        });
      }
    } else if (task === "recall") {
      const pairs = list(values.pairs, "4,8,12,16,20", (s) => num(s, "pairs", true)!);
      const asked = num(values.asked, "asked", true)!;
      const results: CellResult[] = [];
      for (const jrt of jrts) results.push(...(await evalRecall({ ...common, pairs, asked, trials, seed, jrt })));
      print(values.json, { ...header, asked, seconds: (performance.now() - t0) / 1000, results }, () => recallTable(results));
    } else {
      const length = Math.max(...list(values.lengths, "64K", (s) => parseLength(s, "--lengths")));
      const bucket = num(values.bucket, "bucket", true)!;
      if (bucket < 1) throw new OptionError(`expected a positive integer, got ${bucket}`, "--bucket");
      if (values.text !== undefined && values.newlines) throw new OptionError("give --text FILE or --newlines, not both", "--text");
      if (values.text !== undefined && !fs.existsSync(values.text)) throw new OptionError(`cannot read ${values.text} (ENOENT)`, "--text");
      const textFile = values.text;
      const text = textFile !== undefined ? () => openText(fromFile(textFile)) : () => newlines(length);
      const reference = { name: `reset@${header.trainLength}`, options: {}, resetEvery: header.trainLength };
      const results = await evalPositionLoss({ ...common, mitigations: values["no-reference"] ? mitigations : [reference, ...mitigations], text, length, bucket });
      const source = textFile ?? "newlines";
      print(values.json, { ...header, text: source, length, bucket, seconds: (performance.now() - t0) / 1000, results },
        () => lossTable(results, header.trainLength));
      if (values.plot)
        writePlot(values.plot, {
          title: `loss by position, ${textFile !== undefined ? path.basename(textFile) : "newlines"}`, xLabel: "position (tokens)", yLabel: "loss (nats/token)",
          xLog: true, marker: { x: header.trainLength, label: "train length" },
          series: [...new Set(results.map((r) => r.mitigation))].map((name) => ({
            name,
            points: results.filter((r) => r.mitigation === name).map((r) => [r.from === 0 ? r.to / 2 : Math.sqrt(r.from * r.to), r.loss] as [number, number]),
          })),
        });
    }
  } finally {
    process.removeListener("SIGINT", onSigint);
  }
  return 0;

  function print(json: boolean, obj: Record<string, unknown>, table: () => string): void {
    if (json) process.stdout.write(JSON.stringify(obj, null, 1) + "\n");
    else {
      process.stdout.write(`command: ${header.command}\nmachine: ${header.machine}\nmodel: ${header.model} (training length ${header.trainLength}); backend: ${header.backend}; seed ${seed}\n`);
      for (const x of header.mitigations) process.stdout.write(`  ${x.name}: ${x.plan}\n`);
      process.stdout.write(table() + `\n(${((performance.now() - t0) / 1000).toFixed(0)} s)\n`);
    }
  }
}

function writePlot(file: string, spec: PlotSpec): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, linePlotPng(spec));
  fs.renameSync(tmp, file);
  process.stderr.write(`[scanstream] wrote ${file}\n`);
}

async function* newlines(length: number): AsyncGenerator<string> {
  for (let i = 0; i < length; i += 4096) yield "\n".repeat(Math.min(4096, length - i));
}

const pct = (x: number) => (100 * x).toFixed(0);

export function passkeyTables(results: CellResult[], lengths: number[], depths: number[], distances?: number[]): string {
  const cols = distances ?? depths;
  const colName = distances ? (x: number) => `distance ${x}` : (x: number) => `depth ${x}`;
  const match = (r: CellResult, x: number) => (distances ? r.distance === x : r.depth === x);
  const out: string[] = [];
  const groups = new Map<string, CellResult[]>();
  for (const r of results) {
    const k = `${r.mitigation}, jrt ${r.jrt}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  for (const [k, rs] of groups) {
    out.push(`\npasskey accuracy (%), ${k}, ${rs[0].trials} trials per cell`);
    out.push(`| length | ${cols.map(colName).join(" | ")} | mean |`);
    out.push(`|---:|${cols.map(() => "---:").join("|")}|---:|`);
    for (const L of lengths) {
      const row = cols.map((x) => rs.find((r) => r.length === L && match(r, x))!);
      const mean = row.reduce((s, r) => s + r.accuracy, 0) / row.length;
      out.push(`| ${L} | ${row.map((r) => pct(r.accuracy)).join(" | ")} | ${pct(mean)} |`);
    }
  }
  return out.join("\n");
}

export function recallTable(results: CellResult[]): string {
  const out = [`\nrecall accuracy (% of values), prompt tokens and prefill milliseconds per example`];
  const cols = [...new Set(results.map((r) => `${r.mitigation}, jrt ${r.jrt}`))];
  out.push(`| pairs | ${cols.map((c) => `${c}: acc | tokens | prefill ms`).join(" | ")} |`);
  out.push(`|---:|${cols.map(() => "---:|---:|---:").join("|")}|`);
  for (const p of [...new Set(results.map((r) => r.pairs!))]) {
    const cells = cols.map((c) => results.find((r) => r.pairs === p && `${r.mitigation}, jrt ${r.jrt}` === c)!);
    out.push(`| ${p} | ${cells.map((r) => `${pct(r.accuracy)} | ${r.tokens.toFixed(0)} | ${((1000 * r.prefillSeconds) / r.trials).toFixed(1)}`).join(" | ")} |`);
  }
  const jrts = [...new Set(results.map((r) => r.jrt))].sort((a, b) => a - b);
  if (jrts.length > 1 && jrts[0] === 1) {
    out.push(`\nprefill cost of JRT relative to jrt 1 (same mitigation, same examples)`);
    out.push(`| mitigation | jrt | prompt tokens ratio | prefill time ratio |`);
    out.push(`|---|---:|---:|---:|`);
    for (const name of [...new Set(results.map((r) => r.mitigation))])
      for (const j of jrts.slice(1)) {
        const a = results.filter((r) => r.mitigation === name && r.jrt === 1);
        const b = results.filter((r) => r.mitigation === name && r.jrt === j);
        const sum = (rs: CellResult[], f: (r: CellResult) => number) => rs.reduce((x, r) => x + f(r), 0);
        out.push(`| ${name} | ${j} | ${(sum(b, (r) => r.tokens) / sum(a, (r) => r.tokens)).toFixed(2)} | ${(sum(b, (r) => r.prefillSeconds) / sum(a, (r) => r.prefillSeconds)).toFixed(2)} |`);
      }
  }
  return out.join("\n");
}

export function lossTable(results: LossBucket[], trainLength: number): string {
  const names = [...new Set(results.map((r) => r.mitigation))];
  const buckets = [...new Map(results.map((r) => [r.from, r])).values()];
  const ref = names.find((n) => n.startsWith("reset@"));
  const out = [ref
    ? `\nloss by position (nats/token; in brackets: ratio to ${ref}, the same tokens predicted from at most ${trainLength} tokens of context)`
    : `\nloss by position (nats/token)`];
  out.push(`| positions | ${names.join(" | ")} |`);
  out.push(`|---|${names.map(() => "---:").join("|")}|`);
  for (const b of buckets) {
    const base = ref ? results.find((x) => x.mitigation === ref && x.from === b.from) : undefined;
    const cells = names.map((n) => {
      const r = results.find((x) => x.mitigation === n && x.from === b.from);
      return !r ? "" : base && n !== ref ? `${r.loss.toFixed(3)} (${(r.loss / base.loss).toFixed(3)})` : r.loss.toFixed(3);
    });
    out.push(`| ${b.from}–${b.to} | ${cells.join(" | ")} |`);
  }
  return out.join("\n");
}
