// The Session API on a fixture model (byte-level): determinism, abort, fork, snapshot, feed splits,
// stop strings, and UTF-8 validity of streamed pieces.
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { load, OptionError, SnapshotError, type LoadedModel, type Piece } from "../core/index.ts";
import { rejects } from "./helpers/assert.ts";
import { GOLDEN, maxAbsDiff } from "./helpers/golden.ts";

const DIR = path.join(GOLDEN, "m2_ss_v256_g1_tied_f32");
let m: LoadedModel;
test.before(async () => {
  m = await load(DIR, { backend: "cpu" });
});

async function collect(it: AsyncIterable<Piece>): Promise<Piece[]> {
  const out: Piece[] = [];
  for await (const p of it) out.push(p);
  return out;
}
const text = (ps: Piece[]) => ps.map((p) => p.text).join("");

test("same seed, same output; another seed, another output", async () => {
  const a = await collect(m.session().generate("Once upon a time", { maxTokens: 24, seed: 7, temperature: 1 }));
  const b = await collect(m.session().generate("Once upon a time", { maxTokens: 24, seed: 7, temperature: 1 }));
  const c = await collect(m.session().generate("Once upon a time", { maxTokens: 24, seed: 8, temperature: 1 }));
  assert.equal(a.map((p) => p.token), b.map((p) => p.token));
  assert.not.equal(a.map((p) => p.token), c.map((p) => p.token));
  assert.ok(a.every((p) => p.logprob <= 0 && Number.isFinite(p.logprob)));
});

test("pieces are valid UTF-8 and concatenate to the decoded bytes", async () => {
  const ps = await collect(m.session().generate("héllo ", { maxTokens: 64, seed: 3, temperature: 1.5 }));
  const t = text(ps);
  assert.ok(!/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(t), "no lone surrogates");
  const ids = ps.filter((p) => p.token >= 0).map((p) => p.token);
  assert.is(t, m.tokenizer.decode(ids));
});

test("greedy generation equals argmax of the logits", async () => {
  const s = m.session();
  await s.feed("abc");
  const logits = s.lastLogits()!;
  const argmax = logits.indexOf(Math.max(...logits));
  const [p] = await collect(s.generate("", { maxTokens: 1, temperature: 0 }));
  assert.is(p.token, argmax);
});

test("feed split anywhere equals one feed", async () => {
  const doc = "The quick brown fox jumps over the lazy dog. ".repeat(6);
  const whole = m.session();
  await whole.feed(doc);
  for (const cut of [1, 17, 100, doc.length - 1]) {
    const s = m.session();
    await s.feed(doc.slice(0, cut));
    await s.feed(doc.slice(cut));
    assert.is(s.position, whole.position);
    assert.ok(maxAbsDiff(s.lastLogits()!, whole.lastLogits()!) < 1e-5, `cut ${cut}`);
  }
  const chunks = m.session();
  await chunks.feed((async function* () {
    for (let i = 0; i < doc.length; i += 13) yield doc.slice(i, i + 13);
  })());
  assert.ok(maxAbsDiff(chunks.lastLogits()!, whole.lastLogits()!) < 1e-5);
});

test("fork is independent of its parent", async () => {
  const s = m.session();
  await s.feed("shared prefix ");
  const f = s.fork();
  const a = await collect(s.generate("", { maxTokens: 8, seed: 1 }));
  const b = await collect(f.generate("", { maxTokens: 8, seed: 1 }));
  assert.equal(a.map((p) => p.token), b.map((p) => p.token));
  assert.is(s.position, f.position);
});

test("snapshot / restore round-trips bit-exactly and continues identically", async () => {
  const s = m.session();
  await s.feed("state to keep ");
  await collect(s.generate("", { maxTokens: 5, seed: 2 }));
  const bytes = s.snapshot();
  const r = m.session();
  r.restore(bytes);
  assert.equal(r.snapshot(), bytes);
  const a = await collect(s.generate("", { maxTokens: 10, seed: 4 }));
  const b = await collect(r.generate("", { maxTokens: 10, seed: 4 }));
  assert.equal(a.map((p) => p.token), b.map((p) => p.token));
});

test("a corrupt or truncated snapshot is a SnapshotError", async () => {
  const s = m.session();
  await s.feed("x");
  const bytes = s.snapshot();
  const flipped = bytes.slice();
  flipped[100] ^= 1;
  assert.throws(() => m.session().restore(flipped), (e: unknown) => e instanceof SnapshotError && /checksum/.test((e as Error).message));
  assert.throws(() => m.session().restore(bytes.slice(0, 40)), (e: unknown) => e instanceof SnapshotError);
  assert.throws(() => m.session().restore(new Uint8Array(100)), (e: unknown) => e instanceof SnapshotError);
});

test("a snapshot of another model is refused", async () => {
  const other = await load(path.join(GOLDEN, "m1_ss_v256_tied_f32"), { backend: "cpu" });
  const s = other.session();
  await s.feed("x");
  assert.throws(() => m.session().restore(s.snapshot()), (e: unknown) => e instanceof SnapshotError && /another model/.test((e as Error).message));
});

test("abort stops generation and leaves the session usable", async () => {
  const s = m.session();
  const ac = new AbortController();
  let n = 0;
  for await (const _ of s.generate("abc", { maxTokens: 100, seed: 1, signal: ac.signal })) if (++n === 5) ac.abort();
  assert.is(n, 5);
  assert.is(s.position, 3 + 5);
  const more = await collect(s.generate("", { maxTokens: 3, seed: 1 }));
  assert.is(more.filter((p) => p.token >= 0).length, 3);
  // aborted feed stops at a block boundary with a consistent position
  const f = m.session();
  const ac2 = new AbortController();
  await f.feed("y".repeat(1000), { signal: ac2.signal, blockTokens: 100, onProgress: (p) => p.tokens >= 300 && ac2.abort() }).then(
    () => assert.unreachable("should abort"),
    (e) => assert.is((e as Error).name, "AbortError"),
  );
  assert.is(f.position, 300);
});

test("stop strings end generation and are not emitted", async () => {
  const free = text(await collect(m.session().generate("ab", { maxTokens: 40, seed: 5, temperature: 1 })));
  const stop = free.slice(10, 12);
  const cut = text(await collect(m.session().generate("ab", { maxTokens: 40, seed: 5, temperature: 1, stop: [stop] })));
  assert.is(cut, free.slice(0, free.indexOf(stop)));
});

test("bad options are typed errors", async () => {
  const s = m.session();
  await rejects(() => collect(s.generate("a", { maxTokens: -1 })), (e: unknown) => e instanceof OptionError);
  await rejects(() => collect(s.generate("a", { topP: 2 })), (e: unknown) => e instanceof OptionError);
  await rejects(() => s.feedIds([300]), (e: unknown) => e instanceof OptionError);
});

test.run();
