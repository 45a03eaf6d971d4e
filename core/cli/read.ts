// `scanstream read <file|->`: stream a document of any length through a model in constant memory,
// with a progress bar (TTY) or progress lines, periodic snapshots to a file, resume after a crash
// or Ctrl-C, collapse warnings, and questions answered from the state after reading (JRT with --jrt).
import fs from "node:fs";
import { OptionError, SnapshotError } from "../errors.ts";
import type { LongContextOptions, MitigationChoice } from "../models/long-context.ts";
import { describePlan, isMitigation, MITIGATIONS } from "../models/long-context.ts";
import { readSnapshotFile, writeSnapshotFile } from "../stream/snapshot-file.ts";
import { AbortError, type ReadProgress } from "../stream/session.ts";
import { fromFile, NotReReadableError, type ReadSource } from "../stream/sources.ts";
import { num, open, parse } from "./common.ts";
import { createProgress, formatSeconds, type ProgressMode } from "./progress.ts";

export const READ_USAGE = `read options (scanstream read <file|-> [options])
  --ask Q               a question answered after reading (repeatable); the answer goes to stdout
  --jrt N (1)           show the document N times before each question (JRT; needs a file, not -)
  --layout L            cached (default: questions reuse the read) | question-first (the paper's layout)
  --answer-prefix S     text after the question, e.g. "Answer:"
  --question-separator S  between the document and the question (default "\n"; "" for a prompt that
                        continues the document); --copy-separator S between JRT copies (default "\n")
  --max-tokens N (48)   answer length
  --mitigation M        ${MITIGATIONS.join(" | ")} (default auto: nothing changes inside the training length)
  --train-length N      the model's training length (default: config.json train_length, else 2048)
  --window R  --gamma X  --insert X  --norm-factor X  --norm-bound X  --start N  --probe-every N
                        mitigation parameters (docs/long-context.md)
  --snapshot-out F      write the state to F every --snapshot-every tokens (65536), at the end and on Ctrl-C
  --resume F            continue the read recorded in snapshot F (same model, same document)
  --progress P          auto | bar | lines | none (default auto: a bar on a TTY, lines otherwise)
  --json                print a JSON summary (stats, answers) on stdout`;

export const mitigationFlags = {
  mitigation: { type: "string" },
  "train-length": { type: "string" },
  window: { type: "string" },
  gamma: { type: "string" },
  insert: { type: "string" },
  "norm-factor": { type: "string" },
  "norm-bound": { type: "string" },
  start: { type: "string" },
  "probe-every": { type: "string" },
} as const;

/** Session options from the mitigation flags (each checked again, with its name, by resolvePlan). */
export function mitigationOptions(v: Partial<Record<keyof typeof mitigationFlags, string>>, fallback: MitigationChoice): LongContextOptions {
  const m = v.mitigation ?? fallback;
  if (!isMitigation(m)) throw new OptionError(`expected one of ${MITIGATIONS.join(", ")}, got "${m}"`, "--mitigation");
  const o: LongContextOptions = {
    mitigation: m,
    trainLength: num(v["train-length"], "train-length", true),
    window: num(v.window, "window", true),
    gamma: num(v.gamma, "gamma"),
    insert: num(v.insert, "insert"),
    normFactor: num(v["norm-factor"], "norm-factor"),
    normBound: num(v["norm-bound"], "norm-bound"),
    start: num(v.start, "start", true),
    probeEvery: num(v["probe-every"], "probe-every", true),
  };
  for (const k of Object.keys(o) as (keyof LongContextOptions)[]) if (o[k] === undefined) delete o[k];
  return o;
}

/** "\\n" and "\\t" typed on a command line become a newline and a tab. */
function unescape(s: string | undefined): string | undefined {
  return s?.replace(/\\n/g, "\n").replace(/\\t/g, "\t");
}

export async function read(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    ask: { type: "string", multiple: true },
    jrt: { type: "string", default: "1" },
    layout: { type: "string", default: "cached" },
    "answer-prefix": { type: "string" },
    "question-separator": { type: "string" },
    "copy-separator": { type: "string" },
    "max-tokens": { type: "string", default: "48" },
    "snapshot-out": { type: "string" },
    "snapshot-every": { type: "string", default: "65536" },
    resume: { type: "string" },
    progress: { type: "string", default: "auto" },
    json: { type: "boolean", default: false },
    ...mitigationFlags,
  });
  if (positionals.length !== 1) throw new OptionError("give exactly one document: a file path, or - for stdin", "<file|->");
  const file = positionals[0];
  const jrt = num(values.jrt, "jrt", true)!;
  if (jrt < 1) throw new OptionError(`expected a positive integer, got ${jrt}`, "--jrt");
  const layout = values.layout;
  if (layout !== "cached" && layout !== "question-first") throw new OptionError(`expected cached or question-first, got "${layout}"`, "--layout");
  const progressMode = values.progress as ProgressMode;
  if (!["auto", "bar", "lines", "none"].includes(progressMode)) throw new OptionError(`expected auto, bar, lines or none, got "${progressMode}"`, "--progress");
  const snapshotEvery = num(values["snapshot-every"], "snapshot-every", true)!;
  if (snapshotEvery < 1) throw new OptionError(`expected a positive integer, got ${snapshotEvery}`, "--snapshot-every");
  const maxTokens = num(values["max-tokens"], "max-tokens", true);
  const questions = values.ask ?? [];
  const rereads = questions.length > 0 && (jrt > 1 || layout === "question-first");
  if (file === "-" && rereads)
    throw new NotReReadableError(Math.max(jrt, 2), "stdin (-) is read once: save the document to a file and pass its path");
  let source: ReadSource;
  if (file === "-") {
    process.stdin.setEncoding("utf8");
    source = process.stdin;
  } else {
    try {
      if (!fs.statSync(file).isFile()) throw new Error("not a regular file");
    } catch (e) {
      throw new OptionError(`cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, "<file>");
    }
    source = fromFile(file);
  }
  const explicitMitigation = values.mitigation !== undefined;
  const opts = mitigationOptions(values, "auto");
  // a snapshot is checked before the model is loaded when it cannot even be read
  const resumeBytes = values.resume !== undefined ? readSnapshotFile(values.resume) : null;

  const m = await open(values);
  const session = m.session(opts);
  const log = (line: string) => process.stderr.write(line + "\n");
  if (resumeBytes) {
    session.restore(resumeBytes, values.resume);
    const plan = session.mitigation;
    if (explicitMitigation && plan.requested !== opts.mitigation)
      throw new SnapshotError(`${values.resume}: taken with mitigation "${plan.requested}" (${describePlan(plan)}); drop --mitigation or pass --mitigation ${plan.requested}`);
    if (!session.readCursor) throw new SnapshotError(`${values.resume}: holds no read position (it was not written by scanstream read)`);
  }
  log(`[scanstream] ${m.config.family} from ${m.dir} on ${m.backend.detail}; mitigation ${describePlan(session.mitigation)}; training length ${session.mitigation.trainLength} (${session.mitigation.trainLengthFrom})`);

  const ac = new AbortController();
  const onSigint = () => ac.abort();
  process.once("SIGINT", onSigint);
  const view = createProgress(progressMode);
  let sinceSnapshot = 0;
  let lastTokens = 0;
  const saveSnapshot = () => {
    if (!values["snapshot-out"]) return;
    writeSnapshotFile(values["snapshot-out"], session.snapshot());
    sinceSnapshot = 0;
  };
  const onProgress = (p: ReadProgress) => {
    view.update(p);
    for (const w of p.warnings) view.log(`[scanstream] warning: ${w.message}`);
    if (p.copy === 1) {
      sinceSnapshot += p.tokens - lastTokens;
      lastTokens = p.tokens;
      if (sinceSnapshot >= snapshotEvery) saveSnapshot();
    }
  };
  const t0 = performance.now();
  const startPosition = session.position;
  try {
    if (session.readCursor?.done) log(`[scanstream] ${values.resume}: the read had finished; checking the document and answering from its state`);
    await session.read(source, { signal: ac.signal, onProgress, resume: resumeBytes !== null });
  } catch (e) {
    view.stop();
    process.removeListener("SIGINT", onSigint);
    if (e instanceof AbortError) {
      saveSnapshot();
      log(`[scanstream] interrupted at position ${session.position}` +
        (values["snapshot-out"] ? `; resume with --resume ${values["snapshot-out"]}` : " (no --snapshot-out: nothing saved)"));
      return 130;
    }
    throw e;
  }
  view.stop();
  saveSnapshot();
  const seconds = (performance.now() - t0) / 1000;
  const tokens = session.position - startPosition;
  const stats = session.stats();
  log(`[scanstream] read ${tokens} tokens in ${formatSeconds(seconds)} (${(tokens / Math.max(seconds, 1e-9)).toFixed(0)} tokens/s), position ${session.position}; ` +
    `largest state-norm ratio ${stats.maxRatio.toFixed(2)}${stats.warnings.length ? `, ${stats.warnings.length} collapse warning(s)` : ""}` +
    (values["snapshot-out"] ? `; snapshot ${values["snapshot-out"]}` : ""));

  const answers: { question: string; answer: string; promptTokens: number; seconds: number }[] = [];
  for (const question of questions) {
    const qa0 = performance.now();
    const askView = createProgress(progressMode);
    const a = await session.ask(question, {
      jrt, layout, answerPrefix: values["answer-prefix"], maxTokens, signal: ac.signal,
      questionSeparator: unescape(values["question-separator"]), copySeparator: unescape(values["copy-separator"]),
      onProgress: (p) => askView.update(p),
    }).finally(() => askView.stop());
    const secs = (performance.now() - qa0) / 1000;
    answers.push({ question, answer: a.text, promptTokens: a.promptTokens, seconds: secs });
    if (!values.json) process.stdout.write(`${a.text.trim()}\n`);
  }
  process.removeListener("SIGINT", onSigint);
  if (values.json)
    process.stdout.write(JSON.stringify({
      model: m.dir, backend: m.backend.detail, document: file, position: session.position, tokens, seconds,
      tokensPerSecond: tokens / Math.max(seconds, 1e-9), mitigation: stats.mitigation, plan: stats.plan,
      stats: { maxRatio: stats.maxRatio, layers: stats.layers }, warnings: stats.warnings.map((w) => w.message),
      jrt, layout, answers,
    }, null, 2) + "\n");
  return 0;
}
