// The shipped checkpoints/s4d-text (a byte-level S4D LM) in tests: its directory and training.json,
// the backends' logits against the cpu backend's, a greedy generation, and the snapshot / fork
// resume check. Used by test/s4-text.test.ts, test/wasm-s4.test.ts and test/gpu-s4.test.ts.
import * as assert from "uvu/assert";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { LoadedModel } from "../../core/index.ts";
import { openCheckpoint } from "../../core/formats/checkpoint.ts";
import { WeightReader } from "../../core/formats/weights.ts";
import { buildS4, type S4Mode } from "../../core/models/s4.ts";
import type { Backend } from "../../kernels/backend.ts";
import { createCpuBackend } from "../../kernels/cpu/index.ts";
import { scaledMaxDiff } from "./random-model.ts";

export const S4D_TEXT = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../checkpoints/s4d-text");
export const s4dTextInfo = JSON.parse(fs.readFileSync(path.join(S4D_TEXT, "training.json"), "utf8"));

/** Each backend's logits for `ids` (chunk 32, both modes) within 1e-4 (scaledMaxDiff) of the cpu backend's. */
export async function assertS4dTextLogits(backends: [string, Backend][], ids: number[]): Promise<void> {
  const ck = await openCheckpoint(S4D_TEXT);
  try {
    if (ck.config.family !== "s4") throw new Error("not s4");
    for (const s4Mode of ["recurrent", "conv"] as S4Mode[]) {
      const cpuM = buildS4(ck.config, new WeightReader(ck), createCpuBackend(), { s4Mode, chunk: 32 });
      const want = cpuM.forward(ids, cpuM.newState(), "all")!;
      for (const [label, b] of backends) {
        const m = buildS4(ck.config, new WeightReader(ck), b, { s4Mode, chunk: 32 });
        const d = scaledMaxDiff(m.forward(ids, m.newState(), "all")!, want);
        assert.ok(d < 1e-4, `${label} ${s4Mode}: logits ${d}`);
      }
    }
  } finally {
    ck.close();
  }
}

/** The text of a generation from `prompt` on a new session of `m`. */
export async function generateText(m: LoadedModel, prompt: string, opts: { maxTokens: number; temperature: number; seed?: number }): Promise<string> {
  let text = "";
  for await (const p of m.session().generate(prompt, opts)) text += p.text;
  return text;
}

/** After "And God said, ", a sampled stream (16 tokens, temperature 0.8, seed 7) resumes exactly from a
 *  snapshot restored into a new session and from a fork. */
export async function assertSnapshotForkResume(m: LoadedModel): Promise<void> {
  const a = m.session();
  await a.feed("And God said, ");
  const snap = a.snapshot();
  const f = a.fork();
  const gen = async (x: typeof a) => {
    let t = "";
    for await (const p of x.generate("", { maxTokens: 16, temperature: 0.8, seed: 7 })) t += p.text;
    return t;
  };
  const first = await gen(a);
  const b = m.session();
  b.restore(snap);
  assert.is(await gen(b), first);
  assert.is(await gen(f), first);
}
