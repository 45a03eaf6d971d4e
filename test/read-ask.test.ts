// Session.read / ask / stats / snapshots with long-context plans. Mechanics run on tiny random
// byte-level models (fast); the golden fixture model checks the ask() templates end to end.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  fromFile, load, NotReReadableError, OptionError, readSnapshotFile, Session, SnapshotError, writeSnapshotFile,
  type LoadedModel, type ReadProgress, type SessionOptions,
} from "../core/index.ts";
import { byteTokenizer } from "../core/formats/tokenizer.ts";
import { buildModel } from "../core/models/index.ts";
import type { WeightSource } from "../core/models/model.ts";
import { createCpuBackend } from "../kernels/cpu/index.ts";
import { rejects } from "./helpers/assert.ts";
import { GOLDEN, maxAbsDiff } from "./helpers/golden.ts";
import { mamba2Config, randomWeights } from "./helpers/random-model.ts";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "scanstream-read-"));
const config = mamba2Config({ d_model: 16, n_layer: 2, d_state: 8, headdim: 8, vocab_size: 256, chunk_size: 16 });

/** A tiny byte-level model; `slow` makes every head decay by only 0.998 per token (a state that keeps growing). */
function tiny(opts: SessionOptions = {}, slow = false): Session {
  const w = randomWeights(config, 7);
  const weights: WeightSource = slow
    ? {
      has: (n) => w.has(n),
      f32: (n, shape) => {
        const v = w.f32(n, shape);
        if (n.endsWith("A_log")) return v.fill(0); // A = -1
        if (n.endsWith("dt_bias")) return v.fill(Math.log(Math.expm1(0.002))); // dt = 0.002
        return v;
      },
    }
    : w;
  const model = buildModel(config, weights, createCpuBackend());
  return new Session({ model, tokenizer: byteTokenizer(), modelHash: () => (slow ? "tiny-slow" : "tiny") }, opts);
}

const DOC = Array.from({ length: 30 }, (_, i) => `Line ${i}: the ${["red", "green", "blue"][i % 3]} fox — ünïcödé ${i * 7}.`).join("\n");

test("read() of every kind of source equals feed() of the text", async () => {
  const ref = tiny();
  await ref.feed(DOC);
  const want = ref.lastLogits()!;
  const bytes = new TextEncoder().encode(DOC);
  const file = path.join(tmp, "doc.txt");
  fs.writeFileSync(file, DOC);
  const sources = {
    string: DOC,
    "bytes split inside characters": (async function* () {
      for (let i = 0; i < bytes.length; i += 7) yield bytes.subarray(i, i + 7);
    })(),
    "array of chunks": [DOC.slice(0, 500), DOC.slice(500)],
    "Node Readable": Readable.from([Buffer.from(bytes.subarray(0, 333)), Buffer.from(bytes.subarray(333))]),
    "web ReadableStream": new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(bytes.subarray(0, 200));
        c.enqueue(bytes.subarray(200));
        c.close();
      },
    }),
    "fromFile": fromFile(file),
    "factory": () => fs.createReadStream(file, "utf8"),
  };
  for (const [name, src] of Object.entries(sources)) {
    const s = tiny();
    await s.read(src);
    assert.is(s.position, bytes.length, name);
    assert.ok(maxAbsDiff(s.lastLogits()!, want) < 1e-5, name);
    assert.ok(s.readCursor!.done && s.readCursor!.chars === DOC.length, name);
  }
});

test("read() reports progress with stats, and its payload is consistent", async () => {
  const s = tiny({ mitigation: "window", window: 100, trainLength: 200 });
  const seen: ReadProgress[] = [];
  await s.read(DOC + DOC, { onProgress: (p) => seen.push(p), pieceChars: 500 });
  const total = new TextEncoder().encode(DOC + DOC).length;
  assert.ok(seen.length >= 3);
  const last = seen[seen.length - 1];
  assert.is(last.tokens, total);
  assert.is(last.bytes, total);
  assert.is(last.totalBytes, total);
  assert.is(last.copy, 1);
  assert.ok(seen.every((p, i) => i === 0 || p.tokens >= seen[i - 1].tokens));
  assert.is(last.stats.layers.length, 2);
  assert.ok(last.stats.layers.every((l) => l.meanNorm > 0 && l.calibMax > 0 && l.position > 0));
  assert.match(last.stats.mitigation, /window r=100/);
  assert.ok(last.tokensPerSecond > 0);
});

test("abort, snapshot, restore and resume give the same state as one uninterrupted read", async () => {
  const doc = DOC + "\n" + DOC;
  const whole = tiny({ mitigation: "window", window: 50 });
  await whole.read(doc, { pieceChars: 300 });
  const a = tiny({ mitigation: "window", window: 50 });
  const ac = new AbortController();
  let snap: Uint8Array | null = null;
  await rejects(
    () => a.read(doc, { signal: ac.signal, pieceChars: 300, onProgress: (p) => {
      if (p.chars > 1000 && !snap) {
        snap = a.snapshot();
        ac.abort();
      }
    } }),
    (e) => (e as Error).name === "AbortError",
  );
  assert.ok(snap);
  assert.ok(a.readCursor!.chars > 1000 && !a.readCursor!.done);
  const file = path.join(tmp, "read.snap");
  writeSnapshotFile(file, snap!);
  assert.equal(fs.readdirSync(tmp).filter((f) => f.includes(".tmp-")), []);
  const b = tiny(); // default plan: the snapshot's plan replaces it
  b.restore(readSnapshotFile(file), file);
  assert.is(b.mitigation.kind, "window");
  assert.is(b.mitigation.window!.r, 50);
  await b.read(doc, { resume: true, pieceChars: 300 });
  assert.is(b.position, whole.position);
  assert.ok(maxAbsDiff(b.lastLogits()!, whole.lastLogits()!) < 1e-5);
  // a different or shorter source is refused
  const c = tiny();
  c.restore(snap!);
  await rejects(() => c.read(doc.replace("Line 3", "Line X"), { resume: true }), (e) => e instanceof SnapshotError && /differs/.test((e as Error).message));
  c.restore(snap!);
  await rejects(() => c.read(doc.slice(0, 100), { resume: true }), (e) => e instanceof SnapshotError && /fewer/.test((e as Error).message));
  await rejects(() => tiny().read(doc, { resume: true }), (e) => e instanceof OptionError);
});

test("snapshot files: corrupt, missing and foreign files are SnapshotErrors naming the file", () => {
  const s = tiny({ mitigation: "norm" });
  const file = path.join(tmp, "x.snap");
  writeSnapshotFile(file, s.snapshot());
  const bytes = fs.readFileSync(file);
  bytes[bytes.length - 40] ^= 0xff;
  fs.writeFileSync(file, bytes);
  assert.throws(() => tiny().restore(readSnapshotFile(file), file), (e: unknown) => e instanceof SnapshotError && /x\.snap: checksum/.test((e as Error).message));
  assert.throws(() => readSnapshotFile(path.join(tmp, "none.snap")), (e: unknown) => e instanceof SnapshotError && /none\.snap.*no such file/.test((e as Error).message));
  assert.throws(() => tiny({}, true).restore(s.snapshot()), (e: unknown) => e instanceof SnapshotError && /another model/.test((e as Error).message));
  assert.throws(() => writeSnapshotFile(path.join(tmp, "no-dir", "y.snap"), s.snapshot()), (e: unknown) => e instanceof SnapshotError);
});

test("a snapshot carries the plan and the long-context state: restored sessions continue identically", async () => {
  for (const mitigation of ["window", "norm", "forget", "auto"] as const) {
    const s = tiny({ mitigation, trainLength: 40, window: 16, probeEvery: 8 });
    await s.feed(DOC.slice(0, 90));
    const r = tiny();
    r.restore(s.snapshot());
    assert.equal(r.mitigation, s.mitigation);
    assert.equal(r.snapshot(), s.snapshot());
    await s.feed(DOC.slice(90, 200));
    await r.feed(DOC.slice(90, 200));
    assert.equal(r.lastLogits(), s.lastLogits(), mitigation);
  }
});

test("collapse detection: a growing state warns past the training length; the mitigations bound it", async () => {
  const input = "\n".repeat(1200);
  const warned: string[] = [];
  const none = tiny({ trainLength: 64, onWarning: (w) => warned.push(w.message) }, true);
  await none.feed(input);
  const st = none.stats();
  assert.ok(st.beyondTrainLength);
  assert.ok(st.maxRatio > 10, `ratio ${st.maxRatio}`);
  assert.ok(st.warnings.length >= 1 && warned.length === st.warnings.length);
  assert.match(warned[0], /layer \d: the state norm of head \d+ is [\d.]+x the largest seen within the training length \(64 tokens\)/);
  // heads that barely decay: the window (r + 1 .. 2r tokens, r = T) holds up to 2x the in-training
  // content, forget's memory is 2T, norm clamps at 4x the calibrated maximum
  for (const [mitigation, bound, warns] of [["window", 2.2, false], ["auto", 2.2, false], ["forget", 2.8, false], ["norm", 4 * (1 + 1e-6), true]] as const) {
    const s = tiny({ trainLength: 64, mitigation }, true);
    await s.feed(input);
    assert.ok(s.stats().maxRatio <= bound, `${mitigation}: ratio ${s.stats().maxRatio}`);
    assert.is(s.stats().warnings.length > 0, warns, mitigation);
  }
});

test("bad session options are OptionErrors", async () => {
  assert.throws(() => tiny({ mitigation: "shrink" as never }), (e: unknown) => e instanceof OptionError && /mitigation/.test((e as Error).message));
  assert.throws(() => tiny({ window: -1 }), (e: unknown) => e instanceof OptionError);
  await rejects(() => tiny().read(42 as never), (e) => e instanceof OptionError);
  await rejects(() => tiny().ask("q", { jrt: 0 }), (e) => e instanceof OptionError);
  await rejects(() => tiny().ask("q", { jrt: 2 }), (e) => e instanceof OptionError && /read\(source\)/.test((e as Error).message));
});

// ---- ask() on the golden fixture model ----

let m: LoadedModel;
test.before(async () => {
  m = await load(path.join(GOLDEN, "m2_ss_v256_g1_tied_f32"), { backend: "cpu" });
});

const CTX = "Ada keeps the key 4821 in a blue box.";
const Q = "Where is the key?";

async function greedy(s: Session, prompt: string): Promise<string> {
  let t = "";
  for await (const p of s.generate(prompt, { maxTokens: 12, temperature: 0, stop: ["\n"] })) t += p.text;
  return t;
}

test("ask(): jrt 1 and 2 (cached layout) and question-first equal the documented prompts; questions reuse the read", async () => {
  const s = m.session();
  await s.read(CTX);
  const pos = s.position;
  const a1 = await s.ask(Q, { maxTokens: 12 });
  const r1 = m.session();
  await r1.feed(CTX);
  assert.is(a1.text, await greedy(r1, "\n" + Q));
  const a2 = await s.ask(Q, { jrt: 2, maxTokens: 12 });
  const r2 = m.session();
  await r2.feed(CTX + "\n" + CTX);
  assert.is(a2.text, await greedy(r2, "\n" + Q));
  assert.is(a2.promptTokens, CTX.length + 1 + Q.length + 1); // the second copy was read once
  const again = await s.ask("Who keeps it?", { jrt: 2, maxTokens: 12 });
  assert.is(again.promptTokens, "\nWho keeps it?".length); // ... and is not re-read for the next question
  const qf = await s.ask(Q, { jrt: 2, layout: "question-first", answerPrefix: "Answer:", maxTokens: 12 });
  const r3 = m.session();
  await r3.feed(Q + " " + CTX + "\n" + CTX);
  assert.is(qf.text, await greedy(r3, " Answer:"));
  assert.is(s.position, pos); // ask works on forks
});

test("ask(): a one-shot stream with jrt > 1 is a NotReReadableError that says how to fix it", async () => {
  const once = () => (async function* () {
    yield CTX;
  })();
  const s = m.session();
  await rejects(() => s.ask(Q, { source: once(), jrt: 2 }), (e) => e instanceof NotReReadableError && /fromFile\(path\)/.test((e as Error).message) && /function/.test((e as Error).message));
  assert.is(s.position, 0); // refused before reading
  await s.read(once());
  const a = await s.ask(Q, { maxTokens: 4 }); // jrt 1 needs no re-read
  assert.ok(typeof a.text === "string");
  await rejects(() => s.ask(Q, { jrt: 2 }), (e) => e instanceof NotReReadableError);
  await rejects(() => s.ask(Q, { layout: "question-first" }), (e) => e instanceof NotReReadableError);
  const file = path.join(tmp, "ctx.txt");
  fs.writeFileSync(file, CTX);
  const f = m.session();
  const viaFile = await f.ask(Q, { source: fromFile(file), jrt: 2, maxTokens: 12 });
  const viaString = await m.session().ask(Q, { source: CTX, jrt: 2, maxTokens: 12 });
  assert.is(viaFile.text, viaString.text);
});

test.run();
