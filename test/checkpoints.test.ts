// The shipped checkpoints load through the normal loader and reproduce what their model cards report
// (numbers the PyTorch training scripts measured, stored in each folder's training.json).
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { load, type LoadedModel } from "../core/index.ts";
import { evalPasskey, evalRecall, passkeyPrompt, recallExample, RECALL_TASK } from "../core/stream/eval.ts";

const CKPT = path.resolve("checkpoints");
const training = (name: string) => JSON.parse(fs.readFileSync(path.join(CKPT, name, "training.json"), "utf8"));

async function greedy(m: LoadedModel, prompt: string, n: number): Promise<number[]> {
  const ids: number[] = [];
  for await (const p of m.session().generate(prompt, { maxTokens: n, temperature: 0, stopAtEos: false })) if (p.token >= 0) ids.push(p.token);
  return ids;
}

test("mamba2-text: greedy continuations equal PyTorch's (first 40 bytes of each sample)", async () => {
  const m = await load(path.join(CKPT, "mamba2-text"), { backend: "cpu" });
  assert.is(m.config.family, "mamba2");
  for (const s of training("mamba2-text").samples.slice(0, 2)) {
    assert.equal(m.tokenizer.encode(s.prompt), s.prompt_ids);
    assert.equal(await greedy(m, s.prompt, 40), s.greedy_ids.slice(0, 40), `prompt ${JSON.stringify(s.prompt)}`);
  }
});

test("mamba2-passkey: retrieves the key within its training length, fails far beyond it", async () => {
  const m = await load(path.join(CKPT, "mamba2-passkey"), { backend: "cpu" });
  const t = training("mamba2-passkey");
  for (const ex of t.examples) {
    const { prompt, answer } = passkeyPrompt(ex.length, ex.depth, ex.key);
    assert.is(prompt.length, ex.prompt_bytes);
    assert.is(m.tokenizer.decode(await greedy(m, prompt, 6)), ex.greedy_6);
    assert.is(answer, " " + ex.key);
  }
  // the card's table: 0% at 4096 bytes, depth 0 (needle first): collapse past the training length
  assert.is(t.accuracy_by_length_depth["4096"]["0.0"], 0);
  const { prompt, answer } = passkeyPrompt(4096, 0, "54321");
  assert.is.not(m.tokenizer.decode(await greedy(m, prompt, 6)), answer);
});

test("mamba2-passkey-cpu (the 2-core recipe): its examples, and the card's collapse cells through scanstream", async () => {
  const dir = path.join(CKPT, "mamba2-passkey-cpu");
  const m = await load(dir, { backend: "wasm" });
  try {
    for (const ex of training("mamba2-passkey-cpu").examples) {
      const { prompt } = passkeyPrompt(ex.length, ex.depth, ex.key);
      assert.is(m.tokenizer.decode(await greedy(m, prompt, 6)), ex.greedy_6, `length ${ex.length}`);
    }
    // the card's second table, rows 4K and 16K (same lengths, so the same keys): correct of 8 per
    // distance 0 / 256 / 462; without mitigation a needle near the question is lost at 16K, auto finds it
    const cells = await evalPasskey({
      session: (o) => m.session(o), mitigations: [{ name: "none", options: { mitigation: "none" } }, { name: "auto", options: { mitigation: "auto" } }],
      allowed: 256, encode: (x) => m.tokenizer.encode(x), lengths: [4096, 16384], depths: [], distances: [0, 256, 462], trials: 8, seed: 0, jrt: 1,
    });
    const got = (mit: string, L: number) => cells.filter((c) => c.mitigation === mit && c.length === L).map((c) => c.correct);
    assert.equal(got("none", 4096), [7, 7, 7]);
    assert.equal(got("none", 16384), [4, 4, 3]);
    assert.equal(got("auto", 16384), [8, 8, 8]);
  } finally {
    m.dispose();
  }
});

// The recall pair (task recall-v2): fixed teacher-forced answers and the logits at one position equal
// PyTorch's (training.json), and scanstream's correct values per evaluation example (8 and 16 pairs, once and
// twice, the first RECALL_TRIALS examples) equal PyTorch's up to RECALL_MARGIN values per cell (float32 may
// flip an argmax near a tie). The cards' tables come from `scanstream eval recall` with 300 / 100 trials.
const RECALL_TRIALS = 8;
const RECALL_MARGIN = 1;
for (const name of ["mamba2-recall", "mom-recall"]) {
  test(`${name}: fixed answers, probe logits and per-example recall (once, twice) equal PyTorch's`, async () => {
    const m = await load(path.join(CKPT, name), { backend: "cpu" });
    assert.is(m.config.family, name === "mom-recall" ? "mom" : "mamba2");
    const t = training(name);
    assert.is(t.task, RECALL_TASK);
    const probe = m.model.forward(m.tokenizer.encode(t.logits_probe.text), m.model.newState(), "last")!;
    let diff = 0;
    for (let i = 0; i < 256; i++) diff = Math.max(diff, Math.abs(probe[i] - t.logits_probe.last_logits[i]));
    assert.ok(diff < 2e-3, `probe logits differ by ${diff}`);
    for (const f of t.fixed_answers) {
      const ex = recallExample(f.pairs, Math.min(t.eval_asked, f.pairs), f.example);
      const s = m.session();
      await s.feedIds(m.tokenizer.encode(ex.context.repeat(f.jrt)));
      let got = "";
      for (const [i, item] of ex.answers.trimEnd().split(" ").entries()) {
        const [k, v] = item.split("=");
        await s.feedIds(m.tokenizer.encode((i > 0 ? " " : "") + k + "="));
        const logits = s.lastLogits()!;
        let best = 0;
        for (let j = 1; j < 256; j++) if (logits[j] > logits[best]) best = j;
        got += String.fromCharCode(best);
        await s.feedIds(m.tokenizer.encode(v));
      }
      assert.is(got, f.predicted, `${f.pairs} pairs, example ${f.example}, jrt ${f.jrt} (expected values ${f.expected})`);
    }
    for (const pairs of [8, 16])
      for (const jrt of [1, 2]) {
        const counts: number[] = [];
        await evalRecall({
          session: (o) => m.session(o), mitigations: [{ name: "none", options: {} }], allowed: 256,
          encode: (x) => m.tokenizer.encode(x), pairs: [pairs], asked: t.eval_asked, trials: RECALL_TRIALS, seed: 0, jrt,
          onTrial: (r) => void counts.push(r.correct),
        });
        const py: number[] = t.per_example_correct[String(pairs)][jrt === 1 ? "once" : "twice"].slice(0, RECALL_TRIALS);
        const off = counts.reduce((a, c, i) => a + Math.abs(c - py[i]), 0);
        assert.ok(off <= RECALL_MARGIN, `${pairs} pairs, jrt ${jrt}: scanstream ${counts}, PyTorch ${py}`);
      }
  });
}

test.run();
