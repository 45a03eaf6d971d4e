// Mamba-1 mixer (mamba_ssm modules/mamba_simple.py), see shared reference mamba1.md.
//
// Shape letters: T tokens, d d_model, E d_inner, N d_state, R dt_rank, K d_conv.
//
//   in_proj: u [T, d] -> x [T, E] | z [T, E]
//   conv:    x <- silu(causal depthwise conv + bias), window [E, K-1] carried
//   x_proj:  x -> dt_low [T, R] | B [T, N] | C [T, N]
//   dt      = softplus(dt_low · dt_projᵀ + dt_proj.bias)              [T, E]
//   scan:    h[e,n] <- exp(dt A[e,n]) h + dt B[n] x[e];  y = h·C + D x  (A = -exp(A_log) [E, N])
//            (with a long-context plan: mitigations and telemetry around the scan, long-context.ts)
//   out:     (y ⊙ silu(z)) · out_projᵀ
import type { Backend } from "../../kernels/backend.ts";
import type { Mamba1Config } from "./config.ts";
import { addBias, buildLM, type BlockContext, type Mixer } from "./lm.ts";
import { scanWithPlan, type ScanLayout } from "./long-context.ts";
import type { Scratch } from "./scratch.ts";
import { stateArray, type BuildOptions, type LayerState, type Model, type WeightSource } from "./model.ts";

export function buildMamba1(config: Mamba1Config, weights: WeightSource, backend: Backend, opts: BuildOptions = {}): Model {
  return buildLM(config, weights, backend, opts, (_i, prefix, scratch) => mamba1Mixer(config, weights, backend, opts, prefix, scratch));
}

function mamba1Mixer(c: Mamba1Config, weights: WeightSource, backend: Backend, opts: BuildOptions, prefix: string, scratch: Scratch): Mixer {
  const { d_model: d, d_inner: E, d_state: N, d_conv: K, dt_rank: R } = c;
  const dtype = opts.weights ?? "f32";
  const w = (name: string, shape: number[]) => weights.f32(prefix + name, shape);

  const inW = w("in_proj.weight", [2 * E, d]);
  const inB = c.bias ? w("in_proj.bias", [2 * E]) : null;
  const inX = backend.matrix(inW.subarray(0, E * d), E, d, dtype);
  const inZ = backend.matrix(inW.subarray(E * d), E, d, dtype);
  const convW = w("conv1d.weight", [E, 1, K]);
  const convB = c.conv_bias ? w("conv1d.bias", [E]) : null;
  const xpW = w("x_proj.weight", [R + 2 * N, E]);
  const xpDt = backend.matrix(xpW.subarray(0, R * E), R, E, dtype);
  const xpB = backend.matrix(xpW.subarray(R * E, (R + N) * E), N, E, dtype);
  const xpC = backend.matrix(xpW.subarray((R + N) * E), N, E, dtype);
  const dtProj = backend.matrix(w("dt_proj.weight", [E, R]), E, R, dtype);
  const dtBias = w("dt_proj.bias", [E]);
  const A = w("A_log", [E, N]).map((v) => -Math.exp(v));
  const Dskip = w("D", [E]);
  const outProj = backend.matrix(w("out_proj.weight", [d, E]), d, E, dtype);
  const outB = c.bias ? w("out_proj.bias", [d]) : null;
  const layout: ScanLayout = { U: E, P: 1, N, G: 1, A, An: N, D: Dskip };

  return {
    paramCount: inW.length + (inB?.length ?? 0) + convW.length + (convB?.length ?? 0) + xpW.length + E * R + E +
      E * N + E + d * E + (outB?.length ?? 0),
    newState: (): LayerState => ({ conv: stateArray(backend, E * (K - 1)), ssm: stateArray(backend, E * N) }),
    forward(u: Float32Array, T: number, state: LayerState, at: BlockContext): Float32Array {
      const buf = (key: string, n: number) => scratch.get(key, T * n);
      const xr = addBias(backend, backend.matmul(u, T, inX, buf("m1.xr", E)), T, inB && inB.subarray(0, E));
      const z = addBias(backend, backend.matmul(u, T, inZ, buf("m1.z", E)), T, inB && inB.subarray(E));
      const x = backend.conv1d(xr, T, E, K, convW, convB, state.conv, buf("m1.x", E));
      const dt = backend.matmul(backend.matmul(x, T, xpDt, buf("m1.dtr", R)), T, dtProj, buf("m1.dt", E));
      backend.dtSoftplus(dt, T, E, dtBias, 0, Infinity);
      const B = backend.matmul(x, T, xpB, buf("m1.B", N));
      const C = backend.matmul(x, T, xpC, buf("m1.C", N));
      let y: Float32Array;
      const out = buf("m1.y", E);
      if (!at.plan) y = backend.selectiveScan({ T, D: E, N, x, dt, A, B, C, Dskip, state: state.ssm, out });
      else {
        state.aux = scanWithPlan(layout, at.plan, state.aux, at.position, T, x, dt, C, state.ssm, out, (t0, t1, xs, dts, Ds) => {
          backend.selectiveScan({
            T: t1 - t0, D: E, N, A, Dskip: Ds, state: state.ssm,
            x: xs.subarray(t0 * E, t1 * E), dt: dts.subarray(t0 * E, t1 * E),
            B: B.subarray(t0 * N, t1 * N), C: C.subarray(t0 * N, t1 * N), out: out.subarray(t0 * E, t1 * E),
          });
        }, backend);
        y = out;
      }
      return addBias(backend, backend.matmul(backend.siluGate(y, z), T, outProj, buf("m1.out", d)), T, outB);
    },
  };
}
