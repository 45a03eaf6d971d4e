// Session features on a MoM model (a random byte-level MoM LM): feed == one forward, generate is
// reproducible by seed, snapshot / restore and fork resume exactly, read + ask run; mitigations refused.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { byteTokenizer } from "../core/formats/tokenizer.ts";
import { buildModel } from "../core/models/index.ts";
import { momConfig, randomMomWeights } from "../core/models/mom-random.ts";
import { Session } from "../core/stream/session.ts";
import { createCpuBackend } from "../kernels/cpu/index.ts";
import { scaledMaxDiff } from "./helpers/random-model.ts";

const config = momConfig({ d_model: 16, n_layer: 2, num_heads: 2, head_dim: 4, num_memories: 3, topk: 2, vocab_size: 256, intermediate_size: 24, chunk_size: 8 });
const model = buildModel(config, randomMomWeights(config, 9), createCpuBackend());
const session = () => new Session({ model, tokenizer: byteTokenizer(), modelHash: () => "mom-tiny" });
const TEXT = "The red fox jumps over the lazy dog. ".repeat(4);

async function gen(s: Session, prompt: string, seed: number): Promise<number[]> {
  const out: number[] = [];
  for await (const p of s.generate(prompt, { maxTokens: 12, seed })) out.push(p.token);
  return out;
}

test("feed(text) gives the logits of one forward over its bytes", async () => {
  const s = session();
  await s.feed(TEXT);
  const ids = byteTokenizer().encode(TEXT);
  const want = model.forward(ids, model.newState(), "last")!;
  assert.ok(scaledMaxDiff(want, s.lastLogits()!) <= 1e-4);
});

test("generate is reproducible; snapshot / restore and fork continue exactly", async () => {
  const a = session();
  await a.feed(TEXT);
  const snap = a.snapshot();
  const f = a.fork();
  const g1 = await gen(a, " and", 1);
  const b = session();
  b.restore(snap);
  assert.equal(await gen(b, " and", 1), g1);
  assert.equal(await gen(f, " and", 1), g1);
  assert.is(g1.length, 12);
});

test("read + ask run on a MoM model", async () => {
  const s = session();
  await s.read(TEXT);
  const ans = await s.ask("What jumps?", { maxTokens: 5, jrt: 2 });
  assert.type(ans, "object");
});

test("explicit long-context mitigations are refused, not silently ignored; auto runs as none", async () => {
  const auto = new Session({ model, tokenizer: byteTokenizer(), modelHash: () => "mom-tiny" }, { mitigation: "auto" });
  await auto.feed(TEXT);
  const plain = session();
  await plain.feed(TEXT);
  assert.equal(auto.lastLogits(), plain.lastLogits());
  const s = new Session({ model, tokenizer: byteTokenizer(), modelHash: () => "mom-tiny" }, { mitigation: "window" });
  await s.feed("abc").then(
    () => assert.unreachable("mitigation accepted"),
    (e) => assert.match(String(e.message), "MoM models run with mitigation"),
  );
});

test.run();
