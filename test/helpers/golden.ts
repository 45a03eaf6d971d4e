// Access to the golden fixtures (test/fixtures/golden/*, copied from shared/fixtures).
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as assert from "uvu/assert";
import type { LoadedModel } from "../../core/index.ts";
import { readNpy, type NpyArray } from "../../core/formats/npy.ts";
import { MemoryBytes } from "../../core/formats/bytes.ts";
import { ZipArchive } from "../../core/formats/zip.ts";

export const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../fixtures");
export const GOLDEN = path.join(FIXTURES, "golden");
export const goldenDirs = fs.readdirSync(GOLDEN).sort().map((d) => path.join(GOLDEN, d));

export function goldenTokens(dir: string): number[] {
  const j = JSON.parse(fs.readFileSync(path.join(dir, "tokens.json"), "utf8"));
  return Array.isArray(j) ? j : j.tokens;
}

export function goldenLogits(dir: string, file = "golden_logits.npy") {
  return readNpy(fs.readFileSync(path.join(dir, file)), file);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** golden_state.npz: float64 arrays conv_<layer> (1, C, d_conv) and ssm_<layer> after all tokens. */
export function goldenState(dir: string): Map<string, NpyArray> {
  const file = path.join(dir, "golden_state.npz");
  const zip = new ZipArchive(new MemoryBytes(fs.readFileSync(file), file));
  const out = new Map<string, NpyArray>();
  for (const [name, entry] of zip.entries) out.set(name.replace(/\.npy$/, ""), readNpy(zip.read(entry), name));
  return out;
}

/**
 * Runs the fixture's tokens through `m` in one prefill and asserts the logits match golden_logits.npy
 * within `tol` and the final conv / SSM states match golden_state.npz within 1e-5 (the golden conv
 * holds the last d_conv inputs [1, C, K]; scanstream keeps the last K-1).
 */
export function assertGoldenPrefill(m: Pick<LoadedModel, "model" | "config">, dir: string, tol: number): void {
  const ids = goldenTokens(dir);
  const state = m.model.newState();
  const got = m.model.forward(ids, state, "all")!;
  const want = goldenLogits(dir);
  assert.equal(want.shape, [ids.length, m.config.vocab_rows]);
  const err = maxAbsDiff(got, want.data);
  assert.ok(err < tol, `max abs logit error ${err}`);
  if (m.config.family !== "mamba1" && m.config.family !== "mamba2") throw new Error("the golden fixtures are Mamba models");
  const K = m.config.d_conv;
  const golden = goldenState(dir);
  state.layers.forEach((layer, i) => {
    const conv = golden.get(`conv_${i}`)!;
    const C = conv.shape[1];
    const tail = Float64Array.from({ length: C * (K - 1) }, (_, j) => conv.data[Math.floor(j / (K - 1)) * K + 1 + (j % (K - 1))]);
    assert.ok(maxAbsDiff(layer.conv, tail) < 1e-5, `layer ${i} conv ${maxAbsDiff(layer.conv, tail)}`);
    const ssm = golden.get(`ssm_${i}`)!.data;
    assert.ok(maxAbsDiff(layer.ssm, ssm) < 1e-5, `layer ${i} ssm ${maxAbsDiff(layer.ssm, ssm)}`);
  });
}

/** Steps the fixture's first `n` tokens one at a time and asserts each step's logits are within `tol`. */
export function assertGoldenDecode(m: Pick<LoadedModel, "model" | "config">, dir: string, n: number, tol: number): void {
  const ids = goldenTokens(dir).slice(0, n);
  const V = m.config.vocab_rows;
  const want = goldenLogits(dir).data.subarray(0, ids.length * V);
  const state = m.model.newState();
  const got = new Float32Array(ids.length * V);
  ids.forEach((id, t) => got.set(m.model.forward([id], state, "last")!, t * V));
  const err = maxAbsDiff(got, want);
  assert.ok(err < tol, `max abs logit error ${err}`);
}
