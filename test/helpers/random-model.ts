// Test-side entry to the random models. The generator itself lives in core/models/random.ts so that
// bench/ (and later `scanstream bench`) use the very same code without importing from test/.
// This file adds what only tests need: small models on the cpu backend and closeness measures.
import { createCpuBackend } from "../../kernels/cpu/index.ts";
import type { WeightDType } from "../../kernels/backend.ts";
import { buildModel } from "../../core/models/index.ts";
import type { Model, ModelState } from "../../core/models/model.ts";
import type { ModelConfig } from "../../core/models/config.ts";
import { randomWeights } from "../../core/models/random.ts";

export {
  fillNormal, fillUniform, hashSeed, mamba1Config, mamba2Config, mulberry32, randomWeights, weightSpecs, type MambaConfig,
} from "../../core/models/random.ts";

/** A model of `config` with random weights (seed) on a fresh cpu backend. */
export function randomModel(
  config: ModelConfig, seed: number, opts: { weights?: WeightDType; maxBlock?: number; scale?: number } = {},
): Model {
  return buildModel(config, randomWeights(config, seed, opts.scale), createCpuBackend(), {
    weights: opts.weights, maxBlock: opts.maxBlock,
  });
}

/**
 * max |a - b| / max(1, max |a|): an absolute error for values of order 1 and a relative one for large
 * values. Infinity if the lengths differ or either side holds a NaN.
 */
export function scaledMaxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let diff = 0;
  let mag = 1;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (Number.isNaN(d)) return Infinity;
    diff = Math.max(diff, d);
    mag = Math.max(mag, Math.abs(a[i]));
  }
  return diff / mag;
}

/** The largest scaledMaxDiff over the conv windows and SSM states of every layer (Infinity if positions differ). */
export function stateDiff(a: ModelState, b: ModelState): number {
  if (a.position !== b.position || a.layers.length !== b.layers.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.layers.length; i++)
    m = Math.max(m, scaledMaxDiff(a.layers[i].conv, b.layers[i].conv), scaledMaxDiff(a.layers[i].ssm, b.layers[i].ssm));
  return m;
}
