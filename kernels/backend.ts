// The Backend interface: the small set of ops the model families call, named after the math.
// A model file never knows which backend runs it. Every backend is tested op by op against `cpu`.
//
// Conventions
// - Activations are row-major Float32Arrays; shapes are given in the comment of each op
//   (T = tokens, D = channels, H = heads, P = headdim, G = groups, N = d_state, K = d_conv).
// - Weight matrices are uploaded once with `matrix()` and stay resident in the backend's memory.
// - Recurrent state (conv windows, SSM states) is float32 and updated in place by the scan ops.
// - `out` arguments, when given, receive the result (and are returned); otherwise a new array is.

export type BackendName = "cpu" | "wasm" | "gpu" | "webgpu";
export type WeightDType = "f32" | "f16" | "bf16" | "int8";

/** A resident weight matrix W: [rows, cols] (PyTorch Linear layout [out_features, in_features]). */
export interface Matrix {
  readonly rows: number;
  readonly cols: number;
  readonly dtype: WeightDType;
}

/** Mamba-2 SSD scan over T tokens for one sequence, continuing from `state`. */
export interface SsdScanArgs {
  T: number; H: number; P: number; G: number; N: number;
  /** x: [T, H, P] post-conv activations (not multiplied by dt). */
  x: Float32Array;
  /** dt: [T, H] already softplus'd (+dt_bias) and clamped. */
  dt: Float32Array;
  /** A: [H] = -exp(A_log). */
  A: Float32Array;
  /** B, C: [T, G, N]; head h reads group floor(h / (H / G)). */
  B: Float32Array;
  C: Float32Array;
  /** D: [H] skip (applied to x). */
  D: Float32Array;
  /** state: [H, P, N], read as the initial state and overwritten with the final state. */
  state: Float32Array;
  /** Chunk length Q of the chunked algorithm; results do not depend on it. */
  chunkSize: number;
  /** y: [T, H, P] output. */
  out?: Float32Array;
}

/** Mamba-1 diagonal selective scan over T tokens, continuing from `state`. */
export interface SelectiveScanArgs {
  T: number; D: number; N: number;
  /** x: [T, D] post-conv activations. */
  x: Float32Array;
  /** dt: [T, D] already softplus'd. */
  dt: Float32Array;
  /** A: [D, N] = -exp(A_log). */
  A: Float32Array;
  /** B, C: [T, N]. */
  B: Float32Array;
  C: Float32Array;
  /** Dskip: [D]. */
  Dskip: Float32Array;
  /** state: [D, N], in/out. */
  state: Float32Array;
  /** y: [T, D]. */
  out?: Float32Array;
}

// ---- S4 / S4D ops (optional: a backend without them runs the cpu reference, and says so) ----------
// Complex arrays interleave (re, im) in their last dimension ([..., 2]). Shape letters: T tokens,
// H channels (d_model), M complex modes per channel (N/2: one of each conjugate pair, so every output
// is 2·Re of a sum over M), Cc output channels per SSM (the `channels` argument of state-spaces/s4),
// R rank of the low-rank term, L kernel length. Outputs [T, Cc·H] index column c·H + h.

/** K[c, h, l] = 2·Re Σ_m v[c,h,m]·z[h,m]^l for l < L (the log-Vandermonde product of S4D). With `x0`
 *  it is the response to an initial state instead: v[c,h,m] is replaced by v·z·x0[h,m]. */
export interface VandermondeKernelArgs {
  Cc: number; H: number; M: number; L: number;
  /** v: [Cc, H, M, 2] (dC·dB for the kernel; dC for the state response). */
  v: Float32Array;
  /** z: [H, M, 2] = dA. */
  z: Float32Array;
  /** x0: [H, M, 2] initial state (optional). */
  x0?: Float32Array;
  /** [Cc, H, L]. */
  out?: Float32Array;
}

/** S4 (DPLR, bilinear) kernel by Cauchy sums at the L-th roots of unity with the Woodbury correction,
 *  then an inverse FFT of length L (any L). A = diag(Λ) − P·P* over the conjugate-extended modes. */
export interface CauchyKernelArgs {
  Cc: number; H: number; M: number; R: number; L: number;
  /** dt: [H]. */
  dt: Float32Array;
  /** lambda: [H, M, 2] diagonal part Λ (continuous time). */
  lambda: Float32Array;
  /** P: [R, H, M, 2] low-rank part. */
  P: Float32Array;
  /** B: [H, M, 2]. */
  B: Float32Array;
  /** Ct: [Cc, H, M, 2] = C̃ = C·(I − Ā^L) for this L. */
  Ct: Float32Array;
  /** x0: [H, M, 2] initial state: also return its response 2·Re(C·Ā^(l+1)·x0) as a second kernel. */
  x0?: Float32Array;
  /** [x0 ? 2 : 1, Cc, H, L]: the kernel, then the state response. */
  out?: Float32Array;
}

/** Causal convolution along T of u: [T, H] with k: [Cc, H, Lk] by FFT (any T and Lk; taps beyond T are
 *  unused): y[t, c·H+h] = Σ_{j ≤ t} k[c,h,j]·u[t−j,h] + kState[c,h,t]. */
export interface FftConvArgs {
  T: number; H: number; Cc: number; Lk: number;
  u: Float32Array;
  k: Float32Array;
  /** kState: [Cc, H, Ls] with Ls >= T (response to the initial state, added to y). */
  kState?: Float32Array;
  Ls?: number;
  /** y: [T, Cc·H]. */
  out?: Float32Array;
}

/** Recurrence of a complex diagonal SSM over T steps, continuing from `state` (updated in place):
 *  x[h,m] <- dA[h,m]·x[h,m] + dB[h,m]·u[t,h];  y[t, c·H+h] = 2·Re Σ_m dC[c,h,m]·x[h,m]. */
export interface DiagScanArgs {
  T: number; H: number; M: number; Cc: number;
  dA: Float32Array; dB: Float32Array;
  /** dC: [Cc, H, M, 2]. */
  dC: Float32Array;
  /** u: [T, H]. */
  u: Float32Array;
  /** state: [H, M, 2], in/out. */
  state: Float32Array;
  /** Only advance the state (no y). */
  skipOutput?: boolean;
  out?: Float32Array;
}

/** Bilinear DPLR recurrence in O(M·R) per step (s4's "linear" step mode), conjugate-symmetric state:
 *  w = E⊙x − P·2Re(Q·x) + 2·B·u;  x <- D⊙(w − P·2Re(W·w));  y = 2·Re(dC·x), where Q = conj(P),
 *  E = 2/dt + Λ, D = 1/(2/dt − Λ), W = (I + 2·Re(Q·D·Pᵀ))⁻¹·(Q⊙D). */
export interface DplrScanArgs {
  T: number; H: number; M: number; R: number; Cc: number;
  /** E, D, B: [H, M, 2]; P, W: [R, H, M, 2]; dC: [Cc, H, M, 2] (the true C, not C̃). */
  E: Float32Array; D: Float32Array; B: Float32Array;
  P: Float32Array; W: Float32Array;
  dC: Float32Array;
  u: Float32Array;
  state: Float32Array;
  skipOutput?: boolean;
  out?: Float32Array;
}

export type S4Activation = "gelu" | "id" | "tanh" | "relu" | "elu" | "silu" | "sigmoid" | "softplus";

export interface S4Ops {
  vandermondeKernel(a: VandermondeKernelArgs): Float32Array;
  cauchyKernel(a: CauchyKernelArgs): Float32Array;
  fftConv(a: FftConvArgs): Float32Array;
  diagScan(a: DiagScanArgs): Float32Array;
  dplrScan(a: DplrScanArgs): Float32Array;
  /** LayerNorm rows of x: [T, D] with weight and bias [D]. */
  layerNorm(x: Float32Array, T: number, D: number, weight: Float32Array, bias: Float32Array, eps: number, out?: Float32Array): Float32Array;
  /** x <- act(x), in place (gelu is the exact erf form, as torch nn.GELU()). */
  activation(x: Float32Array, kind: S4Activation): Float32Array;
  /** GLU over the last dim of x: [T, 2D] -> [T, D]: a·sigmoid(b) with a = x[:, :D], b = x[:, D:]. */
  glu(x: Float32Array, T: number, D: number, out?: Float32Array): Float32Array;
}

// ---- Gated delta rule (MoM memories; optional: a backend without it runs the cpu reference) -------
// T tokens, H heads, K key dim (d_k), V value dim (d_v). Per head, S: [K, V] (fla layout):
//   S ← exp(g_t)·S;  u_t = β_t·(v_t − Sᵀk_t);  S ← S + k_t u_tᵀ;  o_t = Sᵀ(scale·q_t)
// (kernels/cpu/delta-rule.ts has the chunked WY form and docs/mom.md the model around it).

/** One gated delta-rule scan over T tokens of one sequence and memory, continuing from `state`. */
export interface GatedDeltaArgs {
  T: number; H: number; K: number; V: number;
  /** q, k: [T, H, K] (the caller L2-normalises them; q is multiplied by `scale` here). */
  q: Float32Array; k: Float32Array;
  /** v: [T, H, V]. */
  v: Float32Array;
  /** beta: [T, H] write strength in (0, 1); g: [T, H] log decay (≤ 0 in the models; any real accepted). */
  beta: Float32Array; g: Float32Array;
  /** Multiplies q (1/√K in the models). */
  scale: number;
  /** state: [H, K, V], read as the initial state and overwritten with the final state. */
  state: Float32Array;
  /** Chunk length of the chunked form (any positive integer; results do not depend on it). */
  chunkSize?: number;
  /** out: [T, H, V]. */
  out?: Float32Array;
}

export interface DeltaRuleOps {
  /** The gated delta rule (chunked for T > 1, the step recurrence for T = 1). Returns out: [T, H, V]. */
  gatedDelta(args: GatedDeltaArgs): Float32Array;
}

export interface Backend {
  readonly name: BackendName;
  /** Human-readable detail of what actually runs (e.g. "wasm simd128, 2 threads"). */
  readonly detail: string;

  /** Upload W: [rows, cols] once; the backend may keep it in `dtype` (default f32). */
  matrix(w: Float32Array, rows: number, cols: number, dtype?: WeightDType): Matrix;
  /** y[T, rows] = x[T, cols] · Wᵀ. */
  matmul(x: Float32Array, T: number, w: Matrix, out?: Float32Array): Float32Array;
  /** out[T, cols] = W[ids[t], :] (embedding lookup on the same resident matrix). */
  embed(ids: ArrayLike<number>, w: Matrix, out?: Float32Array): Float32Array;

  /** RMSNorm rows of x: [T, D]: x * rsqrt(mean(x²) + eps) * weight[D]. */
  rmsnorm(x: Float32Array, T: number, D: number, weight: Float32Array, eps: number, out?: Float32Array): Float32Array;
  /**
   * Gated RMSNorm of y: [T, D] with gate z: [T, D], over groups of `groupSize` channels:
   * normBeforeGate ? rmsnorm(y) * silu(z) : rmsnorm(y * silu(z)).
   */
  gatedRmsnorm(
    y: Float32Array, z: Float32Array, T: number, D: number, groupSize: number,
    weight: Float32Array, eps: number, normBeforeGate: boolean, out?: Float32Array,
  ): Float32Array;

  /**
   * Causal depthwise conv1d + bias + SiLU over x: [T, C] with weight [C, K] (tap K-1 = newest),
   * continuing from window: [C, K-1] (the last K-1 inputs, oldest first), which is updated in place.
   */
  conv1d(
    x: Float32Array, T: number, C: number, K: number, weight: Float32Array, bias: Float32Array | null,
    window: Float32Array, out?: Float32Array,
  ): Float32Array;

  /** Mamba-2 SSD (chunked for T > 1, the step recurrence for T = 1). Returns y: [T, H, P]. */
  ssdScan(args: SsdScanArgs): Float32Array;
  /** Mamba-1 selective scan. Returns y: [T, D]. */
  selectiveScan(args: SelectiveScanArgs): Float32Array;

  /** dt[T, H] <- clamp(softplus(dt + bias[H]), lo, hi), in place. */
  dtSoftplus(dt: Float32Array, T: number, H: number, bias: Float32Array, lo: number, hi: number): Float32Array;
  /** y[i] <- y[i] * silu(z[i]), in place. */
  siluGate(y: Float32Array, z: Float32Array): Float32Array;
  /** a[i] <- a[i] + b[i], in place. */
  add(a: Float32Array, b: Float32Array): Float32Array;

  /** S4 / S4D ops; absent on backends that do not implement them (models then use the cpu reference). */
  readonly s4?: S4Ops;
  /** Gated delta-rule op (MoM); absent on backends that do not implement it (models then use the cpu reference). */
  readonly deltaRule?: DeltaRuleOps;

  /**
   * A zeroed float32 array the backend's ops can use in place (optional: the wasm backend returns
   * one in its linear memory, so a recurrent state is not copied in and out at every step). Callers
   * fall back to an ordinary array when absent or when it throws.
   */
  alloc?(n: number): Float32Array;

  /** Release resident memory (weights). */
  dispose(): void;
}
