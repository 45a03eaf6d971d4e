// Mamba-2 mixer (mamba_ssm modules/mamba2.py), see shared reference mamba2.md.
//
// Shape letters: T tokens, d d_model, E d_inner (= expand·d), H nheads, P headdim (E = H·P),
// G ngroups, N d_state, K d_conv, Cv conv_dim = E + 2·G·N.
//
//   in_proj: u [T, d] -> z [T, E] | x [T, E] | B [T, G·N] | C [T, G·N] | dt [T, H]   (split order z, x, B, C, dt)
//   conv:    x, B, C <- silu(causal depthwise conv + bias), window [Cv, K-1] carried across calls
//   dt      <- clamp(softplus(dt + dt_bias), dt_limit)
//   SSD:     y [T, H, P] from x, dt, A = -exp(A_log) [H], B, C, D [H]; state [H, P, N] carried
//            (with a long-context plan: mitigations and telemetry around the scan, long-context.ts)
//   norm:    y <- gated RMSNorm(y, z) per group (norm_before_gate = false)
//   out:     [T, d] = y · out_projᵀ
import type { Backend } from "../../kernels/backend.ts";
import type { Mamba2Config } from "./config.ts";
import { addBias, buildLM, type BlockContext, type Mixer } from "./lm.ts";
import { scanWithPlan, type ScanLayout } from "./long-context.ts";
import type { Scratch } from "./scratch.ts";
import { stateArray, type BuildOptions, type LayerState, type Model, type WeightSource } from "./model.ts";

export function buildMamba2(config: Mamba2Config, weights: WeightSource, backend: Backend, opts: BuildOptions = {}): Model {
  return buildLM(config, weights, backend, opts, (_i, prefix, scratch) => mamba2Mixer(config, weights, backend, opts, prefix, scratch));
}

function mamba2Mixer(c: Mamba2Config, weights: WeightSource, backend: Backend, opts: BuildOptions, prefix: string, scratch: Scratch): Mixer {
  const { d_model: d, d_inner: E, nheads: H, headdim: P, ngroups: G, d_state: N, d_conv: K } = c;
  const GN = G * N;
  const Cv = E + 2 * GN;
  const dtype = opts.weights ?? "f32";
  const w = (name: string, shape: number[]) => weights.f32(prefix + name, shape);

  // in_proj rows are [z | x | B | C | dt]; keep each block as its own resident matrix so every
  // projection lands in a contiguous array (no column shuffling on the hot path).
  const inW = w("in_proj.weight", [2 * E + 2 * GN + H, d]);
  const inB = c.bias ? w("in_proj.bias", [2 * E + 2 * GN + H]) : null;
  const sizes = [E, E, GN, GN, H];
  const offsets = sizes.map((_, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0));
  const proj = sizes.map((n, i) => backend.matrix(inW.subarray(offsets[i] * d, (offsets[i] + n) * d), n, d, dtype));
  const projBias = sizes.map((n, i) => (inB ? inB.subarray(offsets[i], offsets[i] + n) : null));

  const convW = w("conv1d.weight", [Cv, 1, K]);
  const convB = c.conv_bias ? w("conv1d.bias", [Cv]) : null;
  const dtBias = w("dt_bias", [H]);
  const A = w("A_log", [H]).map((v) => -Math.exp(v));
  const Dskip = w("D", [H]);
  const normW = c.rmsnorm ? w("norm.weight", [E]) : null;
  const outProj = backend.matrix(w("out_proj.weight", [d, E]), d, E, dtype);
  const outB = c.bias ? w("out_proj.bias", [d]) : null;
  const groupSize = c.norm_per_group ? E / G : E;
  const [lo, hi] = c.dt_limit;

  // conv channel ranges of x, B, C inside the [Cv, ...] conv weight / window
  const convRange = [[0, E], [E, E + GN], [E + GN, Cv]] as const;
  const layout: ScanLayout = { U: H, P, N, G, A, An: 1, D: Dskip };
  const projKeys = ["m2.z", "m2.xr", "m2.Br", "m2.Cr", "m2.dt"];
  const convKeys = ["m2.x", "m2.B", "m2.C"];
  const project = (u: Float32Array, T: number, i: number) =>
    addBias(backend, backend.matmul(u, T, proj[i], scratch.get(projKeys[i], T * sizes[i])), T, projBias[i]);
  const conv = (v: Float32Array, T: number, state: LayerState, i: number) => {
    const [c0, c1] = convRange[i];
    return backend.conv1d(
      v, T, c1 - c0, K, convW.subarray(c0 * K, c1 * K), convB ? convB.subarray(c0, c1) : null,
      state.conv.subarray(c0 * (K - 1), c1 * (K - 1)), scratch.get(convKeys[i], T * (c1 - c0)),
    );
  };

  return {
    paramCount: inW.length + (inB?.length ?? 0) + convW.length + (convB?.length ?? 0) + 3 * H +
      (normW?.length ?? 0) + d * E + (outB?.length ?? 0),
    newState: (): LayerState => ({ conv: stateArray(backend, Cv * (K - 1)), ssm: stateArray(backend, H * P * N) }),
    forward(u: Float32Array, T: number, state: LayerState, at: BlockContext): Float32Array {
      const z = project(u, T, 0), dt = project(u, T, 4);
      const x = conv(project(u, T, 1), T, state, 0);
      const B = conv(project(u, T, 2), T, state, 1);
      const C = conv(project(u, T, 3), T, state, 2);
      backend.dtSoftplus(dt, T, H, dtBias, lo, hi);
      let y: Float32Array;
      const out = scratch.get("m2.y", T * H * P);
      if (!at.plan) y = backend.ssdScan({ T, H, P, G, N, x, dt, A, B, C, D: Dskip, state: state.ssm, chunkSize: c.chunk_size, out });
      else {
        state.aux = scanWithPlan(layout, at.plan, state.aux, at.position, T, x, dt, C, state.ssm, out, (t0, t1, xs, dts, Ds) => {
          backend.ssdScan({
            T: t1 - t0, H, P, G, N, A, D: Ds, state: state.ssm, chunkSize: c.chunk_size,
            x: xs.subarray(t0 * H * P, t1 * H * P), dt: dts.subarray(t0 * H, t1 * H),
            B: B.subarray(t0 * GN, t1 * GN), C: C.subarray(t0 * GN, t1 * GN), out: out.subarray(t0 * H * P, t1 * H * P),
          });
        }, backend);
        y = out;
      }
      const gated = normW
        ? backend.gatedRmsnorm(y, z, T, E, groupSize, normW, c.norm_eps, c.norm_before_gate, scratch.get("m2.gated", T * E))
        : backend.siluGate(y, z);
      return addBias(backend, backend.matmul(gated, T, outProj, scratch.get("m2.out", T * d)), T, outB);
    },
  };
}
