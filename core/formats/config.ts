// config.json (state-spaces mamba_ssm or transformers) or Mistral params.json → ModelConfig.
// Missing fields take the defaults of the code that wrote the file (mamba_ssm MambaConfig and mixer
// constructors; transformers MambaConfig / Mamba2Config), so a config means what it meant there.
// The embedding's row count comes from the weights (vocab padding differs between conventions), and
// layer 0's in_proj is checked against the derived sizes so a config / weights mismatch is caught here
// with a message naming the field, not later as a shape error deep in a kernel.
import { CheckpointError, ConfigError } from "../errors.ts";
import type { Mamba1Config, Mamba2Config, ModelConfig } from "../models/config.ts";
import { isS4Config, resolveS4Config } from "../models/s4-config.ts";
import { isMomConfig, resolveMomConfig } from "../models/mom-config.ts";
import type { TensorSource } from "./tensor.ts";
import { WeightReader } from "./weights.ts";

type Json = Record<string, unknown>;
type Style = "state-spaces" | "transformers" | "mistral";

/** Typed field access with defaults; every error names the file and the field path. */
class Fields {
  constructor(
    readonly obj: Json,
    readonly file: string,
    readonly prefix = "",
  ) {}

  private err(key: string, msg: string): never {
    throw new ConfigError(msg, this.file, this.prefix + key);
  }

  has(key: string): boolean {
    return Object.hasOwn(this.obj, key) && this.obj[key] !== null;
  }

  raw(key: string): unknown {
    return this.has(key) ? this.obj[key] : undefined;
  }

  int(key: string, def?: number, min = 1): number {
    const v = this.has(key) ? this.obj[key] : def;
    if (v === undefined) this.err(key, "is required");
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) {
      this.err(key, `expected ${min === 1 ? "a positive integer" : `an integer >= ${min}`}, got ${show(v)}`);
    }
    return v as number;
  }

  num(key: string, def: number, positive = true): number {
    const v = this.has(key) ? this.obj[key] : def;
    if (typeof v !== "number" || !Number.isFinite(v) || (positive && v <= 0)) this.err(key, `expected a ${positive ? "positive " : ""}number, got ${show(v)}`);
    return v as number;
  }

  bool(key: string, def: boolean): boolean {
    const v = this.has(key) ? this.obj[key] : def;
    if (typeof v !== "boolean") this.err(key, `expected true or false, got ${show(v)}`);
    return v as boolean;
  }

  sub(key: string): Fields {
    const v = this.has(key) ? this.obj[key] : {};
    if (typeof v !== "object" || v === null || Array.isArray(v)) this.err(key, `expected an object, got ${show(v)}`);
    return new Fields(v as Json, this.file, `${this.prefix}${key}.`);
  }

  /** (lo, hi) with 0 <= lo < hi; hi may be Infinity (JSON `Infinity`). */
  range(key: string, def: [number, number]): [number, number] {
    const v = this.has(key) ? this.obj[key] : def;
    if (!Array.isArray(v) || v.length !== 2 || !v.every((x) => typeof x === "number" && !Number.isNaN(x)) || !(v[0] >= 0 && v[0] < v[1])) {
      this.err(key, `expected [lo, hi] with 0 <= lo < hi, got ${show(v)}`);
    }
    return [v[0], v[1]];
  }

  unsupported(key: string, why: string): never {
    this.err(key, `${why}: not supported by scanstream`);
  }
}

function show(v: unknown): string {
  if (typeof v === "number") return String(v); // JSON.stringify(Infinity) would say null
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? s.slice(0, 60) + "…" : s;
}

function detectStyle(f: Fields): Style {
  const mt = f.raw("model_type");
  if (f.has("dim") && f.has("n_layers")) return "mistral";
  if (f.has("hidden_size") || f.has("num_hidden_layers") || f.has("architectures") || mt === "mamba" || mt === "mamba2") {
    return "transformers";
  }
  if (f.has("d_model") || f.has("n_layer")) return "state-spaces";
  throw new ConfigError(
    "not a Mamba config: expected state-spaces fields (d_model, n_layer, ssm_cfg), transformers fields (model_type, hidden_size, num_hidden_layers) or Mistral params.json fields (dim, n_layers)",
    f.file,
  );
}

/** The resolved model description for `json` (parsed from `file`), cross-checked against `tensors`. */
export function resolveConfig(json: any, file: string, tensors: TensorSource): ModelConfig {
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new ConfigError("expected a JSON object", file);
  if (isS4Config(json)) return resolveS4Config(json as Json, file, tensors);
  if (isMomConfig(json)) return resolveMomConfig(json as Json, file, tensors);
  const f = new Fields(json as Json, file);
  const style = detectStyle(f);
  const cfg = style === "transformers" ? fromTransformers(f) : fromStateSpaces(style === "mistral" ? mistralAsStateSpaces(f) : f);
  cfg.source = { file, style: style === "transformers" ? "transformers" : "state-spaces" };
  for (const key of ["train_length", "max_position_embeddings", "max_seq_len"]) {
    if (f.has(key)) {
      cfg.train_length = f.int(key);
      break;
    }
  }
  checkAgainstWeights(cfg, f, tensors);
  return cfg;
}

/** params.json (dim, n_layers, n_groups, ...) is mamba_ssm's MambaConfig under other names, always Mamba-2. */
function mistralAsStateSpaces(f: Fields): Fields {
  const j = f.obj;
  const renamed: Json = { ...j, d_model: j.dim, n_layer: j.n_layers };
  const ssm: Json = { layer: "Mamba2" };
  const map: Record<string, string> = { n_groups: "ngroups", d_state: "d_state", d_conv: "d_conv", expand: "expand", head_dim: "headdim", headdim: "headdim", chunk_size: "chunk_size" };
  for (const [from, to] of Object.entries(map)) if (j[from] !== undefined) ssm[to] = j[from];
  renamed.ssm_cfg = { ...ssm, ...(typeof j.ssm_cfg === "object" && j.ssm_cfg ? (j.ssm_cfg as Json) : {}) };
  delete renamed.model_type; // Mistral writes "mamba" here although the layers are Mamba-2
  return new Fields(renamed, f.file);
}

function fromStateSpaces(f: Fields): Mamba2Config | Mamba1Config {
  const d_model = f.int("d_model");
  const n_layer = f.int("n_layer");
  const vocab_size = f.int("vocab_size", 50277);
  f.int("pad_vocab_size_multiple", 8);
  if (f.has("d_intermediate") && f.int("d_intermediate", 0, 0) > 0) f.unsupported("d_intermediate", "MLP blocks between mixers (d_intermediate > 0)");
  const attn = f.raw("attn_layer_idx");
  if (attn !== undefined && (!Array.isArray(attn) || attn.length > 0)) f.unsupported("attn_layer_idx", `attention layers ${show(attn)}`);
  if (!f.bool("rms_norm", true)) f.unsupported("rms_norm", "LayerNorm blocks (rms_norm false)");
  const tie_embeddings = f.bool("tie_embeddings", true);
  const norm_eps = f.num("norm_epsilon", 1e-5);
  const s = f.sub("ssm_cfg");
  const layer = s.raw("layer") ?? "Mamba1";
  const common = { d_model, n_layer, vocab_size, vocab_rows: 0, tie_embeddings, norm_eps };

  if (layer === "Mamba2") {
    const expand = s.int("expand", 2);
    const d_inner = expand * d_model;
    if (s.has("d_ssm") && s.int("d_ssm") !== d_inner) s.unsupported("d_ssm", `d_ssm ${show(s.raw("d_ssm"))} != d_inner ${d_inner} (partial SSM with gated MLP)`);
    if (s.bool("D_has_hdim", false)) s.unsupported("D_has_hdim", "per-channel D (D_has_hdim true)");
    checkActivation(s);
    const headdim = s.int("headdim", 64);
    return mamba2({
      ...common,
      d_state: s.int("d_state", 128),
      d_conv: s.int("d_conv", 4),
      expand,
      d_inner,
      conv_bias: s.bool("conv_bias", true),
      bias: s.bool("bias", false),
      headdim,
      ngroups: s.int("ngroups", 1),
      chunk_size: s.int("chunk_size", 256),
      dt_limit: s.range("dt_limit", [0, Infinity]),
      rmsnorm: s.bool("rmsnorm", true),
      norm_before_gate: s.bool("norm_before_gate", false),
    }, s, { headdim: "headdim", ngroups: "ngroups" });
  }
  if (layer === "Mamba1") {
    const expand = s.int("expand", 2);
    return mamba1({
      ...common,
      d_state: s.int("d_state", 16),
      d_conv: s.int("d_conv", 4),
      expand,
      d_inner: expand * d_model,
      conv_bias: s.bool("conv_bias", true),
      bias: s.bool("bias", false),
      dt_rank: dtRank(s, "dt_rank", d_model),
    });
  }
  return s.unsupported("layer", `layer type ${show(layer)} (expected "Mamba1" or "Mamba2")`);
}

function fromTransformers(f: Fields): Mamba2Config | Mamba1Config {
  const mt = f.raw("model_type");
  const arch = f.raw("architectures");
  const archs = Array.isArray(arch) ? arch.filter((a): a is string => typeof a === "string") : [];
  let family: "mamba1" | "mamba2";
  if (mt === "mamba2" || archs.includes("Mamba2ForCausalLM")) family = "mamba2";
  else if (mt === "mamba" || archs.includes("MambaForCausalLM")) family = "mamba1";
  else if (mt !== undefined) return f.unsupported("model_type", `model type ${show(mt)} (expected "mamba" or "mamba2")`);
  else return f.unsupported("architectures", `architectures ${show(arch)} (expected MambaForCausalLM or Mamba2ForCausalLM)`);

  const d_model = f.int("hidden_size", family === "mamba2" ? 4096 : 768);
  const expand = f.int("expand", 2);
  let d_inner = expand * d_model;
  if (f.has("intermediate_size") && f.int("intermediate_size") !== d_inner) {
    f.unsupported("intermediate_size", `intermediate_size ${show(f.raw("intermediate_size"))} != expand * hidden_size = ${d_inner}`);
  }
  if (!f.bool("rms_norm", true)) f.unsupported("rms_norm", "rms_norm false");
  const common = {
    d_model,
    n_layer: f.int("num_hidden_layers", family === "mamba2" ? 64 : 32),
    vocab_size: f.int("vocab_size", family === "mamba2" ? 32768 : 50280),
    vocab_rows: 0,
    norm_eps: f.num("layer_norm_epsilon", 1e-5),
    d_state: f.int("state_size", family === "mamba2" ? 128 : 16),
    d_conv: f.int("conv_kernel", 4),
    expand,
    d_inner,
    conv_bias: f.bool("use_conv_bias", true),
  };
  if (family === "mamba1") {
    return mamba1({
      ...common,
      tie_embeddings: f.bool("tie_word_embeddings", true),
      bias: f.bool("use_bias", true), // transformers' MambaConfig default really is True
      dt_rank: dtRank(f, "time_step_rank", d_model),
    });
  }
  const headdim = f.int("head_dim", 64);
  if (f.has("num_heads") && f.int("num_heads") * headdim !== d_inner) {
    f.unsupported("num_heads", `num_heads ${show(f.raw("num_heads"))} * head_dim ${headdim} != expand * hidden_size = ${d_inner}`);
  }
  return mamba2({
    ...common,
    tie_embeddings: f.bool("tie_word_embeddings", false),
    bias: f.bool("use_bias", false),
    headdim,
    ngroups: f.int("n_groups", 8),
    chunk_size: f.int("chunk_size", 256),
    dt_limit: f.range("time_step_limit", [0, Infinity]),
    rmsnorm: true,
    norm_before_gate: f.bool("norm_before_gate", false),
  }, f, { headdim: "head_dim", ngroups: "n_groups" });
}

type Mamba2Fields = Omit<Mamba2Config, "family" | "nheads" | "norm_per_group" | "source">;

function mamba2(c: Mamba2Fields, f: Fields, names: { headdim: string; ngroups: string }): Mamba2Config {
  if (c.d_inner % c.headdim !== 0) f.unsupported(names.headdim, `d_inner ${c.d_inner} is not a multiple of ${names.headdim} ${c.headdim}`);
  const nheads = c.d_inner / c.headdim;
  if (nheads % c.ngroups !== 0) f.unsupported(names.ngroups, `nheads ${nheads} is not a multiple of ${names.ngroups} ${c.ngroups}`);
  // norm_per_group: mamba_ssm normalizes each group separately; the golden logits follow it
  return { family: "mamba2", ...c, nheads, norm_per_group: true, source: { file: f.file, style: "state-spaces" } };
}

function mamba1(c: Omit<Mamba1Config, "family" | "source">): Mamba1Config {
  return { family: "mamba1", ...c, source: { file: "", style: "state-spaces" } };
}

function dtRank(f: Fields, key: string, d_model: number): number {
  return f.raw(key) === "auto" || !f.has(key) ? Math.ceil(d_model / 16) : f.int(key);
}

function checkActivation(s: Fields): void {
  const a = s.raw("activation");
  if (a !== undefined && a !== "silu" && a !== "swish") s.unsupported("activation", `activation ${show(a)}`);
}

/** vocab_rows from the embedding; lm_head and layer 0's in_proj consistent with the config. */
function checkAgainstWeights(cfg: Mamba2Config | Mamba1Config, f: Fields, tensors: TensorSource): void {
  const w = new WeightReader(tensors, { tie_embeddings: cfg.tie_embeddings });
  const emb = w.info("backbone.embedding.weight");
  if (emb.shape.length !== 2 || emb.shape[1] !== cfg.d_model) {
    throw new CheckpointError(`embedding has shape [${emb.shape.join(", ")}], expected [vocab_rows, ${cfg.d_model}] (d_model from ${f.file})`, emb.file, "backbone.embedding.weight");
  }
  cfg.vocab_rows = emb.shape[0];
  if (cfg.vocab_rows < cfg.vocab_size) {
    throw new ConfigError(`is ${cfg.vocab_size} but the embedding has only ${cfg.vocab_rows} rows`, f.file, "vocab_size");
  }
  if (w.has("lm_head.weight")) {
    const head = w.info("lm_head.weight");
    if (head.shape.length !== 2 || head.shape[0] !== cfg.vocab_rows || head.shape[1] !== cfg.d_model) {
      throw new CheckpointError(`lm_head has shape [${head.shape.join(", ")}] but the embedding is [${emb.shape.join(", ")}]`, head.file, "lm_head.weight");
    }
  } else {
    throw new CheckpointError(`missing and the config unties it (tie_embeddings false), in ${(tensors.files?.() ?? []).join(", ")}`, undefined, "lm_head.weight");
  }

  const name = "backbone.layers.0.mixer.in_proj.weight";
  if (!w.has(name)) return; // the model loader reports missing layer tensors with their full names
  const rows = w.info(name).shape[0];
  let expected: number;
  let formula: string;
  if (cfg.family === "mamba2") {
    expected = 2 * cfg.d_inner + 2 * cfg.ngroups * cfg.d_state + cfg.nheads;
    formula = `2*d_inner + 2*ngroups*d_state + nheads = 2*${cfg.d_inner} + 2*${cfg.ngroups}*${cfg.d_state} + ${cfg.nheads}`;
  } else {
    expected = 2 * cfg.d_inner;
    formula = `2*d_inner = 2*${cfg.d_inner}`;
  }
  if (rows !== expected) {
    const mlp = cfg.family === "mamba2" && rows > expected && (rows - expected) % 2 === 0;
    throw new ConfigError(
      `layer 0 in_proj.weight has ${rows} rows but the config implies ${formula} = ${expected}: config and weights disagree (check d_state / ngroups / headdim / expand)` +
        (mlp ? `, or the mixer has a gated MLP (d_mlp = ${(rows - expected) / 2} > 0), which is not supported` : ""),
      f.file,
    );
  }
}
