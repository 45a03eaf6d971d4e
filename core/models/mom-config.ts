// config.json of a MoM checkpoint → MomConfig. Two lineages (docs/mom.md):
//   model_type "mom_gated_deltanet": OpenSparseLLMs/MoM mom_naive MomGatedDeltaNetConfig (the released
//     linear-moe-hub/MoM-Gated-Deltanet-340M / -1.3B and the training configs mom_340M.json / mom_1.3B.json)
//   model_type "mom": fla MomConfig (mom_backend "gated_deltanet")
// Missing fields take the defaults of the code that wrote the file. Values the weights determine
// (vocab rows, fused or split MLP, MLP width) are read from the tensors and cross-checked.
import { CheckpointError, ConfigError } from "../errors.ts";
import type { TensorSource } from "../formats/tensor.ts";
import type { MomConfig } from "./config.ts";

type Json = Record<string, unknown>;

const TYPES = ["mom_gated_deltanet", "mom"];
const ARCHS: Record<string, MomConfig["lineage"]> = {
  MomGatedDeltaNetForCausalLM: "mom_gated_deltanet",
  MomGatedDeltaNetModel: "mom_gated_deltanet",
  MomForCausalLM: "mom",
  MomModel: "mom",
};

/** True when a parsed config.json describes a MoM gated delta-rule model. */
export function isMomConfig(j: unknown): boolean {
  if (typeof j !== "object" || j === null || Array.isArray(j)) return false;
  const o = j as Json;
  if (typeof o.model_type === "string") return TYPES.includes(o.model_type);
  return Array.isArray(o.architectures) && o.architectures.some((a) => typeof a === "string" && a in ARCHS);
}

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? s.slice(0, 60) + "…" : s;
}

export function resolveMomConfig(j: Json, file: string, tensors: TensorSource): MomConfig {
  const has = (k: string) => Object.hasOwn(j, k) && j[k] !== null;
  const err = (k: string, msg: string): never => { throw new ConfigError(msg, file, k); };
  const unsupported = (k: string, why: string): never => err(k, `${why}: not supported by scanstream`);
  const int = (k: string, def: number): number => {
    const v = has(k) ? j[k] : def;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1) err(k, `expected a positive integer, got ${show(v)}`);
    return v as number;
  };
  const num = (k: string, def: number): number => {
    const v = has(k) ? j[k] : def;
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) err(k, `expected a positive number, got ${show(v)}`);
    return v as number;
  };
  const bool = (k: string, def: boolean): boolean => {
    const v = has(k) ? j[k] : def;
    if (typeof v !== "boolean") err(k, `expected true or false, got ${show(v)}`);
    return v as boolean;
  };

  let lineage: MomConfig["lineage"];
  if (typeof j.model_type === "string") lineage = j.model_type === "mom" ? "mom" : "mom_gated_deltanet";
  else lineage = ARCHS[(j.architectures as string[]).find((a) => a in ARCHS)!];
  const naive = lineage === "mom_gated_deltanet";

  if (!naive && has("mom_backend") && j.mom_backend !== "gated_deltanet") unsupported("mom_backend", `mom_backend ${show(j.mom_backend)}`);
  if (has("attn")) unsupported("attn", "hybrid attention layers");
  if (!bool("use_short_conv", true)) unsupported("use_short_conv", "use_short_conv false");
  if (bool("single_kv_proj", false)) unsupported("single_kv_proj", "single_kv_proj true");
  if (bool("norm_first", false)) unsupported("norm_first", "norm_first true");
  const act = has("hidden_act") ? j.hidden_act : "swish";
  if (act !== "swish" && act !== "silu") unsupported("hidden_act", `hidden_act ${show(act)}`);
  if (num("capacity", 1) < 1) unsupported("capacity", "capacity < 1 (token dropping in prefill)");

  const d_model = int("hidden_size", 2048);
  const num_heads = int("num_heads", naive ? 6 : 4);
  const head_dim = int("head_dim", 256);
  const expand_v = num("expand_v", naive ? 2 : 1);
  const d_v = head_dim * expand_v;
  if (!Number.isInteger(d_v)) err("expand_v", `head_dim ${head_dim} · expand_v ${expand_v} is not an integer`);
  const num_memories = int("num_memories", naive ? 8 : 4);
  const topk = int("topk", 2);
  if (topk > num_memories) err("topk", `topk ${topk} > num_memories ${num_memories}`);
  const hidden_ratio = num("hidden_ratio", 4);
  let intermediate_size: number;
  if (has("intermediate_size")) intermediate_size = int("intermediate_size", 0);
  else {
    intermediate_size = Math.trunc((d_model * hidden_ratio * 2) / 3);
    intermediate_size = 256 * Math.ceil(intermediate_size / 256);
  }
  const names = new Set(tensors.names());
  const mlp: MomConfig["mlp"] = names.has("model.layers.0.mlp.up_proj.weight") ? "split" : "fused";
  const info = (n: string) => tensors.info?.(n) ?? (() => { const t = tensors.get(n)!; return { shape: t.shape, file: t.file, dtype: t.dtype }; })();
  if (!names.has("model.embeddings.weight")) throw new CheckpointError("not found in the checkpoint (a MoM model stores its embedding as model.embeddings.weight)", undefined, "model.embeddings.weight");
  const emb = info("model.embeddings.weight");
  if (emb.shape.length !== 2 || emb.shape[1] !== d_model) throw new CheckpointError(`has shape [${emb.shape.join(", ")}], expected [vocab_rows, ${d_model}] (hidden_size from ${file})`, emb.file, "model.embeddings.weight");
  const vocab_size = int("vocab_size", 32000);
  const vocab_rows = emb.shape[0];
  if (vocab_rows < vocab_size) err("vocab_size", `is ${vocab_size} but the embedding has only ${vocab_rows} rows`);
  const tie_embeddings = bool("tie_word_embeddings", false);
  if (!tie_embeddings && !names.has("lm_head.weight")) throw new CheckpointError("missing and the config unties it (tie_word_embeddings false)", undefined, "lm_head.weight");
  if (names.has("model.layers.0.mlp.down_proj.weight")) {
    const dn = info("model.layers.0.mlp.down_proj.weight");
    if (dn.shape[1] !== intermediate_size) err(has("intermediate_size") ? "intermediate_size" : "hidden_ratio", `implies an MLP width of ${intermediate_size} but layer 0 mlp.down_proj.weight is [${dn.shape.join(", ")}]`);
  }
  const cfg: MomConfig = {
    family: "mom",
    lineage,
    d_model,
    n_layer: int("num_hidden_layers", naive ? 21 : 24),
    vocab_size,
    vocab_rows,
    tie_embeddings,
    norm_eps: num("norm_eps", 1e-6),
    num_heads,
    head_dim,
    expand_v,
    d_k: head_dim,
    d_v,
    key_dim: num_heads * head_dim,
    value_dim: num_heads * d_v,
    conv_size: int("conv_size", 4),
    use_output_gate: has("use_output_gate") ? bool("use_output_gate", true) : bool("use_gate", true),
    num_memories,
    topk,
    shared_mem: bool("shared_mem", !naive),
    intermediate_size,
    mlp,
    chunk_size: 16,
    source: { file, style: "transformers" },
  };
  if (has("max_position_embeddings")) cfg.train_length = int("max_position_embeddings", 2048);
  return cfg;
}
