// The resolved model description every family file works from. core/formats/config.ts turns a
// state-spaces or transformers config.json into one of these; nothing downstream reads raw JSON.

export interface CommonConfig {
  /** d_model: hidden size. */
  d_model: number;
  n_layer: number;
  /** Vocabulary size the tokenizer produces (e.g. 50277). */
  vocab_size: number;
  /** Rows of the embedding / lm_head, padded to pad_vocab_size_multiple (e.g. 50288). */
  vocab_rows: number;
  tie_embeddings: boolean;
  /** RMSNorm epsilon (layer norms, norm_f and the gated norm). */
  norm_eps: number;
  d_state: number;
  d_conv: number;
  expand: number;
  /** d_inner = expand * d_model. */
  d_inner: number;
  conv_bias: boolean;
  /** in_proj / out_proj bias. */
  bias: boolean;
  /** Where the config came from, for `info` and error messages. */
  source: { file: string; style: "state-spaces" | "transformers" };
  /** Optional training context length recorded by the checkpoint (used by long-context heuristics). */
  train_length?: number;
}

export interface Mamba2Config extends CommonConfig {
  family: "mamba2";
  headdim: number;
  nheads: number;
  ngroups: number;
  chunk_size: number;
  /** dt clamp (lo, hi); (0, Infinity) means no clamp. */
  dt_limit: [number, number];
  rmsnorm: boolean;
  norm_before_gate: boolean;
  /** true: gated norm per group (mamba_ssm); false: over all of d_inner (transformers). */
  norm_per_group: boolean;
}

export interface Mamba1Config extends CommonConfig {
  family: "mamba1";
  dt_rank: number;
}

/** S4 / S4D model (state-spaces/s4 example.py S4Model wrapper); see core/models/s4-config.ts and docs/s4.md. */
export interface S4Config {
  family: "s4";
  /** "lm": token ids in (encoder = embedding), logits out per step; "sequence": float inputs [T, d_input]. */
  task: "lm" | "sequence";
  d_model: number;
  /** n_layers of the s4 code (named n_layer here like the other families). */
  n_layer: number;
  /** d_state N of the s4 code (M = N/2 complex modes per channel; M = N when is_real). */
  d_state: number;
  d_input: number;
  d_output: number;
  /** LM: vocabulary (= d_input); 0 for a sequence model. */
  vocab_size: number;
  /** LM: rows of the encoder embedding; 0 for a sequence model. */
  vocab_rows: number;
  tie_embeddings: boolean;
  /** Parameter layout: "S4D" = models/s4/s4d.py (kernel.log_dt, ...), "S4Block" = models/s4/s4.py (layer.kernel.inv_dt, ...). */
  block: "S4D" | "S4Block";
  /** Kernel family: "diag" (s4d / diag) or "dplr" (s4 / nplr / dplr). */
  mode: "diag" | "dplr";
  /** Initialisation named by the config (informational: the weights carry the trained values). */
  init: string;
  /** Discretisation of diag layers; DPLR layers are always bilinear (as in the s4 code). */
  disc: "zoh" | "bilinear";
  dt_min: number;
  dt_max: number;
  transforms: { dt: S4Transform; real: S4Transform; imag: S4Transform };
  dt_tie: boolean;
  dt_fast: boolean;
  is_real: boolean;
  bandlimit: number | null;
  rank: number;
  n_ssm: number;
  channels: number;
  activation: import("../../kernels/backend.ts").S4Activation;
  /** "glu" | "id" | another activation after output_linear, or null (no output_linear). */
  final_act: string | null;
  prenorm: boolean;
  pooling: "mean" | "last" | "sum" | "none";
  /** nn.LayerNorm eps of the norms. */
  norm_eps: number;
  source: { file: string; style: "state-spaces" | "transformers" };
  train_length?: number;
}

export type S4Transform = "none" | "exp" | "relu" | "sigmoid" | "softplus";

/** Mixture-of-Memories LM with gated delta-rule memories (fla-style `mom_gated_deltanet` / `mom`);
 *  see core/models/mom.ts and docs/mom.md. */
export interface MomConfig {
  family: "mom";
  /** Which code wrote the checkpoint: OpenSparseLLMs mom_naive (`mom_gated_deltanet`) or fla `mom`. */
  lineage: "mom_gated_deltanet" | "mom";
  /** hidden_size. */
  d_model: number;
  n_layer: number;
  vocab_size: number;
  vocab_rows: number;
  tie_embeddings: boolean;
  norm_eps: number;
  num_heads: number;
  /** d_k = head_dim; d_v = head_dim · expand_v; key_dim = num_heads · d_k; value_dim = num_heads · d_v. */
  head_dim: number;
  expand_v: number;
  d_k: number;
  d_v: number;
  key_dim: number;
  value_dim: number;
  /** Short conv kernel size (conv_size). */
  conv_size: number;
  /** use_gate (naive) / use_output_gate (fla): RMSNorm(o)·silu(g_proj(x)) instead of RMSNorm(o). */
  use_output_gate: boolean;
  num_memories: number;
  topk: number;
  shared_mem: boolean;
  /** MLP hidden size; naive checkpoints fuse gate and up in one gate_proj [2·I, d] ("fused"). */
  intermediate_size: number;
  mlp: "fused" | "split";
  /** Chunk length of the chunked delta-rule prefill (results do not depend on it). */
  chunk_size: number;
  source: { file: string; style: "state-spaces" | "transformers" };
  train_length?: number;
}

export type ModelConfig = Mamba2Config | Mamba1Config | S4Config | MomConfig;
