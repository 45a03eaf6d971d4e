// The S4 / S4D ops (kernels/backend.ts S4Ops) on the GPU backends.
//
// - Host side, shared by `gpu` and `webgpu` (kernels/gpu/index.ts and kernels/webgpu/index.ts attach
//   it as backend.s4): checks each call, sends its arrays to the worker, takes the results back.
// - Worker side, shared: the float64 preparation both engines do on the worker's CPU before and
//   between GPU passes — the polar form of dA for the Vandermonde powers, the Vandermonde weights,
//   the operands of the Cauchy sums and the rank-R Woodbury solves at each root of unity. These are
//   O(H·M) or O(H·L·R³) next to the O(H·M·L) GPU work.
// - Worker side of the gpu.js engine (kernels/gpu/engine.ts registers gpuJsS4Ops): gpu.js kernels.
//   A gpu.js thread returns one value and has no local arrays, so:
//     diagScan    = the convolution form: K (L = T) and the state response by the Vandermonde kernel,
//                   the direct causal convolution, and the final state by one thread per (h, m, re|im)
//                   looping over T — four kernel calls whatever T;
//     dplrScan    = two kernel calls per token (the low-rank dot products s = 2Re(Q·x), then the state
//                   update, which also emits the previous token's output), plus one for the last output;
//     cauchyKernel = Cauchy sums (one thread per (h, node, a, b, re|im)), the Woodbury solves here,
//                   then the inverse DFT (one thread per output, a direct sum over the L/2 + 1 nodes);
//     fftConv     = the direct causal convolution (one thread per output, a sum over min(Lk, T) taps):
//                   O(T·taps) per channel instead of the FFT's O(T log T), which a GPU absorbs for the
//                   chunk lengths S4 uses (T <= chunk, 256 by default).
// The WGSL engine (kernels/webgpu/s4.ts) runs the recurrences as one workgroup per channel instead.
//
// Powers of dA on the GPU: z^l = exp(l·ln|z|)·e^{2πi·l·θ} with θ = arg z / 2π split as hi + lo, hi
// holding few enough bits that l·hi is exact in float32 for l < L, and sin / cos evaluated by
// polynomials on [−π/4, π/4] after an exact reduction in turns — so the phase stays accurate to a
// few ulp for any l, where repeated products or a float32 l·θ would lose ~l ulp.
import { BackendError } from "../../core/errors.ts";
import type {
  CauchyKernelArgs, DiagScanArgs, DplrScanArgs, FftConvArgs, S4Activation, S4Ops, VandermondeKernelArgs,
} from "../backend.ts";
import { solveSmall } from "../cpu/s4-kernel.ts";
import { MAX_OUTPUT, ModeError, checkLoop, checkMode } from "./engine.ts";

type Call = <T>(op: string, args: unknown, transfer?: ArrayBuffer[]) => T;

export const ACTIVATION_CODES: Record<S4Activation, number> = { id: 0, gelu: 1, tanh: 2, relu: 3, elu: 4, silu: 5, sigmoid: 6, softplus: 7 };

// ---------------------------------------------------------------- host side

function dims(name: string, op: string, o: Record<string, number>, min = 1): void {
  for (const [k, v] of Object.entries(o))
    if (!Number.isInteger(v) || v < min) throw new BackendError(`${op}: ${k} must be an integer >= ${min}, got ${v}`, name);
}

function need(name: string, op: string, what: string, a: Float32Array | undefined, n: number): void {
  if (!a || a.length < n) throw new BackendError(`${op}: ${what} has ${a?.length ?? 0} values, expected at least ${n}`, name);
}

const copy = (a: Float32Array, n: number) => a.slice(0, n);
const buffers = (o: Record<string, unknown>) =>
  Object.values(o).filter((v): v is Float32Array => v instanceof Float32Array).map((v) => v.buffer as ArrayBuffer);
const put = (out: Float32Array | undefined, r: Float32Array) => {
  if (!out) return r;
  out.set(r);
  return out;
};

/** The S4 ops of a GPU backend: each op is one call into its worker (`s4.*` ops of the engine). */
export function hostS4Ops(b: { readonly name: string; call: Call }): S4Ops {
  const name = b.name;
  const call = <T>(op: string, msg: Record<string, unknown>) => b.call<T>(op, msg, buffers(msg));
  return {
    vandermondeKernel(a: VandermondeKernelArgs): Float32Array {
      const { Cc, H, M, L } = a;
      dims(name, "vandermondeKernel", { Cc, H, M });
      dims(name, "vandermondeKernel", { L }, 0);
      need(name, "vandermondeKernel", "v", a.v, Cc * H * M * 2);
      need(name, "vandermondeKernel", "z", a.z, H * M * 2);
      if (a.x0) need(name, "vandermondeKernel", "x0", a.x0, H * M * 2);
      if (a.out) need(name, "vandermondeKernel", "out", a.out, Cc * H * L);
      if (L === 0) return a.out ?? new Float32Array(0);
      const msg = { Cc, H, M, L, v: copy(a.v, Cc * H * M * 2), z: copy(a.z, H * M * 2), x0: a.x0 ? copy(a.x0, H * M * 2) : null };
      return put(a.out, call<Float32Array>("s4.vandermonde", msg));
    },
    cauchyKernel(a: CauchyKernelArgs): Float32Array {
      const { Cc, H, M, R, L } = a;
      dims(name, "cauchyKernel", { Cc, H, M, L });
      dims(name, "cauchyKernel", { R }, 0);
      need(name, "cauchyKernel", "dt", a.dt, H);
      need(name, "cauchyKernel", "lambda", a.lambda, H * M * 2);
      if (R > 0) need(name, "cauchyKernel", "P", a.P, R * H * M * 2);
      need(name, "cauchyKernel", "B", a.B, H * M * 2);
      need(name, "cauchyKernel", "Ct", a.Ct, Cc * H * M * 2);
      if (a.x0) need(name, "cauchyKernel", "x0", a.x0, H * M * 2);
      const nOut = (a.x0 ? 2 : 1) * Cc * H * L;
      if (a.out) need(name, "cauchyKernel", "out", a.out, nOut);
      const msg = {
        Cc, H, M, R, L, dt: copy(a.dt, H), lambda: copy(a.lambda, H * M * 2), P: copy(a.P, R * H * M * 2), B: copy(a.B, H * M * 2),
        Ct: copy(a.Ct, Cc * H * M * 2), x0: a.x0 ? copy(a.x0, H * M * 2) : null,
      };
      return put(a.out, call<Float32Array>("s4.cauchy", msg));
    },
    fftConv(a: FftConvArgs): Float32Array {
      const { T, H, Cc, Lk } = a;
      dims(name, "fftConv", { H, Cc, Lk });
      dims(name, "fftConv", { T }, 0);
      need(name, "fftConv", "u", a.u, T * H);
      need(name, "fftConv", "k", a.k, Cc * H * Lk);
      const Ls = a.Ls ?? T;
      if (a.kState) {
        if (!Number.isInteger(Ls) || Ls < T) throw new BackendError(`fftConv: Ls = ${Ls} is shorter than T = ${T}`, name);
        need(name, "fftConv", "kState", a.kState, Cc * H * Ls);
      }
      if (a.out) need(name, "fftConv", "out", a.out, T * Cc * H);
      if (T === 0) return a.out ?? new Float32Array(0);
      // only the taps that reach an output travel: k[:, :, :min(Lk, T)], kState[:, :, :T]
      const taps = Math.min(Lk, T);
      const k = new Float32Array(Cc * H * taps);
      for (let r = 0; r < Cc * H; r++) k.set(a.k.subarray(r * Lk, r * Lk + taps), r * taps);
      let ks: Float32Array | null = null;
      if (a.kState) {
        ks = new Float32Array(Cc * H * T);
        for (let r = 0; r < Cc * H; r++) ks.set(a.kState.subarray(r * Ls, r * Ls + T), r * T);
      }
      return put(a.out, call<Float32Array>("s4.conv", { T, H, Cc, taps, u: copy(a.u, T * H), k, ks }));
    },
    diagScan(a: DiagScanArgs): Float32Array {
      const { T, H, M, Cc } = a;
      dims(name, "diagScan", { H, M, Cc });
      dims(name, "diagScan", { T }, 0);
      const n = H * M * 2;
      need(name, "diagScan", "dA", a.dA, n);
      need(name, "diagScan", "dB", a.dB, n);
      need(name, "diagScan", "dC", a.dC, Cc * n);
      need(name, "diagScan", "u", a.u, T * H);
      need(name, "diagScan", "state", a.state, n);
      const skip = !!a.skipOutput;
      if (!skip && a.out) need(name, "diagScan", "out", a.out, T * Cc * H);
      if (T === 0) return skip ? new Float32Array(0) : (a.out ?? new Float32Array(0));
      const msg = { T, H, M, Cc, skip, dA: copy(a.dA, n), dB: copy(a.dB, n), dC: copy(a.dC, Cc * n), u: copy(a.u, T * H), state: copy(a.state, n) };
      const r = call<{ y: Float32Array; state: Float32Array }>("s4.diagScan", msg);
      a.state.set(r.state);
      return skip ? new Float32Array(0) : put(a.out, r.y);
    },
    dplrScan(a: DplrScanArgs): Float32Array {
      const { T, H, M, R, Cc } = a;
      dims(name, "dplrScan", { H, M, Cc });
      dims(name, "dplrScan", { T, R }, 0);
      const n = H * M * 2;
      for (const [what, arr] of [["E", a.E], ["D", a.D], ["B", a.B], ["state", a.state]] as const) need(name, "dplrScan", what, arr, n);
      if (R > 0) {
        need(name, "dplrScan", "P", a.P, R * n);
        need(name, "dplrScan", "W", a.W, R * n);
      }
      need(name, "dplrScan", "dC", a.dC, Cc * n);
      need(name, "dplrScan", "u", a.u, T * H);
      const skip = !!a.skipOutput;
      if (!skip && a.out) need(name, "dplrScan", "out", a.out, T * Cc * H);
      if (T === 0) return skip ? new Float32Array(0) : (a.out ?? new Float32Array(0));
      const msg = {
        T, H, M, R, Cc, skip, E: copy(a.E, n), D: copy(a.D, n), B: copy(a.B, n), P: copy(a.P, R * n), W: copy(a.W, R * n),
        dC: copy(a.dC, Cc * n), u: copy(a.u, T * H), state: copy(a.state, n),
      };
      const r = call<{ y: Float32Array; state: Float32Array }>("s4.dplrScan", msg);
      a.state.set(r.state);
      return skip ? new Float32Array(0) : put(a.out, r.y);
    },
    layerNorm(x, T, D, weight, bias, eps, out) {
      dims(name, "layerNorm", { D });
      dims(name, "layerNorm", { T }, 0);
      need(name, "layerNorm", "x", x, T * D);
      need(name, "layerNorm", "weight", weight, D);
      need(name, "layerNorm", "bias", bias, D);
      if (out) need(name, "layerNorm", "out", out, T * D);
      if (T === 0) return out ?? new Float32Array(0);
      return put(out, call<Float32Array>("s4.layerNorm", { T, D, eps, x: copy(x, T * D), w: copy(weight, D), b: copy(bias, D) }));
    },
    activation(x, kind) {
      const code = ACTIVATION_CODES[kind];
      if (code === undefined) throw new BackendError(`activation: unknown kind "${kind}"`, name);
      if (code === 0 || x.length === 0) return x;
      x.set(call<Float32Array>("s4.activation", { kind: code, x: x.slice() }));
      return x;
    },
    glu(x, T, D, out) {
      dims(name, "glu", { D });
      dims(name, "glu", { T }, 0);
      need(name, "glu", "x", x, T * 2 * D);
      if (out) need(name, "glu", "out", out, T * D);
      if (T === 0) return out ?? new Float32Array(0);
      return put(out, call<Float32Array>("s4.glu", { T, D, x: copy(x, T * 2 * D) }));
    },
  };
}

// ---------------------------------------------------------------- worker side: float64 preparation

/** Messages the worker receives (the host side above builds them). */
export interface VandermondeMsg { Cc: number; H: number; M: number; L: number; v: Float32Array; z: Float32Array; x0: Float32Array | null }
export interface CauchyMsg { Cc: number; H: number; M: number; R: number; L: number; dt: Float32Array; lambda: Float32Array; P: Float32Array; B: Float32Array; Ct: Float32Array; x0: Float32Array | null }
export interface ConvMsg { T: number; H: number; Cc: number; taps: number; u: Float32Array; k: Float32Array; ks: Float32Array | null }
export interface DiagMsg { T: number; H: number; M: number; Cc: number; skip: boolean; dA: Float32Array; dB: Float32Array; dC: Float32Array; u: Float32Array; state: Float32Array }
export interface DplrMsg { T: number; H: number; M: number; R: number; Cc: number; skip: boolean; E: Float32Array; D: Float32Array; B: Float32Array; P: Float32Array; W: Float32Array; dC: Float32Array; u: Float32Array; state: Float32Array }

/**
 * The powers of z: [H, M, 2] as zp: [H, M, 4] = (ln|z|, hi, lo, 0) with arg z / 2π = hi + lo and hi a
 * multiple of 2^−B, B = min(20, 23 − ceil(log2 L)): then l·hi is exact in float32 for l < L (|l·hi·2^B|
 * < 2^23), so frac(l·hi) is exact and only the small l·lo rounds.
 */
export function polarPowers(z: Float32Array, H: number, M: number, L: number): Float32Array {
  const B = Math.max(0, Math.min(20, 23 - Math.ceil(Math.log2(Math.max(2, L)))));
  const scale = 2 ** B;
  const zp = new Float32Array(H * M * 4);
  for (let i = 0; i < H * M; i++) {
    const re = z[2 * i], im = z[2 * i + 1];
    const turns = Math.atan2(im, re) / (2 * Math.PI);
    const hi = Math.round(turns * scale) / scale;
    zp[4 * i] = re === 0 && im === 0 ? -1e30 : Math.log(Math.hypot(re, im));
    zp[4 * i + 1] = hi;
    zp[4 * i + 2] = turns - hi;
  }
  return zp;
}

/** Vandermonde weights [Cc, H, M, 2]: v, or v·z·x0 (the state response), products in float64. */
export function vandermondeWeights(v: Float32Array, z: Float32Array, x0: Float32Array | null, Cc: number, H: number, M: number): Float32Array {
  if (!x0) return v.slice(0, Cc * H * M * 2);
  const w = new Float32Array(Cc * H * M * 2);
  for (let c = 0; c < Cc; c++)
    for (let i = 0; i < H * M; i++) {
      const o = 2 * (c * H * M + i);
      const pr = v[o], pi = v[o + 1], zr = z[2 * i], zi = z[2 * i + 1], xr = x0[2 * i], xi = x0[2 * i + 1];
      const tr = pr * zr - pi * zi, ti = pr * zi + pi * zr;
      w[o] = tr * xr - ti * xi;
      w[o + 1] = tr * xi + ti * xr;
    }
  return w;
}

/** dC·dB: the S4D kernel weights of diagScan's convolution form, float64 products. */
export function diagWeights(dB: Float32Array, dC: Float32Array, Cc: number, H: number, M: number): Float32Array {
  const w = new Float32Array(Cc * H * M * 2);
  for (let c = 0; c < Cc; c++)
    for (let i = 0; i < H * M; i++) {
      const o = 2 * (c * H * M + i);
      w[o] = dC[o] * dB[2 * i] - dC[o + 1] * dB[2 * i + 1];
      w[o + 1] = dC[o] * dB[2 * i + 1] + dC[o + 1] * dB[2 * i];
    }
  return w;
}

/**
 * Operands of the Cauchy sums: avec [na = Cc + R, H, M, 2] = the rows of C̃ then Q = conj(P);
 * bvec [nbv = nb + R, H, M, 2] = B, the state's B' = x0/dt + (Λ·x0 − P·2Re(Q·x0))/2 (with x0), then
 * the columns of P (kernels/cpu/s4-kernel.ts cauchyKernel). The sums run over both members of each
 * conjugate pair: the shaders conjugate a, b and λ on the second half.
 */
export function cauchyOperands(a: CauchyMsg): { avec: Float32Array; bvec: Float32Array; nb: number; na: number; nbv: number } {
  const { Cc, H, M, R } = a;
  const nb = a.x0 ? 2 : 1;
  const na = Cc + R, nbv = nb + R;
  const HM2 = H * M * 2;
  const avec = new Float32Array(na * HM2);
  avec.set(a.Ct.subarray(0, Cc * HM2));
  for (let i = 0; i < R * H * M; i++) {
    avec[Cc * HM2 + 2 * i] = a.P[2 * i];
    avec[Cc * HM2 + 2 * i + 1] = -a.P[2 * i + 1];
  }
  const bvec = new Float32Array(nbv * HM2);
  bvec.set(a.B.subarray(0, HM2));
  if (a.x0) {
    const x0 = a.x0;
    for (let h = 0; h < H; h++) {
      const d = a.dt[h];
      const sr = new Float64Array(R);
      for (let r = 0; r < R; r++) {
        let s = 0;
        for (let m = 0; m < M; m++) {
          const o = 2 * ((r * H + h) * M + m), hm = 2 * (h * M + m);
          s += a.P[o] * x0[hm] + a.P[o + 1] * x0[hm + 1];
        }
        sr[r] = 2 * s;
      }
      for (let m = 0; m < M; m++) {
        const hm = 2 * (h * M + m);
        const xr = x0[hm], xi = x0[hm + 1], lr = a.lambda[hm], li = a.lambda[hm + 1];
        let tr = xr / d + (lr * xr - li * xi) / 2;
        let ti = xi / d + (lr * xi + li * xr) / 2;
        for (let r = 0; r < R; r++) {
          const o = 2 * ((r * H + h) * M + m);
          tr -= (a.P[o] * sr[r]) / 2;
          ti -= (a.P[o + 1] * sr[r]) / 2;
        }
        bvec[HM2 + hm] = tr;
        bvec[HM2 + hm + 1] = ti;
      }
    }
  }
  bvec.set(a.P.subarray(0, R * HM2), nb * HM2);
  return { avec, bvec, nb, na, nbv };
}

/**
 * The spectra K̂ [nb, Cc, H, nodes, 2] from the Cauchy sums r' [H, nodes, na, nbv, 2] by the rank-R
 * Woodbury correction K̂ = r'_CB − r'_CP·(I + f·r'_QP)⁻¹·f·r'_QB, f = (1+ω)/2 (float64; Gaussian
 * elimination with partial pivoting: kernels/cpu/s4-kernel.ts solveSmall).
 */
export function woodburySpectra(r: Float32Array, Cc: number, H: number, R: number, L: number, nb: number): Float32Array {
  const nodes = Math.floor(L / 2) + 1;
  const na = Cc + R, nbv = nb + R;
  const spec = new Float32Array(nb * Cc * H * nodes * 2);
  const xr = new Float64Array(R * R), xi = new Float64Array(R * R);
  const gr = new Float64Array(R * nb), gi = new Float64Array(R * nb);
  for (let h = 0; h < H; h++)
    for (let k = 0; k < nodes; k++) {
      const base = (h * nodes + k) * na * nbv;
      const rr = (i: number, j: number) => r[2 * (base + i * nbv + j)];
      const ri = (i: number, j: number) => r[2 * (base + i * nbv + j) + 1];
      const half = (Math.PI * k) / L;
      // (1 + ω)/2 = cos²(πk/L) − i·sin(πk/L)·cos(πk/L)
      const ch = L % 2 === 0 && 2 * k === L ? 0 : Math.cos(half), sh = Math.sin(half);
      const fr = ch * ch, fi = -sh * ch;
      if (R > 0) {
        for (let i = 0; i < R; i++) {
          for (let j = 0; j < R; j++) {
            const sr = rr(Cc + i, nb + j), si = ri(Cc + i, nb + j);
            xr[i * R + j] = (i === j ? 1 : 0) + fr * sr - fi * si;
            xi[i * R + j] = fr * si + fi * sr;
          }
          for (let b = 0; b < nb; b++) {
            const sr = rr(Cc + i, b), si = ri(Cc + i, b);
            gr[i * nb + b] = fr * sr - fi * si;
            gi[i * nb + b] = fr * si + fi * sr;
          }
        }
        solveSmall(R, nb, xr, xi, gr, gi);
      }
      for (let b = 0; b < nb; b++)
        for (let c = 0; c < Cc; c++) {
          let vr = rr(c, b), vi = ri(c, b);
          for (let s = 0; s < R; s++) {
            const cr = rr(c, nb + s), ci = ri(c, nb + s);
            vr -= cr * gr[s * nb + b] - ci * gi[s * nb + b];
            vi -= cr * gi[s * nb + b] + ci * gr[s * nb + b];
          }
          const o = 2 * (((b * Cc + c) * H + h) * nodes + k);
          spec[o] = vr;
          spec[o + 1] = vi;
        }
    }
  return spec;
}

// ---------------------------------------------------------------- gpu.js kernels (one value per thread)
/* eslint-disable */

/** (cos 2πt, sin 2πt) for t in [−1/2, 1/2] turns: the quadrant by rounding t·4 (exact), polynomials on
 *  [−π/4, π/4], rotated by the quadrant (as `cis` in kernels/webgpu/s4.ts). A gpu.js helper function
 *  (KERNEL_FUNCTIONS): a WGSL function returning vec2<f32>. */
function s4Cis(t: number) {
  const q = Math.floor(t * 4 + 0.5);
  const r = (t - q * 0.25) * 6.283185307179586;
  const r2 = r * r;
  const s = r * (1 + r2 * (-0.16666666666666666 + r2 * (0.008333333333333333 + r2 * (-0.0001984126984126984 + r2 * 0.0000027557319223985893))));
  const c = 1 + r2 * (-0.5 + r2 * (0.041666666666666664 + r2 * (-0.001388888888888889 + r2 * 0.0000248015873015873)));
  const qq = q - Math.floor(q / 4) * 4;
  let cr = c;
  let ci = s;
  if (qq > 0.5 && qq < 1.5) {
    cr = -s;
    ci = c;
  } else if (qq > 1.5 && qq < 2.5) {
    cr = -c;
    ci = -s;
  } else if (qq > 2.5) {
    cr = s;
    ci = -c;
  }
  return [cr, ci];
}

/** K[row, l] = 2·Re Σ_m w[row, m]·z[h, m]^l (z^l from the polar form zp); i = row·L + l. Loop bound: M. */
function s4Vandermonde(this: any, w: any, zp: any, H: number, M: number, L: number) {
  const i = this.thread.x;
  const row = Math.floor(i / L);
  const l = i - row * L;
  const h = row - Math.floor(row / H) * H;
  let acc = 0;
  for (let m = 0; m < M; m++) {
    const zo = (h * M + m) * 4;
    const mag = Math.exp(l * zp[zo]);
    const a = l * zp[zo + 1];
    let t = a - Math.floor(a) + l * zp[zo + 2];
    t = t - Math.floor(t + 0.5);
    const e = s4Cis(t);
    const wo = (row * M + m) * 2;
    acc += mag * (w[wo] * e[0] - w[wo + 1] * e[1]);
  }
  return 2 * acc;
}

/** y[t, row] = Σ_{j ≤ t, j < taps} k[row, j]·u[t − j, h] + ks[row, t]; k: [CH, taps], ks: [CH, T];
 *  i = t·CH + row. Loop bound: taps. */
function s4Conv(this: any, u: any, k: any, ks: any, H: number, CH: number, T: number, taps: number, hasKs: number) {
  const i = this.thread.x;
  const t = Math.floor(i / CH);
  const row = i - t * CH;
  const h = row - Math.floor(row / H) * H;
  let s = 0;
  for (let j = 0; j < taps; j++) {
    if (j <= t) s += k[row * taps + j] * u[(t - j) * H + h];
  }
  if (hasKs > 0.5) s += ks[row * T + t];
  return s;
}

/** Final state of the diagonal recurrence after T steps; i = (h·M + m)·2 + (re | im). Loop bound: T. */
function s4DiagState(this: any, dA: any, dB: any, u: any, x0: any, T: number, H: number, M: number) {
  const i = this.thread.x;
  const hm = Math.floor(i / 2);
  const ri = i - hm * 2;
  const h = Math.floor(hm / M);
  const ar = dA[hm * 2];
  const ai = dA[hm * 2 + 1];
  const br = dB[hm * 2];
  const bi = dB[hm * 2 + 1];
  let xr = x0[hm * 2];
  let xi = x0[hm * 2 + 1];
  for (let t = 0; t < T; t++) {
    const uv = u[t * H + h];
    const nr = ar * xr - ai * xi + br * uv;
    const ni = ar * xi + ai * xr + bi * uv;
    xr = nr;
    xi = ni;
  }
  let res = xi;
  if (ri < 0.5) res = xr;
  return res;
}

/** s[r, h] = 2·Re(Q_r·x) = 2·Σ_m (P.re·x.re + P.im·x.im); i = r·H + h. Loop bound: M. */
function s4DplrDots(this: any, x: any, P: any, H: number, M: number) {
  const i = this.thread.x;
  const r = Math.floor(i / H);
  const h = i - r * H;
  let acc = 0;
  for (let m = 0; m < M; m++) {
    const xo = (h * M + m) * 2;
    const po = ((r * H + h) * M + m) * 2;
    acc += P[po] * x[xo] + P[po + 1] * x[xo + 1];
  }
  return 2 * acc;
}

/**
 * One DPLR step from state x (s = s4DplrDots(x)) and input u [H], with EDB = [E | D | B] and
 * PW = [P | W] (packed: gpu.js's device allows 8 storage buffers): i < H·M·2 gives the new state
 *   w_m = E_m·x_m + 2·B_m·u − Σ_q P_q,m·s_q;  x'_m = D_m·(w_m − Σ_r P_r,m·2Re(Σ_m' W_r,m'·w_m'))
 * (each thread recomputes the w_m' it needs: O(M·R²)); i = H·M·2 + c·H + h gives y = 2Re(dC·x) of
 * the state it was given (the previous token's output). Loop bounds: M and R.
 */
function s4DplrUpdate(this: any, x: any, s: any, EDB: any, PW: any, dC: any, u: any, H: number, M: number, R: number) {
  const i = this.thread.x;
  const HM2 = H * M * 2;
  const RW = R * HM2;
  let res = 0;
  if (i < HM2) {
    const hm = Math.floor(i / 2);
    const ri = i - hm * 2;
    const h = Math.floor(hm / M);
    const m = hm - h * M;
    const u2 = 2 * u[h];
    const o = hm * 2;
    let wr = EDB[o] * x[o] - EDB[o + 1] * x[o + 1] + EDB[2 * HM2 + o] * u2;
    let wi = EDB[o] * x[o + 1] + EDB[o + 1] * x[o] + EDB[2 * HM2 + o + 1] * u2;
    for (let q = 0; q < R; q++) {
      const po = ((q * H + h) * M + m) * 2;
      wr -= PW[po] * s[q * H + h];
      wi -= PW[po + 1] * s[q * H + h];
    }
    for (let r = 0; r < R; r++) {
      let s2 = 0;
      for (let mp = 0; mp < M; mp++) {
        const op = (h * M + mp) * 2;
        let pr = EDB[op] * x[op] - EDB[op + 1] * x[op + 1] + EDB[2 * HM2 + op] * u2;
        let pi = EDB[op] * x[op + 1] + EDB[op + 1] * x[op] + EDB[2 * HM2 + op + 1] * u2;
        for (let q2 = 0; q2 < R; q2++) {
          const qo = ((q2 * H + h) * M + mp) * 2;
          pr -= PW[qo] * s[q2 * H + h];
          pi -= PW[qo + 1] * s[q2 * H + h];
        }
        const wo = RW + ((r * H + h) * M + mp) * 2;
        s2 += PW[wo] * pr - PW[wo + 1] * pi;
      }
      const po = ((r * H + h) * M + m) * 2;
      wr -= PW[po] * 2 * s2;
      wi -= PW[po + 1] * 2 * s2;
    }
    if (ri < 0.5) res = EDB[HM2 + o] * wr - EDB[HM2 + o + 1] * wi;
    else res = EDB[HM2 + o] * wi + EDB[HM2 + o + 1] * wr;
  } else {
    const j = i - HM2;
    const c = Math.floor(j / H);
    const h = j - c * H;
    let acc = 0;
    for (let m2 = 0; m2 < M; m2++) {
      const xo = (h * M + m2) * 2;
      const co = ((c * H + h) * M + m2) * 2;
      acc += dC[co] * x[xo] - dC[co + 1] * x[xo + 1];
    }
    res = 2 * acc;
  }
  return res;
}

/**
 * Cauchy sums r'_ab(ω_k) = Σ_n a_n·b_n·2dt/(2(1−ω) − (1+ω)·dt·λ_n) over both halves of the conjugate
 * pairs; o = (((h·nodes + k)·na + a)·nbv + b)·2 + (re | im). 2(1−ω) and 1+ω from the half angle
 * (4 sin², 2 cos² form: no cancellation near ω = 1). Loop bound: 2M.
 */
function s4CauchySums(this: any, avec: any, bvec: any, lam: any, dt: any, H: number, M: number, L: number, nodes: number, na: number, nbv: number) {
  const o = this.thread.x;
  const ri = o - Math.floor(o / 2) * 2;
  let q = Math.floor(o / 2);
  const jb = q - Math.floor(q / nbv) * nbv;
  q = Math.floor(q / nbv);
  const ia = q - Math.floor(q / na) * na;
  q = Math.floor(q / na);
  const k = q - Math.floor(q / nodes) * nodes;
  const h = Math.floor(q / nodes);
  // (cos, sin) of the half angle πk/L, in turns k/(2L) <= 1/4
  const t = k / (2 * L);
  const e = s4Cis(t);
  const ch = e[0];
  const sh = e[1];
  // 2(1−ω) = 4sh² + 4i·sh·ch;  1+ω = 2ch² − 2i·sh·ch
  const a1r = 4 * sh * sh;
  const a1i = 4 * sh * ch;
  const pr = 2 * ch * ch;
  const pim = -2 * sh * ch;
  const d = dt[h];
  let sr = 0;
  let si = 0;
  for (let n = 0; n < 2 * M; n++) {
    let mm = n;
    let cj = 1;
    if (n >= M) {
      mm = n - M;
      cj = -1;
    }
    const lo = (h * M + mm) * 2;
    const lr = lam[lo];
    const li = cj * lam[lo + 1];
    const qr = a1r - d * (pr * lr - pim * li);
    const qi = a1i - d * (pr * li + pim * lr);
    const den = qr * qr + qi * qi;
    const cr = (2 * d * qr) / den;
    const ci = (-2 * d * qi) / den;
    const ao = ((ia * H + h) * M + mm) * 2;
    const bo = ((jb * H + h) * M + mm) * 2;
    const ar = avec[ao];
    const ai = cj * avec[ao + 1];
    const br = bvec[bo];
    const bi = cj * bvec[bo + 1];
    const xr = ar * cr - ai * ci;
    const xi = ar * ci + ai * cr;
    sr += xr * br - xi * bi;
    si += xr * bi + xi * br;
  }
  let res = si;
  if (ri < 0.5) res = sr;
  return res;
}

/** irfft: out[row, l] = (1/L)·(X_0 + [L even](−1)^l X_{L/2} + 2·Σ_{0<k<L/2} Re(X_k e^{2πikl/L})) from
 *  spec [rows, nodes, 2]; the phase index k·l mod L is carried exactly. i = row·L + l. Loop bound: nodes. */
function s4Irfft(this: any, spec: any, L: number, nodes: number) {
  const i = this.thread.x;
  const row = Math.floor(i / L);
  const l = i - row * L;
  const so = row * nodes * 2;
  let acc = spec[so];
  const even = L - Math.floor(L / 2) * 2;
  if (even < 0.5) {
    let sg = 1;
    if (l - Math.floor(l / 2) * 2 > 0.5) sg = -1;
    acc += sg * spec[so + (nodes - 1) * 2];
  }
  let idx = 0;
  const kmax = Math.floor((L - 1) / 2);
  for (let k = 1; k < nodes; k++) {
    if (k <= kmax) {
      idx = idx + l;
      if (idx >= L) idx = idx - L;
      let t = idx / L;
      if (t > 0.5) t = t - 1;
      const e = s4Cis(t);
      acc += 2 * (spec[so + k * 2] * e[0] - spec[so + k * 2 + 1] * e[1]);
    }
  }
  return acc / L;
}

/** LayerNorm of x: [T, D] (two passes); i = t·D + d. Loop bound: D. */
function s4LayerNorm(this: any, x: any, w: any, b: any, D: number, eps: number) {
  const i = this.thread.x;
  const t = Math.floor(i / D);
  const d = i - t * D;
  let mean = 0;
  for (let k = 0; k < D; k++) mean += x[t * D + k];
  mean = mean / D;
  let v = 0;
  for (let k2 = 0; k2 < D; k2++) {
    const e = x[t * D + k2] - mean;
    v += e * e;
  }
  return (x[i] - mean) * (1 / Math.sqrt(v / D + eps)) * w[d] + b[d];
}

// gpu.js declares a loop's variable before the loop, in the enclosing block: loop variables are unique
// per kernel (a second `for (let k ...)` would be a WGSL redeclaration).

/** The activations of kernels/cpu/s4-pointwise.ts by code (ACTIVATION_CODES), float32 forms as in
 *  wasm/src/s4.rs (erf: a rational approximation; tanh / expm1: polynomials near 0). */
function s4Activation(this: any, x: any, kind: number) {
  const v = x[this.thread.x];
  let res = v;
  if (kind > 0.5 && kind < 1.5) {
    const z = v * 0.7071067811865476;
    let e = 1;
    if (z < 0) e = -1;
    if (Math.abs(z) < 4) {
      const x2 = z * z;
      let p = -0.00000000027261423 * x2 + 0.000000027706815;
      p = p * x2 - 0.000002101024;
      p = p * x2 - 0.000056925062;
      p = p * x2 - 0.00073499064;
      p = p * x2 - 0.0029546001;
      p = p * x2 - 0.016096033;
      let qq = -0.000014566072 * x2 - 0.00021337405;
      qq = qq * x2 - 0.001682827;
      qq = qq * x2 - 0.007373329;
      qq = qq * x2 - 0.014264739;
      e = (z * p) / qq;
    }
    res = 0.5 * v * (1 + e);
  } else if (kind > 1.5 && kind < 2.5) {
    const a = Math.abs(v);
    if (a < 0.25) {
      const x2 = v * v;
      res = v + v * x2 * (-0.3333333333333333 + x2 * (0.13333333333333333 + x2 * (-0.05396825396825397 + x2 * 0.021869488536155203)));
    } else {
      let t = 1 - 2 / (Math.exp(2 * a) + 1);
      if (v < 0) t = -t;
      res = t;
    }
  } else if (kind > 2.5 && kind < 3.5) {
    res = Math.max(v, 0);
  } else if (kind > 3.5 && kind < 4.5) {
    if (v <= 0) {
      if (v > -0.25) res = v + v * v * (0.5 + v * (0.16666666666666666 + v * (0.041666666666666664 + v * (0.008333333333333333 + v * 0.001388888888888889))));
      else res = Math.exp(v) - 1;
    }
  } else if (kind > 4.5 && kind < 5.5) {
    res = v / (1 + Math.exp(-v));
  } else if (kind > 5.5 && kind < 6.5) {
    res = 1 / (1 + Math.exp(-v));
  } else if (kind > 6.5) {
    if (v <= 20) {
      const e = Math.exp(v);
      const uu = e + 1;
      res = Math.log(uu) - (uu - 1 - e) / uu;
    }
  }
  return res;
}

/** GLU: x [T, 2D] -> a·sigmoid(b); i = t·D + d. */
function s4Glu(this: any, x: any, D: number) {
  const i = this.thread.x;
  const t = Math.floor(i / D);
  const d = i - t * D;
  return x[t * 2 * D + d] / (1 + Math.exp(-x[t * 2 * D + D + d]));
}
/* eslint-enable */

interface GpuJs {
  mode?: string;
  createKernel(f: unknown, s: object): any;
}

type Op = (a: any) => Promise<{ result: unknown; transfer?: ArrayBuffer[] }>;

const KERNELS = { s4Vandermonde, s4Conv, s4DiagState, s4DplrDots, s4DplrUpdate, s4CauchySums, s4Irfft, s4LayerNorm, s4Activation, s4Glu };
/** Helper functions the kernels may call (gpu.js emits those a kernel calls). */
const KERNEL_FUNCTIONS = [s4Cis];

/** The worker-side S4 ops of the gpu.js engine, on that engine's GPU instance (same mode and loop
 *  guards as kernels/gpu/engine.ts: checkMode after every call, kernels compiled per loop bound). */
export function gpuJsS4Ops(gpu: GpuJs): Record<string, Op> {
  const cache = new Map<string, any>();
  async function run(name: keyof typeof KERNELS, n: number, loop: number, ...args: unknown[]): Promise<Float32Array> {
    if (n > MAX_OUTPUT) throw new ModeError(`gpu.js kernel ${name}: output of ${n} values exceeds ${MAX_OUTPUT} (float32 index arithmetic)`);
    for (const v of args)
      if (v instanceof Float32Array && v.length > MAX_OUTPUT) throw new ModeError(`gpu.js kernel ${name}: an input of ${v.length} values exceeds ${MAX_OUTPUT} (float32 index arithmetic)`);
    const bound = loop <= 1 ? 1 : 2 ** Math.ceil(Math.log2(loop));
    const key = `${name}:${n}:${bound}`;
    let k = cache.get(key);
    if (!k) {
      k = gpu.createKernel(KERNELS[name], { output: [n], loopMaxIterations: bound, dynamicArguments: true, functions: KERNEL_FUNCTIONS });
      cache.set(key, k);
    }
    checkLoop(k, loop, name);
    // gpu.js reads an empty array as a missing argument: pad those to one value
    const r = (await k(...args.map((v) => (v instanceof Float32Array && v.length === 0 ? new Float32Array(1) : v)))) as Float32Array;
    checkMode(gpu, k, name);
    if (!(r instanceof Float32Array) || r.length !== n) throw new ModeError(`gpu.js kernel ${name} returned ${(r as Float32Array)?.length} values, expected ${n}`);
    return r;
  }
  const vander = (w: Float32Array, z: Float32Array, Cc: number, H: number, M: number, L: number) =>
    run("s4Vandermonde", Cc * H * L, M, w, polarPowers(z, H, M, L), H, M, L);
  const conv = (u: Float32Array, k: Float32Array, ks: Float32Array | null, T: number, H: number, CH: number, taps: number) =>
    run("s4Conv", T * CH, taps, u, k, ks ?? new Float32Array(1), H, CH, T, taps, ks ? 1 : 0);
  const out = (r: Float32Array) => ({ result: r, transfer: [r.buffer as ArrayBuffer] });

  return {
    async "s4.vandermonde"(a: VandermondeMsg) {
      return out(await vander(vandermondeWeights(a.v, a.z, a.x0, a.Cc, a.H, a.M), a.z, a.Cc, a.H, a.M, a.L));
    },
    async "s4.cauchy"(a: CauchyMsg) {
      const { Cc, H, M, R, L } = a;
      const nodes = Math.floor(L / 2) + 1;
      const { avec, bvec, nb, na, nbv } = cauchyOperands(a);
      const r = await run("s4CauchySums", H * nodes * na * nbv * 2, 2 * M, avec, bvec, a.lambda, a.dt, H, M, L, nodes, na, nbv);
      const spec = woodburySpectra(r, Cc, H, R, L, nb);
      return out(await run("s4Irfft", nb * Cc * H * L, nodes, spec, L, nodes));
    },
    async "s4.conv"(a: ConvMsg) {
      return out(await conv(a.u, a.k, a.ks, a.T, a.H, a.Cc * a.H, a.taps));
    },
    async "s4.diagScan"(a: DiagMsg) {
      const { T, H, M, Cc } = a;
      const CH = Cc * H;
      let y: Float32Array = new Float32Array(0);
      if (!a.skip) {
        // y = K * u + the state's response, K_l = 2Re(dC·dB·dA^l), response_t = 2Re(dC·dA^(t+1)·x0)
        const K = await vander(diagWeights(a.dB, a.dC, Cc, H, M), a.dA, Cc, H, M, T);
        const zero = a.state.every((v) => v === 0);
        const ks = zero ? null : await vander(vandermondeWeights(a.dC, a.dA, a.state, Cc, H, M), a.dA, Cc, H, M, T);
        y = await conv(a.u, K, ks, T, H, CH, T);
      }
      const state = await run("s4DiagState", H * M * 2, T, a.dA, a.dB, a.u, a.state, T, H, M);
      return { result: { y, state }, transfer: [y.buffer as ArrayBuffer, state.buffer as ArrayBuffer] };
    },
    async "s4.dplrScan"(a: DplrMsg) {
      const { T, H, M, R, Cc } = a;
      const HM2 = H * M * 2, CH = Cc * H;
      const y = new Float32Array(a.skip ? 0 : T * CH);
      let x = a.state;
      const loop = Math.max(M, R);
      const EDB = new Float32Array(3 * HM2);
      EDB.set(a.E);
      EDB.set(a.D, HM2);
      EDB.set(a.B, 2 * HM2);
      const PW = new Float32Array(Math.max(1, 2 * R * HM2));
      PW.set(a.P);
      PW.set(a.W, R * HM2);
      for (let t = 0; t <= T; t++) {
        if (t === T && a.skip) break;
        const s = R > 0 ? await run("s4DplrDots", R * H, M, x, a.P, H, M) : new Float32Array(1);
        const ut = t < T ? a.u.subarray(t * H, (t + 1) * H) : new Float32Array(H);
        const r = await run("s4DplrUpdate", HM2 + CH, loop, x, s, EDB, PW, a.dC, ut, H, M, R);
        if (t > 0 && !a.skip) y.set(r.subarray(HM2), (t - 1) * CH);
        if (t < T) x = r.slice(0, HM2);
      }
      return { result: { y, state: x }, transfer: [y.buffer as ArrayBuffer, x.buffer as ArrayBuffer] };
    },
    async "s4.layerNorm"(a: { T: number; D: number; eps: number; x: Float32Array; w: Float32Array; b: Float32Array }) {
      return out(await run("s4LayerNorm", a.T * a.D, a.D, a.x, a.w, a.b, a.D, a.eps));
    },
    async "s4.activation"(a: { kind: number; x: Float32Array }) {
      return out(await run("s4Activation", a.x.length, 1, a.x, a.kind));
    },
    async "s4.glu"(a: { T: number; D: number; x: Float32Array }) {
      return out(await run("s4Glu", a.T * a.D, 1, a.x, a.D));
    },
  };
}
