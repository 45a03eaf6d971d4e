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

  /** Release resident memory (weights). */
  dispose(): void;
}
