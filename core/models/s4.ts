// S4 / S4D models: the state-spaces/s4 example.py S4Model wrapper around S4D (models/s4/s4d.py) or
// S4Block (models/s4/s4.py) layers, as a language model (token ids in, logits out per step) or as a
// sequence model on float inputs. See shared reference s4.md and docs/s4.md.
//
// Shape letters: T steps, d d_model (= H channels of every SSM), M complex modes per channel
// (d_state/2), Cc output channels per SSM, R rank, V vocabulary rows, I d_input, O d_output.
//
//   encoder:  ids -> embedding [T, d]  (LM)   |   u [T, I] -> u·Wᵀ + b [T, d]  (sequence model)
//   layer i:  z = prenorm ? LayerNorm_i(x) : x
//             y = SSM(z) [T, Cc·d] + D ⊙ z;  y = act(y)  (GELU)
//             y = output_linear(y): Linear(Cc·d -> 2d) + GLU  ->  [T, d]
//             x = x + y;  if !prenorm: x = LayerNorm_i(x)
//   decoder:  [T, d] -> [T, O] per step (logits for the LM; the sequence model pools afterwards)
//
// SSM(z) runs in one of two modes that compute the same function (test/s4-*.test.ts proves it):
//   recurrent: x <- dA⊙x + dB·u, y = 2Re(C·x)  (S4D; s4's O(N) Woodbury step for DPLR) — streaming
//   conv:      y = K * u by FFT with the kernel of length `chunk` (Vandermonde for S4D, Cauchy +
//              Woodbury for DPLR), plus the response of the carried state, and the state advanced
//              over the chunk — so a long stream never needs an L-length kernel.
import type { Backend, Matrix, S4Activation, S4Ops } from "../../kernels/backend.ts";
import { cpuS4Ops } from "../../kernels/cpu/s4.ts";
import { CheckpointError, OptionError } from "../errors.ts";
import type { S4Config, S4Transform } from "./config.ts";
import { addBias, forwardInBlocks } from "./lm.ts";
import { Scratch } from "./scratch.ts";
import type { BuildOptions, LayerState, LogitsMode, Model, ModelState, WeightSource } from "./model.ts";
import {
  discretizeDiag, dplrCtilde, dplrRecoverC, dplrSystem, kernelWeights,
  type DiagSystem, type DplrSystem, type SsmParams,
} from "./s4-ssm.ts";

export type S4Mode = "auto" | "conv" | "recurrent";

export interface S4BuildOptions extends BuildOptions {
  /** How blocks of T > 1 steps run (default auto: recurrent, the faster on the cpu reference and on wasm; see docs/s4.md). */
  s4Mode?: S4Mode;
  /** Kernel length of the conv mode (default maxBlock, 256): longer blocks run in chunks of it. */
  chunk?: number;
}

export interface S4Model extends Model {
  readonly config: S4Config;
  /** Which implementation runs the S4 ops: the backend's own, or the cpu reference as a fallback. */
  readonly s4Ops: string;
  readonly mode: S4Mode;
  readonly layers: readonly SsmLayer[];
  /** Sequence model: u [T, d_input] -> per-step outputs [T, d_output] (before pooling); state updated. */
  forwardFloat(u: Float32Array, T: number, state: ModelState): Float32Array;
}

export function isS4Model(m: Model): m is S4Model {
  return m.config.family === "s4";
}

// ---------------------------------------------------------------- the SSM of one layer

/** One S4 / S4D SSM over H channels: kernel, recurrent and chunked-convolution modes. The state is
 *  float32 [H, M, 2] (one of each conjugate pair; for DPLR the conjugate-symmetric half). */
export class SsmLayer {
  readonly H: number;
  readonly M: number;
  readonly Cc: number;
  readonly R: number;
  private readonly diag: DiagSystem | null;
  private readonly dplr: DplrSystem | null;
  private readonly v: Float32Array | null;
  private readonly kernels = new Map<number, Float32Array>();
  private readonly ctilde = new Map<number, Float32Array>();

  /**
   * `alloc` makes the arrays the ops read at every call — the discretised operands and the states
   * of newState() — where the backend's ops use them in place (wasm linear memory: backend.alloc),
   * so a streaming step does not copy them in and out; default: ordinary arrays.
   */
  constructor(readonly params: SsmParams, readonly ops: S4Ops, private readonly alloc: (n: number) => Float32Array = (n) => new Float32Array(n)) {
    this.H = params.H;
    this.M = params.M;
    this.Cc = params.Cc;
    this.R = params.R;
    const keep = (a: Float32Array): Float32Array => {
      const r = this.alloc(a.length);
      r.set(a);
      return r;
    };
    if (params.kind === "diag") {
      const d = discretizeDiag(params);
      this.diag = { dA: keep(d.dA), dB: keep(d.dB), dC: keep(d.dC) };
      this.v = keep(kernelWeights(d, this.Cc, this.H, this.M));
      this.dplr = null;
    } else {
      const s = dplrSystem(params);
      this.dplr = { dt: keep(s.dt), lambda: keep(s.lambda), P: keep(s.P), B: keep(s.B), E: keep(s.E), D: keep(s.D), W: keep(s.W), dC: keep(s.dC) };
      this.diag = null;
      this.v = null;
    }
  }

  newState(): Float32Array {
    return this.alloc(this.H * this.M * 2);
  }

  /** C̃ = C(I − Ā^L) for the DPLR kernel of length L (cached). */
  private ct(L: number): Float32Array {
    let c = this.ctilde.get(L);
    if (!c) {
      const ct = dplrCtilde(this.params, L);
      c = this.alloc(ct.length);
      c.set(ct);
      this.ctilde.set(L, c);
    }
    return c;
  }

  /** The convolution kernel K: [Cc, H, L], K_l = 2Re(C·dA^l·dB) (cached per L). */
  kernel(L: number): Float32Array {
    let k = this.kernels.get(L);
    if (k) return k;
    const { Cc, H, M, R } = this;
    if (this.diag) k = this.ops.vandermondeKernel({ Cc, H, M, L, v: this.v!, z: this.diag.dA });
    else {
      const s = this.dplr!;
      k = this.ops.cauchyKernel({ Cc, H, M, R, L, dt: s.dt, lambda: s.lambda, P: s.P, B: s.B, Ct: this.ct(L) });
    }
    if (this.kernels.size > 4) this.kernels.clear();
    const kept = this.alloc(k.length);
    kept.set(k);
    this.kernels.set(L, kept);
    return kept;
  }

  /** Recurrent mode: y [T, Cc·H] (no D term), state advanced in place. */
  recurrent(u: Float32Array, T: number, state: Float32Array, out?: Float32Array): Float32Array {
    const { Cc, H, M, R } = this;
    if (this.diag) return this.ops.diagScan({ T, H, M, Cc, dA: this.diag.dA, dB: this.diag.dB, dC: this.diag.dC, u, state, out });
    const s = this.dplr!;
    return this.ops.dplrScan({ T, H, M, R, Cc, E: s.E, D: s.D, B: s.B, P: s.P, W: s.W, dC: s.dC, u, state, out });
  }

  /** Conv mode from the carried state, in chunks of at most `chunk` steps: y [T, Cc·H]. */
  conv(u: Float32Array, T: number, state: Float32Array, chunk: number, out?: Float32Array): Float32Array {
    const { Cc, H, M, R } = this;
    const CH = Cc * H;
    const y = out ?? new Float32Array(T * CH);
    const K = this.kernel(chunk);
    for (let t0 = 0; t0 < T; t0 += chunk) {
      const Tc = Math.min(chunk, T - t0);
      const uc = u.subarray(t0 * H, (t0 + Tc) * H);
      const yc = y.subarray(t0 * CH, (t0 + Tc) * CH);
      let kState: Float32Array | undefined;
      let Ls = Tc;
      const zero = state.every((v) => v === 0);
      if (this.diag) {
        const d = this.diag;
        if (!zero) kState = this.ops.vandermondeKernel({ Cc, H, M, L: Tc, v: d.dC, z: d.dA, x0: state });
        this.ops.fftConv({ T: Tc, H, Cc, Lk: chunk, u: uc, k: K, kState, Ls, out: yc });
        this.ops.diagScan({ T: Tc, H, M, Cc, dA: d.dA, dB: d.dB, dC: d.dC, u: uc, state, skipOutput: true });
      } else {
        const s = this.dplr!;
        if (!zero) {
          const both = this.ops.cauchyKernel({ Cc, H, M, R, L: chunk, dt: s.dt, lambda: s.lambda, P: s.P, B: s.B, Ct: this.ct(chunk), x0: state });
          kState = both.subarray(Cc * H * chunk);
          Ls = chunk;
        }
        this.ops.fftConv({ T: Tc, H, Cc, Lk: chunk, u: uc, k: K, kState, Ls, out: yc });
        this.ops.dplrScan({ T: Tc, H, M, R, Cc, E: s.E, D: s.D, B: s.B, P: s.P, W: s.W, dC: s.dC, u: uc, state, skipOutput: true });
      }
    }
    return y;
  }
}

// ---------------------------------------------------------------- reading the weights

const transform = (x: number, t: S4Transform): number => {
  switch (t) {
    case "none": return x;
    case "exp": return Math.exp(x);
    case "relu": return Math.max(x, 0) + 1e-4;
    case "sigmoid": return 1 / (1 + Math.exp(-x));
    case "softplus": return x > 20 ? x : Math.log1p(Math.exp(x));
  }
};

/** An integer buffer (l_kernel is an int64 scalar in s4 checkpoints). */
function readInt(weights: WeightSource, name: string): number {
  const raw = (weights as { raw?: (n: string) => { dtype: string; data: Uint8Array; file: string } }).raw;
  if (raw) {
    const t = raw.call(weights, name);
    const dv = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    if (t.dtype === "I64" && t.data.byteLength === 8) return Number(dv.getBigInt64(0, true));
    if (t.dtype === "I32" && t.data.byteLength === 4) return dv.getInt32(0, true);
  }
  return Math.round(weights.f32(name, [])[0]);
}

/** The continuous SSM parameters of layer i, expanded to all H channels (channel h uses SSM copy h % n_ssm). */
export function readSsmParams(c: S4Config, weights: WeightSource, i: number): { params: SsmParams; count: number } {
  const H = c.d_model;
  const M = c.is_real ? c.d_state : c.d_state / 2;
  const S = c.n_ssm;
  const Cc = c.channels;
  const R = c.mode === "dplr" ? c.rank : 0;
  const dt = new Float64Array(H * M);
  const A = new Float64Array(H * M * 2);
  const B = new Float64Array(H * M * 2);
  let C: Float64Array = new Float64Array(Cc * H * M * 2);
  const D = new Float64Array(Cc * H);
  let P: Float64Array | null = null;
  let count = 0;
  const w = (name: string, shape: number[]) => {
    const t = weights.f32(name, shape);
    count += t.length;
    return t;
  };

  if (c.block === "S4D") {
    const p = `s4_layers.${i}.`;
    const logDt = w(p + "kernel.log_dt", [H]);
    const Cw = w(p + "kernel.C", [H, M, 2]);
    const logAr = w(p + "kernel.log_A_real", [H, M]);
    const Ai = w(p + "kernel.A_imag", [H, M]);
    D.set(w(p + "D", [H]));
    for (let h = 0; h < H; h++)
      for (let m = 0; m < M; m++) {
        const j = h * M + m;
        dt[j] = Math.exp(logDt[h]);
        A[2 * j] = -Math.exp(logAr[j]);
        A[2 * j + 1] = Ai[j];
        B[2 * j] = 1;
      }
    C.set(Cw);
  } else {
    const p = `s4_layers.${i}.layer.kernel.`;
    const cplx = c.is_real ? [] : [2];
    const invDt = w(p + "inv_dt", [H, c.dt_tie ? 1 : M]);
    const Ar = w(p + "A_real", [S, M]);
    const Ai = c.is_real ? null : w(p + "A_imag", [S, M]);
    const Bw = w(p + "B", [1, S, M, ...cplx]);
    const Cw = w(p + "C", [Cc, H, M, ...cplx]);
    D.set(w(`s4_layers.${i}.layer.D`, [Cc, H]));
    for (let h = 0; h < H; h++) {
      const s = h % S;
      for (let m = 0; m < M; m++) {
        const j = h * M + m;
        const raw = invDt[c.dt_tie ? h : j];
        dt[j] = transform(c.dt_fast ? Math.sinh(raw) : raw, c.transforms.dt);
        A[2 * j] = -transform(Ar[s * M + m], c.transforms.real);
        A[2 * j + 1] = Ai ? -transform(Ai[s * M + m], c.transforms.imag) : 0;
        B[2 * j] = c.is_real ? Bw[s * M + m] : Bw[2 * (s * M + m)];
        B[2 * j + 1] = c.is_real ? 0 : Bw[2 * (s * M + m) + 1];
      }
    }
    for (let k = 0; k < Cc * H * M; k++) {
      C[2 * k] = c.is_real ? Cw[k] : Cw[2 * k];
      C[2 * k + 1] = c.is_real ? 0 : Cw[2 * k + 1];
    }
    if (c.mode === "dplr") {
      const Pw = w(p + "P", [R, S, M, 2]);
      P = new Float64Array(R * H * M * 2);
      for (let r = 0; r < R; r++)
        for (let h = 0; h < H; h++)
          for (let m = 0; m < M; m++) {
            const src = 2 * ((r * S + (h % S)) * M + m);
            const dst = 2 * ((r * H + h) * M + m);
            P[dst] = Pw[src];
            P[dst + 1] = Pw[src + 1];
          }
    }
    if (c.bandlimit !== null) {
      // S4ND bandlimit: zero C where dt·|Im A|/(2π) >= bandlimit/2
      for (let h = 0; h < H; h++)
        for (let m = 0; m < M; m++) {
          const j = h * M + m;
          if ((dt[j] * Math.abs(A[2 * j + 1])) / (2 * Math.PI) >= c.bandlimit * 0.5)
            for (let cc = 0; cc < Cc; cc++) C[2 * ((cc * H + h) * M + m)] = C[2 * ((cc * H + h) * M + m) + 1] = 0;
        }
    }
  }
  for (let j = 0; j < H * M; j++)
    if (!(dt[j] > 0) || !Number.isFinite(A[2 * j]) || !Number.isFinite(A[2 * j + 1])) {
      throw new CheckpointError(`layer ${i}: dt or A is not finite / positive at channel ${Math.floor(j / M)}, mode ${j % M}`, undefined, `s4_layers.${i}`);
    }
  const params: SsmParams = { kind: c.mode, H, M, Cc, R, disc: c.disc, dt, A, B, C, P, D };
  if (c.mode === "dplr") {
    // s4 stores C̃ = C(I − Ā^L) for L = l_kernel (0: C itself, never run)
    const name = `s4_layers.${i}.layer.kernel.l_kernel`;
    const L = weights.has(name) ? readInt(weights, name) : 0;
    if (L > 0) params.C = C = dplrRecoverC(params, C, L);
  }
  return { params, count };
}

// ---------------------------------------------------------------- the model

interface Block {
  ssm: SsmLayer;
  D: Float32Array;
  norm: { weight: Float32Array; bias: Float32Array };
  out: Matrix | null;
  outBias: Float32Array | null;
}

export function buildS4(config: S4Config, weights: WeightSource, backend: Backend, opts: S4BuildOptions = {}): S4Model {
  const c = config;
  const d = c.d_model;
  const dtype = opts.weights ?? "f32";
  const maxBlock = opts.maxBlock ?? 256;
  const chunk = opts.chunk ?? maxBlock;
  const mode = opts.s4Mode ?? "auto";
  if (!["auto", "conv", "recurrent"].includes(mode)) throw new OptionError(`expected auto, conv or recurrent, got "${mode}"`, "s4Mode");
  if (!(Number.isInteger(chunk) && chunk >= 1)) throw new OptionError(`expected a positive integer, got ${chunk}`, "chunk");
  // auto: the recurrence. On the cpu reference and on wasm the conv mode is no faster for a stream
  // that must carry its state (the state update is O(T·M) either way; bench/s4-bench.ts, docs/s4.md).
  const useConv = mode === "conv";
  const scratch = new Scratch(backend);
  const ops: S4Ops = backend.s4 ?? cpuS4Ops;
  // which implementation runs the S4 ops: the backend's own (cpu, wasm, gpu, webgpu), or the cpu
  // reference when the backend has none (then only the matmuls run on the backend)
  const s4Ops = backend.s4 ? `${backend.name}` : `cpu reference (backend ${backend.name} has no S4 ops)`;
  // operands and states in the backend's memory where it offers that (wasm: ops use them in place)
  const backendAlloc = (backend as { alloc?: (n: number) => Float32Array }).alloc;
  const alloc = (n: number): Float32Array => {
    if (backend.s4 && backendAlloc) {
      try {
        return backendAlloc.call(backend, n);
      } catch {
        // an ordinary array works too (copied per call)
      }
    }
    return new Float32Array(n);
  };
  let paramCount = 0;
  const w = (name: string, shape: number[]) => {
    const t = weights.f32(name, shape);
    paramCount += t.length;
    return t;
  };

  const lm = c.task === "lm";
  const encW = lm ? w("encoder.weight", [c.vocab_rows, d]) : w("encoder.weight", [d, c.d_input]);
  const encoder = lm ? backend.matrix(encW, c.vocab_rows, d, dtype) : backend.matrix(encW, d, c.d_input, dtype);
  const encBias = !lm && weights.has("encoder.bias") ? w("encoder.bias", [d]) : null;
  const tiedDecoder = lm && c.tie_embeddings && !weights.has("decoder.weight");
  const decoder = tiedDecoder ? encoder : backend.matrix(w("decoder.weight", [c.d_output, d]), c.d_output, d, dtype);
  const decBias = weights.has("decoder.bias") ? w("decoder.bias", [c.d_output]) : null;

  const blocks: Block[] = [];
  for (let i = 0; i < c.n_layer; i++) {
    const { params, count } = readSsmParams(c, weights, i);
    paramCount += count;
    const p = `s4_layers.${i}.`;
    let out: Matrix | null = null;
    let outBias: Float32Array | null = null;
    if (c.final_act !== null) {
      const rows = c.final_act === "glu" ? 2 * d : d;
      const cols = c.channels * d;
      out = backend.matrix(w(p + "output_linear.0.weight", [rows, cols]), rows, cols, dtype);
      outBias = weights.has(p + "output_linear.0.bias") ? w(p + "output_linear.0.bias", [rows]) : null;
    } else if (c.channels !== 1) {
      throw new CheckpointError(`final_act null (no output_linear) needs channels 1, got ${c.channels}`, undefined, p + "output_linear");
    }
    blocks.push({
      ssm: new SsmLayer(params, ops, alloc),
      D: Float32Array.from(params.D),
      norm: { weight: w(`norms.${i}.weight`, [d]), bias: w(`norms.${i}.bias`, [d]) },
      out,
      outBias,
    });
  }
  const stateBytes = 4 * blocks.reduce((s, b) => s + b.ssm.H * b.ssm.M * 2, 0);
  const finalAct = (c.final_act === "glu" || c.final_act === null ? "id" : c.final_act) as S4Activation;

  /** The residual stream x [T, d] through every layer; updates the state. */
  function layers(x: Float32Array, T: number, state: ModelState): Float32Array {
    if (state.plan && state.plan.kind !== "none") {
      // the long-context mitigations change Mamba's input-dependent scan; an LTI S4 layer has no such
      // knob, and running the plain recurrence instead would be a silent fallback
      throw new OptionError(`"${state.plan.requested}" acts on Mamba scans; S4 models run with mitigation "none"`, "mitigation");
    }
    for (let i = 0; i < blocks.length; i++) {
      const b = blocks[i];
      const z = c.prenorm ? ops.layerNorm(x, T, d, b.norm.weight, b.norm.bias, c.norm_eps, scratch.get("s4.z", T * d)) : x;
      const ssmState = state.layers[i].ssm;
      const Cc = b.ssm.Cc;
      const yBuf = scratch.get("s4.y", T * Cc * d);
      const y = T > 1 && useConv ? b.ssm.conv(z, T, ssmState, chunk, yBuf) : b.ssm.recurrent(z, T, ssmState, yBuf);
      for (let t = 0; t < T; t++)
        for (let cc = 0; cc < Cc; cc++)
          for (let h = 0; h < d; h++) y[(t * Cc + cc) * d + h] += b.D[cc * d + h] * z[t * d + h];
      ops.activation(y, c.activation);
      let o = y;
      if (b.out) {
        o = addBias(backend, backend.matmul(y, T, b.out, scratch.get("s4.o", T * b.out.rows)), T, b.outBias);
        o = c.final_act === "glu" ? ops.glu(o, T, d, scratch.get("s4.glu", T * d)) : ops.activation(o, finalAct);
      }
      backend.add(x, o);
      if (!c.prenorm) ops.layerNorm(x, T, d, b.norm.weight, b.norm.bias, c.norm_eps, x);
    }
    return x;
  }

  function decode(x: Float32Array, T: number, out?: Float32Array): Float32Array {
    return addBias(backend, backend.matmul(x, T, decoder, out), T, decBias);
  }

  const model: S4Model = {
    config: c,
    backend,
    paramCount,
    stateBytes,
    s4Ops,
    mode,
    layers: blocks.map((b) => b.ssm),
    newState: (): ModelState => ({
      position: 0,
      layers: blocks.map((b): LayerState => ({ conv: new Float32Array(0), ssm: b.ssm.newState() })),
    }),
    forward(ids: ArrayLike<number>, state: ModelState, logits: LogitsMode, out?: Float32Array): Float32Array | null {
      if (!lm) throw new OptionError("this S4 checkpoint is a sequence model on float inputs (d_input " + c.d_input + "): use forwardFloat / `scanstream run`", "ids");
      return forwardInBlocks(ids, state, logits, c.d_output, maxBlock, out, (part, lastOnly) => {
        const x = layers(backend.embed(part, encoder, scratch.get("s4.x", part.length * d)), part.length, state);
        return lastOnly ? x.subarray((part.length - 1) * d) : x;
      }, decode);
    },
    forwardFloat(u: Float32Array, T: number, state: ModelState): Float32Array {
      if (lm) throw new OptionError("this S4 checkpoint is a language model: feed token ids (forward / Session)", "input");
      const I = c.d_input;
      if (u.length < T * I) throw new OptionError(`expected [${T}, ${I}] inputs, got ${u.length} values`, "input");
      const O = c.d_output;
      const y = new Float32Array(T * O);
      for (let t0 = 0; t0 < T; t0 += maxBlock) {
        const t1 = Math.min(T, t0 + maxBlock);
        const n = t1 - t0;
        const x = addBias(backend, backend.matmul(u.subarray(t0 * I, t1 * I), n, encoder), n, encBias);
        layers(x, n, state);
        state.position += n;
        decode(x, n, y.subarray(t0 * O, t1 * O));
      }
      return y;
    },
  };
  return model;
}

/** Pools per-step outputs [T, O] as the config says (mean / last / sum; none returns them unchanged). */
export function poolOutputs(y: Float32Array, T: number, O: number, pooling: S4Config["pooling"]): Float32Array {
  if (pooling === "none") return y;
  const out = new Float32Array(O);
  if (T === 0) return out;
  if (pooling === "last") return y.slice((T - 1) * O, T * O);
  const acc = new Float64Array(O);
  for (let t = 0; t < T; t++) for (let o = 0; o < O; o++) acc[o] += y[t * O + o];
  for (let o = 0; o < O; o++) out[o] = pooling === "mean" ? acc[o] / T : acc[o];
  return out;
}
