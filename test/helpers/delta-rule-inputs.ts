// Gated delta rule inputs (kernels/backend.ts GatedDeltaArgs) as the models make them: q, k
// L2-normalised per head (core/models/mom.ts l2normHeads), v and the state ~ N(0, 1); β and g from
// the caller's distributions. Used by test/mom-delta-rule.test.ts and test/delta-rule-backends.test.ts.
import { l2normHeads } from "../../core/models/mom.ts";
import type { GatedDeltaArgs } from "../../kernels/backend.ts";
import { fillNormal, mulberry32 } from "./random-model.ts";

export interface DeltaRuleCase {
  T: number;
  H: number;
  K: number;
  V: number;
  chunkSize: number | undefined;
  seed: number;
  /** A zero initial state instead of a random one. */
  zeroState: boolean;
  /** One β, and one g, per (t, h), from the case's uniform stream r. */
  beta: (r: () => number) => number;
  g: (r: () => number) => number;
}

/** q, k, v, β, g, then the state, drawn in that order from mulberry32(seed); scale 1/√K. */
export function deltaRuleInputs(c: DeltaRuleCase): GatedDeltaArgs {
  const { T, H, K, V } = c;
  const r = mulberry32(c.seed);
  const n = (len: number) => fillNormal(new Float32Array(len), r, 1);
  return {
    T, H, K, V, chunkSize: c.chunkSize, scale: 1 / Math.sqrt(K),
    q: l2normHeads(n(T * H * K), K), k: l2normHeads(n(T * H * K), K), v: n(T * H * V),
    beta: new Float32Array(T * H).map(() => c.beta(r)),
    g: new Float32Array(T * H).map(() => c.g(r)),
    state: c.zeroState ? new Float32Array(H * K * V) : n(H * K * V),
  };
}

/** Tokens [t0, t1) of a call's per-token inputs, with `state`. */
export function deltaRuleRows(a: GatedDeltaArgs, t0: number, t1: number, state: Float32Array): GatedDeltaArgs {
  const { H, K, V } = a;
  return {
    ...a, T: t1 - t0, state,
    q: a.q.subarray(t0 * H * K, t1 * H * K), k: a.k.subarray(t0 * H * K, t1 * H * K), v: a.v.subarray(t0 * H * V, t1 * H * V),
    beta: a.beta.subarray(t0 * H, t1 * H), g: a.g.subarray(t0 * H, t1 * H),
  };
}
