// Access to the golden fixtures (test/fixtures/golden/*, copied from shared/fixtures).
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { readNpy } from "../../core/formats/npy.ts";

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
