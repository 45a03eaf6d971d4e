// Deterministic random S4 / S4D models (config + weights under the state-spaces/s4 names) for tests
// and benchmarks, without a checkpoint. Same seed + same config -> the same tensors.
//
//   dt:      log-uniform in [dt_min, dt_max] (stored through the config's dt transform)
//   A:       S4D-Lin / S4D-Inv / S4D-Real inits (core/models/s4-ssm.ts diagInit), real part jittered
//   B:       1 + N(0, 0.2²) (complex), P ~ N(0, 0.5²) (DPLR), C ~ N(0, 0.5²) (complex)
//   D:       N(0, 1); encoder / decoder / output_linear ~ N(0, 1/fan_in); norms ~ U(0.5, 1.5), biases N(0, 0.1²)
// A DPLR model stores C̃ = C·(I − Ā^L) when `lKernel` > 0, as s4 checkpoints do after a forward pass.
import type { S4Config, S4Transform } from "./config.ts";
import type { WeightSource } from "./model.ts";
import { fillNormal, fillUniform, hashSeed, mulberry32 } from "./random.ts";
import { diagInit, dplrCtilde, type DiagInit, type SsmParams } from "./s4-ssm.ts";

export interface RandomTensor {
  shape: number[];
  data: Float32Array;
  dtype?: "F32" | "I64";
}

/** A full S4Config from a partial one (defaults: a small S4Block DPLR LM over bytes). */
export function s4Config(p: Partial<S4Config> = {}): S4Config {
  const task = p.task ?? "lm";
  const vocab = task === "lm" ? (p.vocab_size ?? 256) : 0;
  const block = p.block ?? "S4Block";
  const mode = p.mode ?? (block === "S4D" ? "diag" : "dplr");
  return {
    family: "s4",
    task,
    d_model: 16,
    n_layer: 2,
    d_state: 8,
    d_input: task === "lm" ? vocab : 3,
    d_output: task === "lm" ? vocab : 2,
    vocab_size: vocab,
    vocab_rows: vocab,
    tie_embeddings: false,
    block,
    mode,
    init: mode === "dplr" ? "legs" : "diag-lin",
    disc: mode === "dplr" ? "bilinear" : "zoh",
    dt_min: 0.001,
    dt_max: 0.1,
    transforms: { dt: "exp", real: "exp", imag: "none" },
    dt_tie: true,
    dt_fast: false,
    is_real: false,
    bandlimit: null,
    rank: mode === "dplr" ? 1 : 0,
    n_ssm: p.n_ssm ?? p.d_model ?? 16,
    channels: 1,
    activation: "gelu",
    final_act: "glu",
    prenorm: false,
    pooling: task === "lm" ? "none" : "mean",
    norm_eps: 1e-5,
    source: { file: "<random>", style: "state-spaces" },
    ...p,
  };
}

const inverse = (v: number, t: S4Transform): number => {
  switch (t) {
    case "none":
    case "relu":
      return v;
    case "exp":
      return Math.log(v);
    case "sigmoid":
      return Math.log(v / (1 - v));
    case "softplus":
      return Math.log(Math.expm1(v));
  }
};

/** The tensors of a random model of `config`, by state-spaces/s4 name. */
export function randomS4Tensors(config: S4Config, seed: number, opts: { lKernel?: number } = {}): Map<string, RandomTensor> {
  const c = config;
  const t = new Map<string, RandomTensor>();
  const rng = (name: string) => mulberry32(hashSeed(name, seed));
  const normal = (name: string, shape: number[], std: number, mean = 0) => {
    t.set(name, { shape, data: fillNormal(new Float32Array(shape.reduce((a, b) => a * b, 1)), rng(name), std, mean) });
    return t.get(name)!.data;
  };
  const uniform = (name: string, shape: number[], lo: number, hi: number) => {
    t.set(name, { shape, data: fillUniform(new Float32Array(shape.reduce((a, b) => a * b, 1)), rng(name), lo, hi) });
    return t.get(name)!.data;
  };
  const d = c.d_model;
  const H = d;
  const M = c.is_real ? c.d_state : c.d_state / 2;
  const S = c.block === "S4D" ? H : c.n_ssm;
  const Cc = c.channels;
  const R = c.rank;
  const init: DiagInit = c.init.includes("inv") ? "inv" : c.init.includes("real") || c.is_real ? "real" : "lin";

  if (c.task === "lm") normal("encoder.weight", [c.vocab_rows, d], 1);
  else {
    normal("encoder.weight", [d, c.d_input], 1 / Math.sqrt(c.d_input));
    normal("encoder.bias", [d], 0.1);
  }
  if (!(c.task === "lm" && c.tie_embeddings)) normal("decoder.weight", [c.d_output, d], 1 / Math.sqrt(d));
  normal("decoder.bias", [c.d_output], 0.1);

  for (let i = 0; i < c.n_layer; i++) {
    const p = `s4_layers.${i}.`;
    uniform(`norms.${i}.weight`, [d], 0.5, 1.5);
    normal(`norms.${i}.bias`, [d], 0.1);
    const A = diagInit(init, S, M);
    const jitter = uniform(p + "_jitter", [S * M], 0.8, 1.25);
    t.delete(p + "_jitter");
    const logDt = uniform(p + "_dt", [H], Math.log(c.dt_min), Math.log(c.dt_max));
    t.delete(p + "_dt");
    if (c.final_act !== null) {
      const rows = c.final_act === "glu" ? 2 * d : d;
      normal(p + "output_linear.0.weight", c.block === "S4D" ? [rows, Cc * d, 1] : [rows, Cc * d], 1 / Math.sqrt(Cc * d));
      normal(p + "output_linear.0.bias", [rows], 0.1);
    }
    if (c.block === "S4D") {
      t.set(p + "kernel.log_dt", { shape: [H], data: logDt });
      normal(p + "kernel.C", [H, M, 2], 0.5);
      t.set(p + "kernel.log_A_real", { shape: [H, M], data: Float32Array.from({ length: H * M }, (_, j) => Math.log(-A[2 * j] * jitter[j])) });
      // s4d.py: A = −exp(log_A_real) + i·A_imag (positive imaginary part)
      t.set(p + "kernel.A_imag", { shape: [H, M], data: Float32Array.from({ length: H * M }, (_, j) => -A[2 * j + 1]) });
      normal(p + "D", [H], 1);
      continue;
    }
    const k = p + "layer.kernel.";
    const dtShape = c.dt_tie ? [H, 1] : [H, M];
    t.set(k + "inv_dt", {
      shape: dtShape,
      data: Float32Array.from({ length: dtShape[0] * dtShape[1] }, (_, j) => {
        const dt = Math.exp(logDt[Math.floor(j / dtShape[1])]) * (c.dt_tie ? 1 : 0.5 + (j % M) / M);
        const raw = inverse(dt, c.transforms.dt);
        return c.dt_fast ? Math.asinh(raw) : raw;
      }),
    });
    t.set(k + "A_real", { shape: [S, M], data: Float32Array.from({ length: S * M }, (_, j) => inverse(-A[2 * j] * jitter[j], c.transforms.real)) });
    if (!c.is_real) t.set(k + "A_imag", { shape: [S, M], data: Float32Array.from({ length: S * M }, (_, j) => inverse(Math.max(-A[2 * j + 1], 1e-4), c.transforms.imag)) });
    const cplx = c.is_real ? [] : [2];
    const B = normal(k + "B", [1, S, M, ...cplx], 0.2);
    for (let j = 0; j < B.length; j += c.is_real ? 1 : 2) B[j] += 1;
    normal(k + "C", [Cc, H, M, ...cplx], 0.5);
    normal(p + "layer.D", [Cc, H], 1);
    if (c.mode === "dplr") {
      normal(k + "P", [R, S, M, 2], 0.5);
      const L = opts.lKernel ?? 0;
      t.set(k + "l_kernel", { shape: [], data: Float32Array.of(L), dtype: "I64" });
      if (L > 0) {
        // store C̃ = C(I − Ā^L) like s4 does
        const params = dplrParamsFromTensors(c, t, i);
        const Ct = dplrCtilde(params, L);
        t.get(k + "C")!.data.set(Ct);
      }
    }
  }
  return t;
}

/** The continuous DPLR parameters of layer i straight from random tensors (true C, before C̃). */
function dplrParamsFromTensors(c: S4Config, t: Map<string, RandomTensor>, i: number): SsmParams {
  const src = tensorsSource(t);
  // readSsmParams would convert C̃ back; here C is still the true C and l_kernel is set afterwards
  const H = c.d_model, M = c.d_state / 2, S = c.n_ssm, R = c.rank, Cc = c.channels;
  const k = `s4_layers.${i}.layer.kernel.`;
  const f = (n: string) => src.f32(k + n, t.get(k + n)!.shape);
  const invDt = f("inv_dt"), Ar = f("A_real"), Ai = f("A_imag"), Bw = f("B"), Cw = f("C"), Pw = f("P");
  const tr = (v: number, x: S4Transform) =>
    x === "none" ? v : x === "exp" ? Math.exp(v) : x === "relu" ? Math.max(v, 0) + 1e-4 : x === "sigmoid" ? 1 / (1 + Math.exp(-v)) : v > 20 ? v : Math.log1p(Math.exp(v));
  const dt = new Float64Array(H * M), A = new Float64Array(H * M * 2), B = new Float64Array(H * M * 2), P = new Float64Array(R * H * M * 2);
  for (let h = 0; h < H; h++)
    for (let m = 0; m < M; m++) {
      const j = h * M + m, s = h % S;
      dt[j] = tr(c.dt_fast ? Math.sinh(invDt[h]) : invDt[h], c.transforms.dt);
      A[2 * j] = -tr(Ar[s * M + m], c.transforms.real);
      A[2 * j + 1] = -tr(Ai[s * M + m], c.transforms.imag);
      B[2 * j] = Bw[2 * (s * M + m)];
      B[2 * j + 1] = Bw[2 * (s * M + m) + 1];
      for (let r = 0; r < R; r++) {
        P[2 * ((r * H + h) * M + m)] = Pw[2 * ((r * S + s) * M + m)];
        P[2 * ((r * H + h) * M + m) + 1] = Pw[2 * ((r * S + s) * M + m) + 1];
      }
    }
  return { kind: "dplr", H, M, Cc, R, disc: "bilinear", dt, A, B, C: Float64Array.from(Cw), P, D: new Float64Array(Cc * H) };
}

/** A WeightSource over in-memory tensors (shape-checked like WeightReader, size-1 dims ignored). */
export function tensorsSource(t: Map<string, RandomTensor>): WeightSource & { names(): string[] } {
  const squeeze = (s: number[]) => s.filter((x) => x !== 1);
  return {
    names: () => [...t.keys()],
    has: (name) => t.has(name),
    f32(name, shape) {
      const x = t.get(name);
      if (!x) throw new Error(`random S4 weights: no tensor ${name}`);
      if (squeeze(x.shape).join(",") !== squeeze(shape).join(",")) throw new Error(`random S4 weights: ${name} is [${x.shape}], asked [${shape}]`);
      return x.data;
    },
  };
}

export function randomS4Weights(config: S4Config, seed: number, opts: { lKernel?: number } = {}): WeightSource & { names(): string[] } {
  return tensorsSource(randomS4Tensors(config, seed, opts));
}

/** safetensors bytes of the tensors (F32, and I64 for integer buffers such as l_kernel). */
export function s4Safetensors(t: Map<string, RandomTensor>, metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  const parts: Uint8Array[] = [];
  for (const [name, x] of t) {
    let bytes: Uint8Array;
    if (x.dtype === "I64") {
      const b = new BigInt64Array(x.data.length);
      x.data.forEach((v, i) => (b[i] = BigInt(Math.round(v))));
      bytes = new Uint8Array(b.buffer);
    } else bytes = new Uint8Array(x.data.buffer, x.data.byteOffset, x.data.byteLength);
    header[name] = { dtype: x.dtype ?? "F32", shape: x.shape, data_offsets: [offset, offset + bytes.length] };
    parts.push(bytes);
    offset += bytes.length;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8);
  const hb = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + hb.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(hb.length), true);
  out.set(hb, 8);
  let o = 8 + hb.length;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
