// The S4 / S4D ops (kernels/backend.ts S4Ops) on the wasm kernels of wasm/src/s4.rs.
// Shapes as in kernels/backend.ts: T steps, H channels, M complex modes, Cc output channels, R rank,
// L kernel length; complex arrays interleave (re, im).
//
//   diagScan, dplrScan   f32x4 recurrences, channels split over threads
//   vandermondeKernel    float64 powers (f64x2), (c, h) rows split over threads
//   fftConv              float32 radix-2 FFT (f32x4) at the power of two >= T + taps − 1 of the
//                        zero-padded sequences; short blocks (that length < 64) by the direct sum
//   cauchyKernel         float64 Cauchy sums + Woodbury + inverse FFT of length L (radix-2, or
//                        Bluestein for other L), channels split over threads
//   layerNorm, activation, glu   f32x4, one thread
//
// core has no sin / cos: the FFT twiddles, the partner table of the bit-reversed spectrum, the
// roots of unity of the Cauchy nodes and the Bluestein chirps are computed here in float64, once
// per length, and kept in wasm memory for the life of the backend.
// Numerics against the cpu reference (float64 inside every op) are stated and tested in
// test/wasm-s4.test.ts.
import { BackendError } from "../../core/errors.ts";
import type { KernelName } from "../../wasm/pkg/bindings.ts";
import type {
  CauchyKernelArgs, DiagScanArgs, DplrScanArgs, FftConvArgs, S4Activation, S4Ops, VandermondeKernelArgs,
} from "../backend.ts";
import { fft, isPowerOfTwo, nextPowerOfTwo } from "../cpu/fft.ts";
import { Slot, type WasmRuntime } from "./runtime.ts";

/** Mode-steps (or equivalent work) one thread should have before a call is split further. */
const MIN_WORK = 1 << 15;
/** FFT lengths below this run the causal convolution as a direct sum. */
const MIN_FFT = 64;

const ACTIVATIONS: Record<S4Activation, number> = { id: 0, gelu: 1, tanh: 2, relu: 3, elu: 4, silu: 5, sigmoid: 6, softplus: 7 };

const stride = (bytes: number) => ((bytes + 63) >> 6) << 6;

function dims(op: string, o: Record<string, number>, min = 1): void {
  for (const [k, v] of Object.entries(o))
    if (!Number.isInteger(v) || v < min) throw new BackendError(`${op}: ${k} must be an integer >= ${min}, got ${v}`, "wasm");
}

function need(op: string, what: string, a: Float32Array | undefined, n: number): void {
  if (!a || a.length < n) throw new BackendError(`${op}: ${what} has ${a?.length ?? 0} values, expected at least ${n}`, "wasm");
}

/** Tables of one transform length, kept in wasm memory (pointers into it). */
interface Plans {
  /** fftConv plan of length n (power of two): twr [n], twi [n] (f32), partner [n] (u32). */
  conv: Map<number, number>;
  /** cauchyKernel tables for kernel length L: ω_k [L/2 + 1][2], irfft plan (f64), Bluestein length. */
  cauchy: Map<number, { omega: number; plan: number; fftM: number }>;
}

export function createWasmS4Ops(rt: WasmRuntime, warm = true): S4Ops {
  const plans: Plans = { conv: new Map(), cauchy: new Map() };

  const f64 = (ptr: number, n: number) => {
    rt.refresh();
    return new Float64Array(rt.memory.buffer, ptr, n);
  };

  function convPlan(n: number): number {
    let p = plans.conv.get(n);
    if (p !== undefined) return p;
    p = rt.alloc(n * 12, `the FFT plan of length ${n}`);
    rt.refresh();
    const twr = rt.f32.subarray(p >>> 2, (p >>> 2) + n);
    const twi = rt.f32.subarray((p >>> 2) + n, (p >>> 2) + 2 * n);
    // stage of half-length hl at offset hl − 1: exp(−2πik/(2hl)), k < hl
    for (let hl = 1; hl < n; hl *= 2)
      for (let k = 0; k < hl; k++) {
        twr[hl - 1 + k] = Math.cos((Math.PI * k) / hl);
        twi[hl - 1 + k] = -Math.sin((Math.PI * k) / hl);
      }
    // position i of the bit-reversed spectrum holds frequency rev(i); its partner holds −rev(i)
    const bits = Math.log2(n);
    const rev = (i: number) => {
      let r = 0;
      for (let b = 0, x = i; b < bits; b++, x >>= 1) r = (r << 1) | (x & 1);
      return r;
    };
    const partner = rt.i32.subarray((p >>> 2) + 2 * n, (p >>> 2) + 3 * n);
    for (let i = 0; i < n; i++) partner[i] = rev((n - rev(i)) & (n - 1));
    plans.conv.set(n, p);
    return p;
  }

  function cauchyPlan(L: number): { omega: number; plan: number; fftM: number } {
    let c = plans.cauchy.get(L);
    if (c) return c;
    const half = Math.floor(L / 2);
    const omega = rt.alloc((half + 1) * 16, `the Cauchy nodes of length ${L}`);
    const w = f64(omega, 2 * (half + 1));
    for (let k = 0; k <= half; k++) {
      w[2 * k] = Math.cos((2 * Math.PI * k) / L);
      w[2 * k + 1] = -Math.sin((2 * Math.PI * k) / L);
    }
    if (L % 2 === 0) {
      w[2 * half] = -1;
      w[2 * half + 1] = 0;
    }
    const twiddles = (n: number, into: Float64Array) => {
      for (let k = 0; k < n / 2; k++) {
        into[2 * k] = Math.cos((2 * Math.PI * k) / n);
        into[2 * k + 1] = -Math.sin((2 * Math.PI * k) / n);
      }
    };
    let plan: number;
    let fftM = 0;
    if (isPowerOfTwo(L)) {
      plan = rt.alloc(Math.max(16, L * 8), `the FFT plan of length ${L}`);
      twiddles(L, f64(plan, L));
    } else {
      // Bluestein (kernels/cpu/fft.ts): chirp w[j] = exp(−iπ j²/L), bf = FFT_m of conj(w) laid out circularly
      const m = nextPowerOfTwo(2 * L - 1);
      fftM = m;
      const wr = new Float64Array(L), wi = new Float64Array(L);
      for (let j = 0; j < L; j++) {
        const a = (Math.PI * ((j * j) % (2 * L))) / L;
        wr[j] = Math.cos(a);
        wi[j] = -Math.sin(a);
      }
      const bfr = new Float64Array(m), bfi = new Float64Array(m);
      bfr[0] = wr[0];
      bfi[0] = -wi[0];
      for (let j = 1; j < L; j++) {
        bfr[j] = bfr[m - j] = wr[j];
        bfi[j] = bfi[m - j] = -wi[j];
      }
      fft(bfr, bfi, false);
      plan = rt.alloc((2 * L + 2 * m + m) * 8, `the Bluestein plan of length ${L}`);
      const t = f64(plan, 2 * L + 3 * m);
      for (let j = 0; j < L; j++) {
        t[2 * j] = wr[j];
        t[2 * j + 1] = wi[j];
      }
      for (let j = 0; j < m; j++) {
        t[2 * L + 2 * j] = bfr[j];
        t[2 * L + 2 * j + 1] = bfi[j];
      }
      twiddles(m, t.subarray(2 * L + 2 * m));
    }
    c = { omega, plan, fftM };
    plans.cauchy.set(L, c);
    return c;
  }

  function vandermondeKernel(a: VandermondeKernelArgs): Float32Array {
    const { Cc, H, M, L } = a;
    dims("vandermondeKernel", { Cc, H, M });
    dims("vandermondeKernel", { L }, 0);
    need("vandermondeKernel", "v", a.v, Cc * H * M * 2);
    need("vandermondeKernel", "z", a.z, H * M * 2);
    if (a.x0) need("vandermondeKernel", "x0", a.x0, H * M * 2);
    if (a.out) need("vandermondeKernel", "out", a.out, Cc * H * L);
    if (L === 0) return a.out ?? new Float32Array(0);
    const v = rt.put(Slot.C, a.v, Cc * H * M * 2);
    const z = rt.put(Slot.A, a.z, H * M * 2);
    const x0 = a.x0 ? rt.put(Slot.State, a.x0, H * M * 2) : 0;
    const y = rt.outPtr(Slot.Y, a.out, Cc * H * L, [[v, Cc * H * M * 2], [z, H * M * 2], [x0, x0 ? H * M * 2 : 0]]);
    const minRows = Math.ceil(MIN_WORK / (M * L));
    rt.parallel("ss_s4_vandermonde", Cc * H, minRows, 1, [H, M, L, v, z, x0, y, 0, 0, 0], stride(rt.k.ss_s4_vandermonde_scratch_f64s(L) * 8));
    return rt.get(y, Cc * H * L, a.out);
  }

  function cauchyKernel(a: CauchyKernelArgs): Float32Array {
    const { Cc, H, M, R, L } = a;
    dims("cauchyKernel", { Cc, H, M, L });
    dims("cauchyKernel", { R }, 0);
    const nb = a.x0 ? 2 : 1;
    need("cauchyKernel", "dt", a.dt, H);
    need("cauchyKernel", "lambda", a.lambda, H * M * 2);
    if (R > 0) need("cauchyKernel", "P", a.P, R * H * M * 2);
    need("cauchyKernel", "B", a.B, H * M * 2);
    need("cauchyKernel", "Ct", a.Ct, Cc * H * M * 2);
    if (a.x0) need("cauchyKernel", "x0", a.x0, H * M * 2);
    const nOut = nb * Cc * H * L;
    if (a.out) need("cauchyKernel", "out", a.out, nOut);
    const { omega, plan, fftM } = cauchyPlan(L);
    const dt = rt.put(Slot.DT, a.dt, H);
    const lambda = rt.put(Slot.A, a.lambda, H * M * 2);
    const P = R > 0 ? rt.put(Slot.W, a.P, R * H * M * 2) : 0;
    const B = rt.put(Slot.B, a.B, H * M * 2);
    const Ct = rt.put(Slot.C, a.Ct, Cc * H * M * 2);
    const x0 = a.x0 ? rt.put(Slot.State, a.x0, H * M * 2) : 0;
    const y = rt.outPtr(Slot.Y, a.out, nOut, [[dt, H], [lambda, H * M * 2], [P, R * H * M * 2], [B, H * M * 2], [Ct, Cc * H * M * 2], [x0, x0 ? H * M * 2 : 0]]);
    const minCh = Math.ceil(MIN_WORK / ((Math.floor(L / 2) + 1) * M * (Cc + R) * (nb + R)));
    const scratch = rt.k.ss_s4_cauchy_scratch_f64s(Cc, M, R, L, nb, fftM) * 8;
    rt.parallel("ss_s4_cauchy", H, minCh, 1, [Cc, H, M, R, L, dt, lambda, P, B, Ct, x0, y, omega, plan, fftM, 0, 0, 0], stride(scratch));
    return rt.get(y, nOut, a.out);
  }

  function fftConv(a: FftConvArgs): Float32Array {
    const { T, H, Cc, Lk } = a;
    dims("fftConv", { H, Cc, Lk });
    dims("fftConv", { T }, 0);
    const CH = Cc * H;
    need("fftConv", "u", a.u, T * H);
    need("fftConv", "k", a.k, Cc * H * Lk);
    const Ls = a.Ls ?? T;
    if (a.kState) {
      if (!Number.isInteger(Ls) || Ls < T) throw new BackendError(`fftConv: Ls = ${Ls} is shorter than T = ${T}`, "wasm");
      need("fftConv", "kState", a.kState, Cc * H * Ls);
    }
    if (a.out) need("fftConv", "out", a.out, T * CH);
    if (T === 0) return a.out ?? new Float32Array(0);
    const taps = Math.min(Lk, T);
    let n = nextPowerOfTwo(T + taps - 1);
    if (n < MIN_FFT) n = 0;
    const plan = n ? convPlan(n) : 0;
    const u = rt.put(Slot.X, a.u, T * H);
    const k = rt.put(Slot.W, a.k, Cc * H * Lk);
    const ks = a.kState ? rt.put(Slot.Z, a.kState, Cc * H * Ls) : 0;
    const y = rt.outPtr(Slot.Y, a.out, T * CH, [[u, T * H], [k, Cc * H * Lk], [ks, ks ? Cc * H * Ls : 0]]);
    const minRows = Math.ceil(MIN_WORK / Math.max(1, n ? n * Math.log2(n) : T * taps));
    rt.parallel("ss_s4_fft_conv", CH, minRows, 1, [T, H, Cc, Lk, u, k, ks, Ls, y, n, plan, 0, 0, 0], stride(rt.k.ss_s4_fft_conv_scratch_floats(T, n) * 4));
    return rt.get(y, T * CH, a.out);
  }

  function diagScan(a: DiagScanArgs): Float32Array {
    const { T, H, M, Cc } = a;
    dims("diagScan", { H, M, Cc });
    dims("diagScan", { T }, 0);
    const n = H * M * 2, CH = Cc * H;
    need("diagScan", "dA", a.dA, n);
    need("diagScan", "dB", a.dB, n);
    need("diagScan", "dC", a.dC, Cc * n);
    need("diagScan", "u", a.u, T * H);
    need("diagScan", "state", a.state, n);
    const skip = !!a.skipOutput;
    if (!skip && a.out) need("diagScan", "out", a.out, T * CH);
    if (T === 0) return skip ? new Float32Array(0) : (a.out ?? new Float32Array(0));
    const dA = rt.put(Slot.A, a.dA, n);
    const dB = rt.put(Slot.B, a.dB, n);
    const dC = rt.put(Slot.C, a.dC, Cc * n);
    const u = rt.put(Slot.X, a.u, T * H);
    const S = rt.put(Slot.State, a.state, n);
    const y = skip ? 0 : rt.outPtr(Slot.Y, a.out, T * CH, [[dA, n], [dB, n], [dC, Cc * n], [u, T * H], [S, n]]);
    const minCh = Math.ceil(MIN_WORK / (T * M * (skip ? 1 : 1 + Cc / 2)));
    run("ss_s4_diag_scan", H, minCh, [T, H, M, Cc, dA, dB, dC, u, S, y, skip ? 1 : 0, 0, 0, 0], rt.k.ss_s4_diag_scratch_floats(M, Cc) * 4);
    rt.back(S, a.state, n);
    return skip ? new Float32Array(0) : rt.get(y, T * CH, a.out);
  }

  function dplrScan(a: DplrScanArgs): Float32Array {
    const { T, H, M, R, Cc } = a;
    dims("dplrScan", { H, M, Cc });
    dims("dplrScan", { T, R }, 0);
    const n = H * M * 2, CH = Cc * H;
    for (const [what, arr] of [["E", a.E], ["D", a.D], ["B", a.B], ["state", a.state]] as const) need("dplrScan", what, arr, n);
    if (R > 0) {
      need("dplrScan", "P", a.P, R * n);
      need("dplrScan", "W", a.W, R * n);
    }
    need("dplrScan", "dC", a.dC, Cc * n);
    need("dplrScan", "u", a.u, T * H);
    const skip = !!a.skipOutput;
    if (!skip && a.out) need("dplrScan", "out", a.out, T * CH);
    if (T === 0) return skip ? new Float32Array(0) : (a.out ?? new Float32Array(0));
    const E = rt.put(Slot.A, a.E, n);
    const D = rt.put(Slot.D, a.D, n);
    const B = rt.put(Slot.B, a.B, n);
    const P = R > 0 ? rt.put(Slot.W, a.P, R * n) : 0;
    const W = R > 0 ? rt.put(Slot.Z, a.W, R * n) : 0;
    const dC = rt.put(Slot.C, a.dC, Cc * n);
    const u = rt.put(Slot.X, a.u, T * H);
    const S = rt.put(Slot.State, a.state, n);
    const y = skip ? 0 : rt.outPtr(Slot.Y, a.out, T * CH, [[E, n], [D, n], [B, n], [P, R * n], [W, R * n], [dC, Cc * n], [u, T * H], [S, n]]);
    const minCh = Math.ceil(MIN_WORK / (T * M * (2 + R)));
    run("ss_s4_dplr_scan", H, minCh, [T, H, M, R, Cc, E, D, B, P, W, dC, u, S, y, skip ? 1 : 0, 0, 0, 0], rt.k.ss_s4_dplr_scratch_floats(M, R, Cc) * 4);
    rt.back(S, a.state, n);
    return skip ? new Float32Array(0) : rt.get(y, T * CH, a.out);
  }

  /** rt.parallel over channels with a per-thread scratch of `bytes`. */
  function run(fn: KernelName, n: number, minPerPart: number, args: number[], bytes: number): void {
    rt.parallel(fn, n, minPerPart, 1, args, stride(bytes));
  }

  function layerNorm(x: Float32Array, T: number, D: number, weight: Float32Array, bias: Float32Array, eps: number, out?: Float32Array): Float32Array {
    dims("layerNorm", { D });
    dims("layerNorm", { T }, 0);
    need("layerNorm", "x", x, T * D);
    need("layerNorm", "weight", weight, D);
    need("layerNorm", "bias", bias, D);
    if (out) need("layerNorm", "out", out, T * D);
    if (T === 0) return out ?? new Float32Array(0);
    const xp = rt.put(Slot.X, x, T * D);
    const wp = rt.put(Slot.W, weight, D);
    const bp = rt.put(Slot.Bias, bias, D);
    // in place is fine (each row is read twice, then written)
    const yp = out === x ? xp : rt.outPtr(Slot.Y, out, T * D, [[xp, T * D], [wp, D], [bp, D]]);
    rt.k.ss_s4_layer_norm(xp, T, D, wp, bp, eps, yp);
    return rt.get(yp, T * D, out);
  }

  function activation(x: Float32Array, kind: S4Activation): Float32Array {
    const code = ACTIVATIONS[kind];
    if (code === undefined) throw new BackendError(`activation: unknown kind "${kind}"`, "wasm");
    if (code === 0 || x.length === 0) return x;
    const p = rt.put(Slot.X, x, x.length);
    rt.k.ss_s4_activation(p, x.length, code);
    rt.back(p, x, x.length);
    return x;
  }

  function glu(x: Float32Array, T: number, D: number, out?: Float32Array): Float32Array {
    dims("glu", { D });
    dims("glu", { T }, 0);
    need("glu", "x", x, T * 2 * D);
    if (out) need("glu", "out", out, T * D);
    if (T === 0) return out ?? new Float32Array(0);
    const xp = rt.put(Slot.X, x, T * 2 * D);
    const yp = rt.outPtr(Slot.Y, out, T * D, [[xp, T * 2 * D]]);
    rt.k.ss_s4_glu(xp, T, D, yp);
    return rt.get(yp, T * D, out);
  }

  const ops: S4Ops = { vandermondeKernel, cauchyKernel, fftConv, diagScan, dplrScan, layerNorm, activation, glu };
  if (warm) warmUp(ops);
  return ops;
}

/**
 * Runs every S4 kernel on small inputs a few times so that V8 tiers them up before the first real
 * call (kernels/wasm/warmup.ts explains why); a few ms at start-up.
 */
function warmUp(ops: S4Ops): void {
  const T = 96, H = 4, M = 8, Cc = 1, R = 1, L = 96;
  const f = (n: number, s = 0.1) => Float32Array.from({ length: n }, (_, i) => s * Math.sin(i * 0.37 + 1));
  const z = f(H * M * 2, 0.5);
  for (let r = 0; r < 3; r++) {
    const state = f(H * M * 2);
    ops.diagScan({ T, H, M, Cc, dA: z, dB: f(H * M * 2), dC: f(Cc * H * M * 2), u: f(T * H), state });
    ops.dplrScan({ T, H, M, R, Cc, E: z, D: z, B: z, P: z, W: z, dC: z, u: f(T * H), state });
    const k = ops.vandermondeKernel({ Cc, H, M, L, v: f(Cc * H * M * 2), z, x0: state });
    ops.fftConv({ T, H, Cc, Lk: L, u: f(T * H), k, kState: k, Ls: L });
    ops.cauchyKernel({ Cc, H, M, R, L: 16, dt: f(H).map(Math.abs).map((v) => v + 0.01), lambda: z.map((v) => -Math.abs(v) - 0.1), P: z, B: z, Ct: z, x0: state });
    const x = f(T * 2 * H);
    ops.layerNorm(x, T, 2 * H, f(2 * H), f(2 * H), 1e-5, x);
    ops.activation(x, "gelu");
    ops.glu(x, T, H);
  }
}
