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

export type ModelConfig = Mamba2Config | Mamba1Config;
