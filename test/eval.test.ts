// The evaluation tasks (core/stream/eval.ts): the generators reproduce the model cards' templates
// byte for byte (expected values produced by checkpoints/train/passkey_task.py and recall_task.py),
// the passkey eval's shared filler prefix is exact, and the position-loss buckets add up.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Session } from "../core/stream/session.ts";
import {
  evalPasskey, evalPositionLoss, evalRecall, passkeyKey, passkeyLayout, passkeyLayoutAtDistance, passkeyPrompt, pyRound, recallExample,
  PASSKEY_QUESTION, type EvalCommon,
} from "../core/stream/eval.ts";
import { parseLength } from "../core/cli/eval.ts";
import { byteTokenizer } from "../core/formats/tokenizer.ts";
import { buildModel } from "../core/models/index.ts";
import { createCpuBackend } from "../kernels/cpu/index.ts";
import { mamba2Config, randomWeights, scaledMaxDiff } from "./helpers/random-model.ts";

test("passkey generator == passkey_task.py (keys, filler counts with Python rounding, the prompt)", () => {
  assert.equal([0, 1, 2, 999, 123456].map(passkeyKey), ["22345", "30264", "38183", "13426", "90409"]);
  // [L, depth, n_fillers, k_before] from passkey_task.py
  const py: [number, number, number, number][] = [
    [96, 0.5, 0, 0], [256, 0.5, 2, 1], [256, 0.75, 2, 2], [462, 0.25, 4, 1], [512, 0.75, 5, 4], [1000, 0.75, 10, 8],
    [4096, 0.25, 44, 11], [1048576, 0.25, 11650, 2912], [1048576, 0.75, 11650, 8738], [1048576, 1, 11650, 11650],
  ];
  for (const [L, d, n, kb] of py) assert.equal(passkeyLayout(L, d), { n, before: kb }, `${L} ${d}`);
  assert.equal([0.5, 1.5, 2.5, 2.4999, 2.5001].map(pyRound), [0, 2, 2, 2, 3]);
  assert.equal([0, 900, 1 << 20].map((x) => passkeyLayoutAtDistance(4096, x)), [{ n: 44, before: 44 }, { n: 44, before: 34 }, { n: 44, before: 0 }]);
  const F = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. ";
  const { prompt, answer } = passkeyPrompt(512, 0.5, passkeyKey(0));
  assert.is(prompt, F + F + "The pass key is 22345. Remember it. 22345 is the pass key. " + F + F + F + "What is the pass key? The pass key is");
  assert.is(answer, " 22345");
});

test("recall generator == recall_task.py (recall-v2: LCG high bits, one-letter keys, one-digit values, asked order)", () => {
  const a = recallExample(8, 4, 0);
  assert.is(a.context, "h=4 s=9 b=4 e=5 v=8 d=5 c=6 g=5\nask: g s c v\n");
  assert.is(a.answers, "g=5 s=9 c=6 v=8\n");
  assert.equal(a.pairs.slice(0, 2), [["h", "4"], ["s", "9"]]);
  assert.equal(a.asked, ["g", "s", "c", "v"]);
  const b = recallExample(16, 4, 5);
  assert.is(b.context, "h=6 w=3 c=3 m=6 p=9 i=4 f=7 v=4 j=1 s=9 u=3 k=1 l=8 y=2 x=4 q=3\nask: s x f m\n");
  assert.is(b.answers, "s=9 x=4 f=7 m=6\n");
  assert.is(recallExample(20, 4, 23).answers, "d=8 w=6 z=0 s=3\n");
  // all 26 letters, all asked (the key loop skips used letters until the alphabet is exhausted)
  const c = recallExample(26, 26, 3);
  assert.is(c.answers, "g=7 j=8 r=3 a=1 z=0 x=9 s=2 n=4 m=4 y=7 c=4 q=8 i=8 u=0 e=6 d=3 v=7 l=1 w=3 o=6 f=6 k=8 h=6 t=9 p=3 b=1\n");
  assert.is(recallExample(1, 1, 0).context + recallExample(1, 1, 0).answers, "d=1\nask: d\nd=1\n");
  for (const [n, k] of [[27, 4], [8, 9], [8, 0]])
    assert.throws(() => recallExample(n, k, 0), (e: Error) => e.name === "OptionError", `${k} of ${n}`);
});

test("lengths: 4K = 4096, 1M = 1048576", () => {
  assert.equal(["512", "4K", "1M", "2k"].map((s) => parseLength(s, "--lengths")), [512, 4096, 1048576, 2048]);
  assert.throws(() => parseLength("4G", "--lengths"), (e: Error) => e.name === "OptionError");
});

const config = mamba2Config({ d_model: 16, n_layer: 1, d_state: 4, headdim: 8, vocab_size: 256, chunk_size: 16 });
const model = buildModel(config, randomWeights(config, 3), createCpuBackend());
const tok = byteTokenizer();
const session = (o = {}) => new Session({ model, tokenizer: tok, modelHash: () => "t" }, o);
const common = (extra: Partial<EvalCommon> = {}): EvalCommon => ({
  session, allowed: 256, encode: (t) => tok.encode(t),
  mitigations: [{ name: "none", options: {} }, { name: "window", options: { mitigation: "window", window: 100 } }], ...extra,
});

test("passkey eval: the forked filler prefix gives the state of the full prompt; one cell per configuration", async () => {
  let checked = 0;
  const res = await evalPasskey({
    ...common({
      inspect: async (s, t) => {
        const { prompt } = passkeyPrompt(t.length!, t.depth!, t.key!);
        const context = prompt.slice(0, prompt.length - PASSKEY_QUESTION.length);
        const direct = session(s.mitigation.kind === "window" ? { mitigation: "window", window: 100 } : {});
        await direct.feed(context.repeat(t.jrt) + PASSKEY_QUESTION);
        assert.is(s.position, direct.position);
        assert.ok(scaledMaxDiff(s.lastLogits()!, direct.lastLogits()!) < 1e-5);
        checked++;
      },
    }),
    lengths: [300, 600], depths: [0, 0.5, 1], trials: 2, seed: 1, jrt: 2,
  });
  assert.is(checked, 2 * 2 * 3 * 2);
  assert.is(res.length, 2 * 2 * 3);
  assert.ok(res.every((r) => r.total === 2 && r.accuracy >= 0 && r.accuracy <= 1 && r.jrt === 2));
});

test("recall eval: the context shown jrt times, one score per asked value", async () => {
  const seen: string[] = [];
  const res = await evalRecall({
    ...common({ mitigations: [{ name: "none", options: {} }], inspect: (s, t) => void seen.push(`${t.jrt}:${s.position}:${t.example!.context.length}`) }),
    pairs: [4, 8], asked: 3, trials: 2, seed: 0, jrt: 2,
  });
  assert.equal(res.map((r) => r.total), [6, 6]);
  assert.ok(seen.every((x) => {
    const [j, pos, len] = x.split(":").map(Number);
    return pos === j * len;
  }));
});

test("position loss: doubling buckets cover every scored token once", async () => {
  const res = await evalPositionLoss({
    ...common(),
    text: async function* () {
      yield "abc ".repeat(100);
      yield "xyz ".repeat(100);
    },
    length: 700, bucket: 64,
  });
  const none = res.filter((r) => r.mitigation === "none");
  assert.equal(none.map((r) => [r.from, r.to]), [[0, 64], [64, 128], [128, 256], [256, 512], [512, 700]]);
  assert.is(none.reduce((s, r) => s + r.count, 0), 699); // the first token has no prediction
  assert.ok(res.every((r) => Number.isFinite(r.loss) && r.loss > 0));
});

test("position loss: the reset@T reference equals feeding each T-token chunk from a fresh state", async () => {
  const text = "abcdefgh ".repeat(30);
  const ids = tok.encode(text);
  const [ref] = await evalPositionLoss({
    ...common({ mitigations: [{ name: "reset@50", options: {}, resetEvery: 50 }] }),
    text: async function* () {
      yield text;
    },
    length: 120, bucket: 1024,
  });
  // by hand: tokens 1..49 from chunk 0, token 50 from chunk 0's last logits, 51..99 from chunk 1, ...
  let sum = 0;
  let prev: Float32Array | null = null;
  for (let c = 0; c < 120; c += 50) {
    const s = session();
    const chunk = ids.slice(c, Math.min(120, c + 50));
    await s.feedIds(chunk, {
      onLogits: (l, from, count) => {
        for (let j = 0; j < count; j++) {
          const t = from + j;
          if (t === 0 && prev) sum += nll(prev, 0, chunk[0]);
          if (t + 1 < chunk.length) sum += nll(l, j * 256, chunk[t + 1]);
        }
        prev = l.slice((count - 1) * 256, count * 256);
      },
    });
  }
  assert.is(ref.count, 119);
  assert.ok(Math.abs(ref.loss - sum / 119) < 1e-9);
});

function nll(l: Float32Array, off: number, id: number): number {
  let max = -Infinity;
  for (let i = 0; i < 256; i++) max = Math.max(max, l[off + i]);
  let z = 0;
  for (let i = 0; i < 256; i++) z += Math.exp(l[off + i] - max);
  return Math.log(z) + max - l[off + id];
}

test.run();
