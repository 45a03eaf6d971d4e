// The shipped checkpoints load through the normal loader and reproduce what their model cards report
// (numbers the PyTorch training scripts measured, stored in each folder's training.json).
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { load, type LoadedModel } from "../core/index.ts";
import { evalRecall, passkeyPrompt } from "../core/stream/eval.ts";

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

test("mamba2-recall: single-pass accuracy at 8 pairs equals the card's (24 examples, 192 answers)", async () => {
  const m = await load(path.join(CKPT, "mamba2-recall"), { backend: "cpu" });
  const [cell] = await evalRecall({
    session: (o) => m.session(o),
    mitigations: [{ name: "none", options: {} }],
    allowed: 256,
    encode: (s) => m.tokenizer.encode(s),
    pairs: [8], asked: 8, trials: 24, seed: 0, jrt: 1,
  });
  const reported = training("mamba2-recall").accuracy_by_pairs["8"].once;
  // float32 runtimes may flip an argmax near a tie: allow 2 of 192 answers
  assert.ok(Math.abs(cell.accuracy - reported) <= 2 / 192 + 1e-9, `scanstream ${cell.accuracy}, card ${reported}`);
});

test.run();
