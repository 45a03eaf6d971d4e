// Long-context evaluations run through Sessions (so every mitigation and backend is what a user
// gets): passkey retrieval, multi-query associative recall with and without JRT, and loss by position.
//
// The task texts are those the shipped models were trained on (checkpoints/train/passkey_task.py and
// recall_task.py, copied into the model cards checkpoints/mamba2-passkey/README.md,
// checkpoints/mamba2-recall/README.md and checkpoints/mom-recall/README.md); byte-level, one byte = one token.
import { OptionError } from "../errors.ts";
import type { LongContextOptions } from "../models/long-context.ts";
import type { Session, SessionOptions } from "./session.ts";

/** Opens a new session on the model under evaluation. */
export type SessionFactory = (opts: SessionOptions) => Session;

// ---- passkey (checkpoints/train/passkey_task.py) ----

export const PASSKEY_FILLER = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. ";
export const PASSKEY_NEEDLE = (key: string) => `The pass key is ${key}. Remember it. ${key} is the pass key. `;
export const PASSKEY_QUESTION = "What is the pass key? The pass key is";
const NEEDLE_LEN = PASSKEY_NEEDLE("00000").length;

/** Python's round(): halves to the even integer (the task generator uses it). */
export function pyRound(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** Fillers in a prompt of nominal length L (bytes), and how many precede the needle at depth d. */
export function passkeyLayout(length: number, depth: number): { n: number; before: number } {
  const n = Math.max(0, pyRound((length - NEEDLE_LEN - PASSKEY_QUESTION.length) / PASSKEY_FILLER.length));
  return { n, before: pyRound(depth * n) };
}

/**
 * The layout with the needle `distance` tokens before the question instead (fillers after the needle =
 * round(distance / filler length), at most n): "how far back" retrieval works at a given length.
 */
export function passkeyLayoutAtDistance(length: number, distance: number): { n: number; before: number } {
  const { n } = passkeyLayout(length, 0);
  return { n, before: n - Math.min(n, pyRound(distance / PASSKEY_FILLER.length)) };
}

/** The exact prompt and answer of the model card (for tests and small lengths; eval streams it). */
export function passkeyPrompt(length: number, depth: number, key: string): { prompt: string; answer: string } {
  const { n, before } = passkeyLayout(length, depth);
  return { prompt: PASSKEY_FILLER.repeat(before) + PASSKEY_NEEDLE(key) + PASSKEY_FILLER.repeat(n - before) + PASSKEY_QUESTION, answer: " " + key };
}

/** The model card's evaluation keys: key(i) = 10000 + (i·7919 + 12345) mod 90000. */
export function passkeyKey(i: number): string {
  return String(10000 + Number((BigInt(i) * 7919n + 12345n) % 90000n));
}

// ---- recall (checkpoints/train/recall_task.py, task "recall-v2") ----

const M31 = 2 ** 31;

/** The model card's LCG: s <- (1103515245·s + 12345) mod 2^31. */
export function lcg(seed: number): () => number {
  let s = BigInt(((seed % M31) + M31) % M31);
  return () => {
    s = (1103515245n * s + 12345n) % BigInt(M31);
    return Number(s);
  };
}

/** Name of the recall task the generator writes (recall_task.py TASK). */
export const RECALL_TASK = "recall-v2";
/** Keys are single lowercase letters, values single digits. */
export const RECALL_KEYS = 26;
export const RECALL_VALUES = 10;

export interface RecallExample {
  pairs: [string, string][];
  asked: string[];
  context: string;
  answers: string;
}

/**
 * example(n_pairs, n_asked, i) of recall_task.py: the LCG seeded with 1000003·(i+1) + 7919·n_pairs,
 * each draw d = s >> 16 (its high 15 bits); keys: d mod 26 → letter, skipping used ones; values: d mod 10
 * per key; asked: Fisher–Yates (j = n−1..1, swap j with d mod (j+1)), the first n_asked.
 * Template: context = "k=v k=v …\nask: k k …\n", answers = "k=v k=v …\n" (asked order).
 */
export function recallExample(nPairs: number, nAsked: number, i: number): RecallExample {
  if (!(nAsked >= 1 && nAsked <= nPairs && nPairs <= RECALL_KEYS))
    throw new OptionError(`recall (${RECALL_TASK}: one-letter keys) needs 1 <= asked <= pairs <= ${RECALL_KEYS}, got ${nAsked} of ${nPairs}`, "--pairs");
  const next = lcg(1000003 * (i + 1) + 7919 * nPairs);
  const draw = () => next() >>> 16;
  const keys: string[] = [];
  const used = new Set<number>();
  while (keys.length < nPairs) {
    const r = draw() % RECALL_KEYS;
    if (used.has(r)) continue;
    used.add(r);
    keys.push(String.fromCharCode(97 + r));
  }
  const values = keys.map(() => String(draw() % RECALL_VALUES));
  const order = keys.map((_, j) => j);
  for (let j = nPairs - 1; j > 0; j--) {
    const r = draw() % (j + 1);
    [order[j], order[r]] = [order[r], order[j]];
  }
  const pairs = keys.map((k, j) => [k, values[j]] as [string, string]);
  const asked = order.slice(0, nAsked).map((j) => keys[j]);
  const value = new Map(pairs);
  const context = pairs.map(([k, v]) => `${k}=${v}`).join(" ") + "\nask: " + asked.join(" ") + "\n";
  const answers = asked.map((k) => `${k}=${value.get(k)}`).join(" ") + "\n";
  return { pairs, asked, context, answers };
}

// ---- scoring helpers ----

function argmax(logits: Float32Array, allowed: number): number {
  let best = 0;
  for (let i = 1; i < allowed; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/** Greedy exact match with teacher forcing: argmax at every answer position is the next answer token. */
async function teacherForced(s: Session, answerIds: number[], allowed: number): Promise<boolean> {
  let ok = true;
  for (const id of answerIds) {
    if (argmax(s.lastLogits()!, allowed) !== id) ok = false;
    if (!ok) break;
    await s.feedIds([id]);
  }
  return ok;
}

export interface EvalCommon {
  session: SessionFactory;
  /** Mitigation options (one entry per configuration to compare); `resetEvery`: position-loss reference. */
  mitigations: { name: string; options: LongContextOptions; resetEvery?: number }[];
  signal?: AbortSignal;
  /** Called after each trial (for progress lines). */
  onTrial?: (r: TrialRecord) => void;
  /** Called with the session right before the answer is scored (tests compare it with a direct feed). */
  inspect?: (s: Session, trial: { key?: string; length?: number; depth?: number; jrt: number; example?: RecallExample }) => void | Promise<void>;
  /** Vocabulary rows a prediction may take (the tokenizer's vocabulary). */
  allowed: number;
  encode: (text: string) => number[];
}

export interface TrialRecord {
  task: string;
  mitigation: string;
  length?: number;
  depth?: number;
  pairs?: number;
  jrt: number;
  correct: number;
  total: number;
  tokens: number;
  seconds: number;
  /** Seconds spent feeding the prompt (the prefill), without scoring the answer. */
  prefillSeconds: number;
}

export interface CellResult {
  mitigation: string;
  jrt: number;
  length?: number;
  depth?: number;
  /** Passkey with --distances: the needle's distance (tokens) before the question. */
  distance?: number;
  pairs?: number;
  /** Mean prompt tokens of the trials. */
  tokens: number;
  trials: number;
  correct: number;
  total: number;
  accuracy: number;
  seconds: number;
  prefillSeconds: number;
}

/**
 * Passkey retrieval: for every mitigation, length, depth and trial a key drawn from `seed`, the model
 * card's prompt with the context (fillers + needle) shown `jrt` times, then the question; correct if the
 * greedy answer is " " + key. The filler prefix before the needle is shared between trials (a fork of
 * one stream of fillers), which is exact: the state only depends on the tokens.
 */
export async function evalPasskey(o: EvalCommon & {
  lengths: number[]; depths: number[]; trials: number; seed: number; jrt: number;
  /** Instead of depths: needle this many tokens before the question (rounded to whole fillers). */
  distances?: number[];
}): Promise<CellResult[]> {
  const where: { depth?: number; distance?: number }[] = o.distances?.length ? o.distances.map((x) => ({ distance: x })) : o.depths.map((d) => ({ depth: d }));
  const layout = (L: number, w: { depth?: number; distance?: number }) =>
    w.distance !== undefined ? passkeyLayoutAtDistance(L, w.distance) : passkeyLayout(L, w.depth!);
  const out: CellResult[] = [];
  const filler = o.encode(PASSKEY_FILLER);
  const question = o.encode(PASSKEY_QUESTION);
  for (const mit of o.mitigations) {
    // one stream of fillers, forked at every prefix length a cell needs
    const needs = new Set<number>();
    for (const L of o.lengths) for (const w of where) needs.add(layout(L, w).before);
    const base = o.session(mit.options);
    const forks = new Map<number, Session>();
    let k = 0;
    for (const want of [...needs].sort((a, b) => a - b)) {
      while (k < want) {
        const step = Math.min(want - k, 256);
        await base.feedIds(repeat(filler, step), { signal: o.signal });
        k += step;
      }
      forks.set(want, base.fork());
    }
    let counter = 0;
    for (const L of o.lengths)
      for (const w of where) {
        const { n, before } = layout(L, w);
        const d = w.depth ?? (n ? before / n : 1);
        const cell: CellResult = { mitigation: mit.name, jrt: o.jrt, length: L, depth: d, ...(w.distance !== undefined ? { distance: w.distance } : {}), tokens: 0, trials: o.trials, correct: 0, total: o.trials, accuracy: 0, seconds: 0, prefillSeconds: 0 };
        for (let t = 0; t < o.trials; t++) {
          const t0 = performance.now();
          const key = passkeyKey(o.seed * 1_000_000 + counter++);
          const s = forks.get(before)!.fork();
          const needle = o.encode(PASSKEY_NEEDLE(key));
          // copy 1 continues after the shared fillers; copies 2..jrt are whole contexts
          await feedContext(s, filler, 0, needle, n - before, o.signal);
          for (let c = 1; c < o.jrt; c++) await feedContext(s, filler, before, needle, n - before, o.signal);
          await s.feedIds(question, { signal: o.signal });
          const prefill = (performance.now() - t0) / 1000;
          await o.inspect?.(s, { key, length: L, depth: d, jrt: o.jrt });
          const tokens = s.position;
          const ok = await teacherForced(s, o.encode(" " + key), o.allowed);
          const seconds = (performance.now() - t0) / 1000;
          cell.correct += ok ? 1 : 0;
          cell.tokens += tokens / o.trials;
          cell.seconds += seconds;
          cell.prefillSeconds += prefill;
          o.onTrial?.({ task: "passkey", mitigation: mit.name, length: L, depth: d, jrt: o.jrt, correct: ok ? 1 : 0, total: 1, tokens, seconds, prefillSeconds: prefill });
        }
        cell.accuracy = cell.correct / cell.total;
        out.push(cell);
      }
  }
  return out;
}

function repeat(ids: number[], times: number): number[] {
  const out = new Array<number>(ids.length * times);
  for (let i = 0; i < times; i++) for (let j = 0; j < ids.length; j++) out[i * ids.length + j] = ids[j];
  return out;
}

/** Feeds FILLER x before + needle + FILLER x after, in blocks of at most 256 fillers. */
async function feedContext(s: Session, filler: number[], before: number, needle: number[], after: number, signal?: AbortSignal): Promise<void> {
  for (let k = 0; k < before; k += 256) await s.feedIds(repeat(filler, Math.min(256, before - k)), { signal });
  await s.feedIds(needle, { signal });
  for (let k = 0; k < after; k += 256) await s.feedIds(repeat(filler, Math.min(256, after - k)), { signal });
}

/**
 * Multi-query associative recall: the model card's examples (pairs, "ask:" list) with the context
 * shown `jrt` times (context repeated with nothing between: it ends with "\n"), then the answers with
 * teacher forcing; a value counts if every byte of it is the argmax. Accuracy is over values.
 */
export async function evalRecall(o: EvalCommon & { pairs: number[]; asked: number; trials: number; seed: number; jrt: number }): Promise<CellResult[]> {
  const out: CellResult[] = [];
  // one untimed example first, so that the first cell does not pay for compilation and warm-up
  await o.session(o.mitigations[0]?.options ?? {}).feedIds(o.encode(recallExample(o.pairs[0], Math.min(o.asked, o.pairs[0]), 999_999).context.repeat(o.jrt)));
  for (const mit of o.mitigations)
    for (const nPairs of o.pairs) {
      const cell: CellResult = { mitigation: mit.name, jrt: o.jrt, pairs: nPairs, tokens: 0, trials: o.trials, correct: 0, total: 0, accuracy: 0, seconds: 0, prefillSeconds: 0 };
      for (let t = 0; t < o.trials; t++) {
        const t0 = performance.now();
        const ex = recallExample(nPairs, Math.min(o.asked, nPairs), o.seed * 100_000 + t);
        const s = o.session(mit.options);
        await s.feedIds(o.encode(ex.context.repeat(o.jrt)), { signal: o.signal });
        const prefill = (performance.now() - t0) / 1000;
        await o.inspect?.(s, { jrt: o.jrt, example: ex });
        const tokens = s.position;
        let correct = 0;
        const items = ex.answers.trimEnd().split(" ");
        for (let i = 0; i < items.length; i++) {
          const [k, v] = items[i].split("=");
          await s.feedIds(o.encode((i > 0 ? " " : "") + k + "="), { signal: o.signal });
          // every byte of the value must be the argmax (teacher forcing: the true byte is fed)
          let ok = true;
          for (const id of o.encode(v)) {
            if (argmax(s.lastLogits()!, o.allowed) !== id) ok = false;
            await s.feedIds([id]);
          }
          if (ok) correct++;
        }
        const seconds = (performance.now() - t0) / 1000;
        cell.correct += correct;
        cell.total += items.length;
        cell.tokens += tokens / o.trials;
        cell.seconds += seconds;
        cell.prefillSeconds += prefill;
        o.onTrial?.({ task: "recall", mitigation: mit.name, pairs: nPairs, jrt: o.jrt, correct, total: items.length, tokens, seconds, prefillSeconds: prefill });
      }
      cell.accuracy = cell.correct / cell.total;
      out.push(cell);
    }
  return out;
}

export interface LossBucket {
  mitigation: string;
  /** Positions [from, to) of the predicted tokens. */
  from: number;
  to: number;
  /** Mean negative log-likelihood (nats per token). */
  loss: number;
  count: number;
}

/**
 * Loss by position: the text's tokens fed through a session, the loss of each token given those
 * before it, averaged over buckets [0, b), [b, 2b), [2b, 4b), ... (doubling from `bucket`).
 * A configuration with `resetEvery: T` is the reference "within the training length": its session is
 * reset every T tokens, so each token is predicted from at most T tokens of the same text (the first
 * token after a reset from the logits before it). Only the current block's logits are held; memory
 * does not grow with the length.
 */
export async function evalPositionLoss(o: EvalCommon & { text: () => AsyncIterable<string>; length: number; bucket: number }): Promise<LossBucket[]> {
  const out: LossBucket[] = [];
  const edges = [0];
  for (let e = o.bucket; edges[edges.length - 1] < o.length; e *= 2) edges.push(Math.min(e, o.length));
  for (const mit of o.mitigations) {
    const s = o.session(mit.options);
    const sums = new Float64Array(edges.length - 1);
    const counts = new Float64Array(edges.length - 1);
    let prev: Float32Array | null = null; // logits that predict the next token
    let b = 0;
    const add = (logits: Float32Array, off: number, id: number, pos: number) => {
      let max = -Infinity;
      for (let i = 0; i < o.allowed; i++) max = Math.max(max, logits[off + i]);
      let z = 0;
      for (let i = 0; i < o.allowed; i++) z += Math.exp(logits[off + i] - max);
      while (pos >= edges[b + 1]) b++;
      sums[b] += Math.log(z) + max - logits[off + id];
      counts[b]++;
    };
    const feedSegment = async (ids: number[], startPos: number) => {
      await s.feedIds(ids, {
        signal: o.signal,
        onLogits: (logits, from, count) => {
          const rows = logits.length / count;
          for (let j = 0; j < count; j++) {
            const t = from + j; // logits of ids[t] predict ids[t + 1]
            if (t === 0 && prev) add(prev, 0, ids[0], startPos);
            if (t + 1 < ids.length) add(logits, j * rows, ids[t + 1], startPos + t + 1);
          }
          prev = logits.slice((count - 1) * rows, count * rows);
        },
      });
    };
    let pos = 0; // position of the next token
    for await (const text of o.text()) {
      let ids = o.encode(text);
      if (pos + ids.length > o.length) ids = ids.slice(0, o.length - pos);
      let i = 0;
      while (i < ids.length) {
        let j = ids.length;
        if (mit.resetEvery) {
          if (pos > 0 && pos % mit.resetEvery === 0) s.reset();
          j = Math.min(j, i + mit.resetEvery - (pos % mit.resetEvery));
        }
        await feedSegment(ids.slice(i, j), pos);
        pos += j - i;
        i = j;
      }
      if (pos >= o.length) break;
    }
    for (let i = 0; i + 1 < edges.length; i++)
      if (counts[i] > 0) out.push({ mitigation: mit.name, from: edges[i], to: edges[i + 1], loss: sums[i] / counts[i], count: counts[i] });
  }
  return out;
}
