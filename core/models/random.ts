// Deterministic random weights and configs for Mamba-2 / Mamba-1, for property tests and benchmarks
// (no checkpoint needed). Same seed + same config -> the same tensors, whatever order they are read in:
// every tensor has its own PRNG stream seeded from hash(name) ^ seed.
//
// Scales follow the mamba_ssm initialisation closely enough that activations look like a real model's
// (values O(1) after every norm, dt in [1e-3, 0.1], decays exp(dt·A) spread over (0, 1)):
//   projections (in_proj, x_proj, dt_proj, out_proj, embedding, lm_head) ~ N(0, (scale/sqrt(fan_in))²)
//   conv1d weight, bias ~ U(-1/sqrt(d_conv), 1/sqrt(d_conv))      (PyTorch Conv1d default, fan_in = d_conv)
//   A_log = log(A), A ~ U(1, 16)                                     (Mamba-2 init; also used for Mamba-1)
//   dt_bias (Mamba-2) / dt_proj.bias (Mamba-1) = softplus⁻¹(dt), log dt ~ U(log 1e-3, log 0.1)
//   D, norm weights (layer norms, norm_f, gated norm) ~ U(0.5, 1.5)  (deliberately not 1)
//   biases of in_proj / out_proj (only when config.bias) ~ N(0, 0.02²)
//
// mamba2Config / mamba1Config fill a full ModelConfig from a partial one. Unspecified fields take the
// released state-spaces mamba2-130m / mamba-130m values; derived fields (d_inner, nheads, vocab_rows,
// dt_rank) are computed from the given ones unless given themselves.
import { CheckpointError, ConfigError } from "../errors.ts";
import type { Mamba1Config, Mamba2Config, ModelConfig } from "./config.ts";
import type { WeightSource } from "./model.ts";

/** mulberry32: a 32-bit state PRNG, uniform in [0, 1). Small, fast and good enough for test data. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a hash of a string, mixed with a seed (so each tensor name gets its own stream). */
export function hashSeed(name: string, seed: number): number {
  let h = 0x811c9dc5 ^ Math.imul(seed >>> 0, 0x9e3779b1);
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Fills `out` with N(mean, std²) samples (Marsaglia's polar method: two samples per accepted pair of
 *  uniforms, no trigonometry; ~5 s for the 129M values of mamba2-130m on one busy core). */
export function fillNormal(out: Float32Array, rand: () => number, std: number, mean = 0): Float32Array {
  const n = out.length;
  let i = 0;
  while (i < n) {
    const u = 2 * rand() - 1;
    const v = 2 * rand() - 1;
    const s = u * u + v * v;
    if (s >= 1 || s === 0) continue;
    const f = std * Math.sqrt((-2 * Math.log(s)) / s);
    out[i++] = mean + u * f;
    if (i < n) out[i++] = mean + v * f;
  }
  return out;
}

/** Fills `out` with U(lo, hi) samples. */
export function fillUniform(out: Float32Array, rand: () => number, lo: number, hi: number): Float32Array {
  for (let i = 0; i < out.length; i++) out[i] = lo + (hi - lo) * rand();
  return out;
}

type Init =
  | { kind: "normal"; std: number }
  | { kind: "uniform"; lo: number; hi: number }
  | { kind: "A_log" }
  | { kind: "dt_bias" };

interface Spec {
  shape: number[];
  init: Init;
}

/** The families random weights exist for. */
export type MambaConfig = Mamba1Config | Mamba2Config;

/** The tensors a config needs, by canonical state-spaces name, with their shapes and initialisations.
 *  Takes any ModelConfig; families other than mamba1 / mamba2 are a ConfigError. */
export function weightSpecs(config: ModelConfig, scale = 1): Map<string, Spec> {
  if (config.family !== "mamba1" && config.family !== "mamba2")
    throw new ConfigError(`random weights exist for mamba1 and mamba2, not "${(config as { family: string }).family}"`, undefined, "family");
  const { d_model: d, vocab_rows: V, n_layer, d_inner: E, d_state: N, d_conv: K } = config;
  const specs = new Map<string, Spec>();
  const normal = (fanIn: number): Init => ({ kind: "normal", std: scale / Math.sqrt(fanIn) });
  const around1: Init = { kind: "uniform", lo: 0.5, hi: 1.5 };
  const conv: Init = { kind: "uniform", lo: -1 / Math.sqrt(K), hi: 1 / Math.sqrt(K) };
  const smallBias: Init = { kind: "normal", std: 0.02 };
  specs.set("backbone.embedding.weight", { shape: [V, d], init: normal(d) });
  if (!config.tie_embeddings) specs.set("lm_head.weight", { shape: [V, d], init: normal(d) });
  specs.set("backbone.norm_f.weight", { shape: [d], init: around1 });
  for (let i = 0; i < n_layer; i++) {
    const p = `backbone.layers.${i}.`;
    const m = p + "mixer.";
    specs.set(p + "norm.weight", { shape: [d], init: around1 });
    let inRows: number;
    let convDim: number;
    if (config.family === "mamba2") {
      const { nheads: H, ngroups: G } = config;
      inRows = 2 * E + 2 * G * N + H;
      convDim = E + 2 * G * N;
      specs.set(m + "dt_bias", { shape: [H], init: { kind: "dt_bias" } });
      specs.set(m + "A_log", { shape: [H], init: { kind: "A_log" } });
      specs.set(m + "D", { shape: [H], init: around1 });
      if (config.rmsnorm) specs.set(m + "norm.weight", { shape: [E], init: around1 });
    } else {
      const R = config.dt_rank;
      inRows = 2 * E;
      convDim = E;
      specs.set(m + "x_proj.weight", { shape: [R + 2 * N, E], init: normal(E) });
      specs.set(m + "dt_proj.weight", { shape: [E, R], init: normal(R) });
      specs.set(m + "dt_proj.bias", { shape: [E], init: { kind: "dt_bias" } });
      specs.set(m + "A_log", { shape: [E, N], init: { kind: "A_log" } });
      specs.set(m + "D", { shape: [E], init: around1 });
    }
    specs.set(m + "in_proj.weight", { shape: [inRows, d], init: normal(d) });
    if (config.bias) specs.set(m + "in_proj.bias", { shape: [inRows], init: smallBias });
    specs.set(m + "conv1d.weight", { shape: [convDim, 1, K], init: conv });
    if (config.conv_bias) specs.set(m + "conv1d.bias", { shape: [convDim], init: conv });
    specs.set(m + "out_proj.weight", { shape: [d, E], init: normal(E) });
    if (config.bias) specs.set(m + "out_proj.bias", { shape: [d], init: smallBias });
  }
  return specs;
}

const DT_MIN = 1e-3;
const DT_MAX = 0.1;

function generate(spec: Spec, rand: () => number): Float32Array {
  const out = new Float32Array(spec.shape.reduce((a, b) => a * b, 1));
  const init = spec.init;
  switch (init.kind) {
    case "normal":
      return fillNormal(out, rand, init.std);
    case "uniform":
      return fillUniform(out, rand, init.lo, init.hi);
    case "A_log":
      for (let i = 0; i < out.length; i++) out[i] = Math.log(1 + 15 * rand());
      return out;
    case "dt_bias":
      for (let i = 0; i < out.length; i++) {
        const dt = Math.exp(Math.log(DT_MIN) + (Math.log(DT_MAX) - Math.log(DT_MIN)) * rand());
        out[i] = dt + Math.log(-Math.expm1(-dt)); // softplus⁻¹(dt) = log(exp(dt) - 1)
      }
      return out;
  }
}

/**
 * A deterministic WeightSource of random weights for `config`. Tensors are generated on each read
 * (nothing is cached: a model copies what it needs into its backend), from a stream seeded by
 * (name, seed), so the order of reads does not matter. `scale` multiplies the std of the projections.
 */
export function randomWeights(config: ModelConfig, seed: number, scale = 1): WeightSource & { names(): string[] } {
  const specs = weightSpecs(config, scale);
  const file = `<random weights, seed ${seed}>`;
  return {
    has: (name) => specs.has(name),
    names: () => [...specs.keys()],
    f32(name, shape) {
      const spec = specs.get(name);
      if (!spec) throw new CheckpointError("missing", file, name);
      if (spec.shape.length !== shape.length || spec.shape.some((v, i) => v !== shape[i]))
        throw new CheckpointError(`shape [${spec.shape}], expected [${shape}]`, file, name);
      return generate(spec, mulberry32(hashSeed(name, seed)));
    },
  };
}

function padVocab(vocab: number, multiple: number): number {
  return vocab % multiple === 0 ? vocab : vocab + multiple - (vocab % multiple);
}

const RANDOM_SOURCE = { file: "<random>", style: "state-spaces" } as const;

/** A full Mamba2Config; unspecified fields are those of state-spaces/mamba2-130m (vocab rows padded to 16). */
export function mamba2Config(partial: Partial<Omit<Mamba2Config, "family">> = {}): Mamba2Config {
  const d_model = partial.d_model ?? 768;
  const expand = partial.expand ?? 2;
  const d_inner = partial.d_inner ?? expand * d_model;
  const headdim = partial.headdim ?? 64;
  const vocab_size = partial.vocab_size ?? 50277;
  return {
    n_layer: 24,
    tie_embeddings: true,
    norm_eps: 1e-5,
    d_state: 128,
    d_conv: 4,
    conv_bias: true,
    bias: false,
    ngroups: 1,
    chunk_size: 256,
    dt_limit: [0, Infinity],
    rmsnorm: true,
    norm_before_gate: false,
    norm_per_group: true,
    source: RANDOM_SOURCE,
    ...partial,
    family: "mamba2",
    d_model,
    expand,
    d_inner,
    headdim,
    nheads: partial.nheads ?? d_inner / headdim,
    vocab_size,
    vocab_rows: partial.vocab_rows ?? padVocab(vocab_size, 16),
  };
}

/** A full Mamba1Config; unspecified fields are those of state-spaces/mamba-130m (vocab rows padded to 8). */
export function mamba1Config(partial: Partial<Omit<Mamba1Config, "family">> = {}): Mamba1Config {
  const d_model = partial.d_model ?? 768;
  const expand = partial.expand ?? 2;
  const vocab_size = partial.vocab_size ?? 50277;
  return {
    n_layer: 24,
    tie_embeddings: true,
    norm_eps: 1e-5,
    d_state: 16,
    d_conv: 4,
    conv_bias: true,
    bias: false,
    source: RANDOM_SOURCE,
    ...partial,
    family: "mamba1",
    d_model,
    expand,
    d_inner: partial.d_inner ?? expand * d_model,
    dt_rank: partial.dt_rank ?? Math.ceil(d_model / 16),
    vocab_size,
    vocab_rows: partial.vocab_rows ?? padVocab(vocab_size, 8),
  };
}
