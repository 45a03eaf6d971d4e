// The shipped checkpoints/s4d-text (a byte-level S4D LM trained by checkpoints/train/s4d_text.py):
// scanstream reproduces the PyTorch logits it was exported with and the greedy text PyTorch
// generated, in both modes, and the Session's generate / read / ask / snapshot / fork work on it.
//
// Tolerance: logits 1e-4 scaled (observed ~4e-6: the PyTorch model runs in float32 with FFT
// convolution, scanstream in float64 inside each op with float32 between ops).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { load, OptionError } from "../core/index.ts";
import { openCheckpoint } from "../core/formats/checkpoint.ts";
import { WeightReader } from "../core/formats/weights.ts";
import { buildS4 } from "../core/models/s4.ts";
import { createCpuBackend } from "../kernels/cpu/index.ts";
import { scaledMaxDiff } from "./helpers/random-model.ts";
import { S4D_TEXT, assertSnapshotForkResume, generateText, s4dTextInfo } from "./helpers/s4d-text.ts";

const g = s4dTextInfo.golden as { ids: number[]; logits_rows: number[]; logits: number[] };

test("s4d-text: logits == the PyTorch model's, in recurrent and conv mode", async () => {
  const ck = await openCheckpoint(S4D_TEXT);
  try {
    if (ck.config.family !== "s4") throw new Error("not an S4 checkpoint");
    assert.is(ck.config.block, "S4D");
    for (const s4Mode of ["recurrent", "conv"] as const) {
      const m = buildS4(ck.config, new WeightReader(ck), createCpuBackend(), { s4Mode, chunk: 32 });
      const all = m.forward(g.ids, m.newState(), "all")!;
      const rows = new Float32Array(g.logits.length);
      g.logits_rows.forEach((r, i) => rows.set(all.subarray(r * 256, (r + 1) * 256), i * 256));
      const d = scaledMaxDiff(rows, g.logits);
      assert.ok(d < 1e-4, `${s4Mode}: ${d}`);
    }
  } finally {
    ck.close();
  }
});

test("s4d-text: greedy generation reproduces the PyTorch greedy text; snapshot / fork resume it exactly", async () => {
  const m = await load(S4D_TEXT, { backend: "cpu" });
  const sample = s4dTextInfo.samples[0] as { prompt: string; greedy_text: string };
  assert.is(await generateText(m, sample.prompt, { maxTokens: 32, temperature: 0 }), sample.greedy_text.slice(0, 32));

  await assertSnapshotForkResume(m);
});

test("s4d-text: read() a document in pieces, ask() about it, and mitigations are refused", async () => {
  const m = await load(S4D_TEXT, { backend: "cpu" });
  const s = m.session();
  const doc = "In the beginning, God created the heavens and the earth. ".repeat(2);
  let progress = 0;
  await s.read(doc, { pieceChars: 40, onProgress: () => progress++ });
  assert.is(s.position, doc.length);
  const whole = m.session();
  await whole.feed(doc);
  assert.ok(scaledMaxDiff(s.lastLogits()!, whole.lastLogits()!) < 1e-5);
  const ans = await s.ask("Who created the heavens?", { maxTokens: 8 });
  assert.type(ans.text, "string");
  assert.ok(progress > 0);
  const w = m.session({ mitigation: "forget" });
  await w.feed("abc").then(
    () => assert.unreachable("a mitigation ran on S4"),
    (e) => assert.instance(e, OptionError),
  );
});

test.run();
