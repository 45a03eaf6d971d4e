// Access to the golden fixtures (test/fixtures/golden/*, copied from shared/fixtures).
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
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
