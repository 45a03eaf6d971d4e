// The state-spaces/s4 goldens (test/fixtures/s4/*: forward and step outputs of the s4 code) as one
// uvu test per fixture: an S4 model on each backend, in recurrent and conv mode, against the s4
// code's forward and step (scaledMaxDiff <= 2e-5, as on cpu) and against the cpu backend's outputs
// (<= 1e-5). Used by test/wasm-s4.test.ts and test/gpu-s4.test.ts.
import type { Test } from "uvu";
import * as assert from "uvu/assert";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { openCheckpoint } from "../../core/formats/checkpoint.ts";
import { WeightReader } from "../../core/formats/weights.ts";
import { buildS4, type S4Mode } from "../../core/models/s4.ts";
import type { Backend } from "../../kernels/backend.ts";
import { createCpuBackend } from "../../kernels/cpu/index.ts";
import { scaledMaxDiff } from "./random-model.ts";

export const S4_FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), "../fixtures/s4");

/** Registers `${fixture}: ${what} == state-spaces/s4 forward and step, and == cpu, in both modes`. */
export function registerS4Goldens(test: Test, backends: [string, Backend][], what: string): void {
  for (const name of fs.readdirSync(S4_FIXTURES).sort()) {
    const dir = path.join(S4_FIXTURES, name);
    const golden = JSON.parse(fs.readFileSync(path.join(dir, "golden.json"), "utf8"));
    test(`${name}: ${what} == state-spaces/s4 forward and step, and == cpu, in both modes`, async () => {
      const ck = await openCheckpoint(dir);
      try {
        if (ck.config.family !== "s4") throw new Error("not s4");
        const config = ck.config;
        const [, T] = golden.input_shape as number[];
        const run = (b: Backend, s4Mode: S4Mode) => {
          const m = buildS4(config, new WeightReader(ck), b, { s4Mode, chunk: 16 });
          if (config.task === "lm") return m.forward((golden.input as number[]).map(Math.round), m.newState(), "all")!;
          return m.forwardFloat(Float32Array.from(golden.input), T, m.newState());
        };
        for (const s4Mode of ["recurrent", "conv"] as S4Mode[]) {
          const ref = run(createCpuBackend(), s4Mode);
          for (const [label, b] of backends) {
            const y = run(b, s4Mode);
            const dF = scaledMaxDiff(y, golden.forward), dS = scaledMaxDiff(y, golden.step), dC = scaledMaxDiff(y, ref);
            assert.ok(dF <= 2e-5 && dS <= 2e-5 && dC <= 1e-5, `${label} ${s4Mode}: vs forward ${dF}, vs step ${dS}, vs cpu ${dC}`);
          }
        }
      } finally {
        ck.close();
      }
    });
  }
}
