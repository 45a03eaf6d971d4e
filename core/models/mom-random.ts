// Deterministic random weights and configs for MoM models (core/models/mom.ts), for property tests and
// benchmarks, in the style of core/models/random.ts (whose PRNG they use): every tensor has its own
// stream seeded from hashSeed(name, seed), so the same seed and config give the same tensors whatever
// order they are read in.
//
//   projections, router, embedding, lm_head ~ N(0, (scale/√fan_in)²)    (router logits ~ N(0, 1): varied routing)
//   conv weights ~ U(−1/√conv_size, 1/√conv_size)                        (PyTorch Conv1d default)
//   A_log = log(A), A ~ U(1, 16);  dt_bias = softplus⁻¹(dt), log dt ~ U(log 1e-3, log 0.1)   (fla init)
//   norm weights ~ U(0.5, 1.5)                                           (deliberately not 1)
//
// momConfig fills a full MomConfig from a partial one (defaults: a tiny 2-layer model; derived fields
// d_k, d_v, key_dim, value_dim computed unless given).
import type { MomConfig } from "./config.ts";
import type { WeightSource } from "./model.ts";
import { momTensorNames } from "./mom.ts";
import { fillNormal, fillUniform, hashSeed, mulberry32 } from "./random.ts";
import { CheckpointError } from "../errors.ts";

export function momConfig(p: Partial<Omit<MomConfig, "family">> = {}): MomConfig {
  const num_heads = p.num_heads ?? 2;
  const head_dim = p.head_dim ?? 4;
  const expand_v = p.expand_v ?? 1;
  const d_k = p.d_k ?? head_dim;
  const d_v = p.d_v ?? Math.round(head_dim * expand_v);
  const vocab_size = p.vocab_size ?? 32;
  return {
    family: "mom",
    lineage: p.lineage ?? "mom_gated_deltanet",
    d_model: p.d_model ?? 16,
    n_layer: p.n_layer ?? 2,
    vocab_size,
    vocab_rows: p.vocab_rows ?? vocab_size,
    tie_embeddings: p.tie_embeddings ?? true,
    norm_eps: p.norm_eps ?? 1e-6,
    num_heads, head_dim, expand_v, d_k, d_v,
    key_dim: p.key_dim ?? num_heads * d_k,
    value_dim: p.value_dim ?? num_heads * d_v,
    conv_size: p.conv_size ?? 4,
    use_output_gate: p.use_output_gate ?? true,
    num_memories: p.num_memories ?? 4,
    topk: p.topk ?? 2,
    shared_mem: p.shared_mem ?? true,
    intermediate_size: p.intermediate_size ?? 32,
    mlp: p.mlp ?? "fused",
    chunk_size: p.chunk_size ?? 16,
    source: p.source ?? { file: "(random)", style: "transformers" },
    ...(p.train_length !== undefined ? { train_length: p.train_length } : {}),
  };
}

function init(name: string, shape: number[], c: MomConfig, rand: () => number, scale: number): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  if (name.endsWith("A_log")) return out.map(() => Math.log(1 + 15 * rand()));
  if (name.endsWith("dt_bias"))
    return out.map(() => {
      const dt = Math.exp(Math.log(1e-3) + (Math.log(0.1) - Math.log(1e-3)) * rand());
      return dt + Math.log(-Math.expm1(-dt));
    });
  if (name.includes("conv1d")) return fillUniform(out, rand, -1 / Math.sqrt(c.conv_size), 1 / Math.sqrt(c.conv_size));
  if (name.includes("norm")) return fillUniform(out, rand, 0.5, 1.5);
  return fillNormal(out, rand, scale / Math.sqrt(shape[shape.length - 1]));
}

/** Random weights for `config`; `overrides` replace single tensors (by name, same shape). */
export function randomMomWeights(
  config: MomConfig, seed: number, opts: { scale?: number; overrides?: Map<string, Float32Array> } = {},
): WeightSource & { names(): string[] } {
  const specs = momTensorNames(config);
  const cache = new Map<string, Float32Array>();
  return {
    names: () => [...specs.keys()],
    has: (name) => specs.has(name),
    f32(name, shape) {
      const spec = specs.get(name);
      if (!spec) throw new CheckpointError("not in the random MoM model", undefined, name);
      if (spec.join() !== shape.join()) throw new CheckpointError(`shape [${shape}] requested, random tensor is [${spec}]`, undefined, name);
      let t = cache.get(name);
      if (!t) {
        t = opts.overrides?.get(name)?.slice() ?? init(name, spec, config, mulberry32(hashSeed(name, seed)), opts.scale ?? 1);
        cache.set(name, t);
      }
      return t.slice();
    },
  };
}
