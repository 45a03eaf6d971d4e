// config.json of an S4 / S4D model → S4Config. The fields take the names of the state-spaces/s4 code's
// arguments (example.py S4Model; S4Block / FFTConv / SSMKernel keyword arguments); docs/s4.md lists
// them with their defaults. Values the weights determine (layout, kernel family, n_ssm, rank, channels,
// vocabulary) are read from the tensors and cross-checked against the config, so a mismatch is a
// ConfigError naming the field instead of a shape error deep in a kernel.
import { CheckpointError, ConfigError } from "../errors.ts";
import type { TensorSource } from "../formats/tensor.ts";
import type { S4Config, S4Transform } from "./config.ts";
import type { S4Activation } from "../../kernels/backend.ts";

type Json = Record<string, unknown>;

const TRANSFORMS: S4Transform[] = ["none", "exp", "relu", "sigmoid", "softplus"];
const ACTIVATIONS: S4Activation[] = ["gelu", "id", "tanh", "relu", "elu", "silu", "sigmoid", "softplus"];
const ACT_ALIASES: Record<string, S4Activation> = { identity: "id", linear: "id", swish: "silu" };
const DIAG_MODES = ["s4d", "diag"];
const DPLR_MODES = ["s4", "nplr", "dplr"];

/** True when a parsed config.json describes an S4 model (model_type "s4", or the S4Model arguments). */
export function isS4Config(j: unknown): boolean {
  if (typeof j !== "object" || j === null || Array.isArray(j)) return false;
  const o = j as Json;
  const mt = typeof o.model_type === "string" ? o.model_type.toLowerCase() : undefined;
  if (mt === "s4" || mt === "s4d") return true;
  return o.n_layers !== undefined && o.d_model !== undefined && o.dim === undefined;
}

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? s.slice(0, 60) + "…" : s;
}

class Fields {
  constructor(readonly obj: Json, readonly file: string) {}
  err(key: string, msg: string): never {
    throw new ConfigError(msg, this.file, key);
  }
  has(key: string): boolean {
    return Object.hasOwn(this.obj, key) && this.obj[key] !== null;
  }
  int(key: string, def?: number, min = 1): number {
    const v = this.has(key) ? this.obj[key] : def;
    if (v === undefined) this.err(key, "is required");
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) this.err(key, `expected an integer >= ${min}, got ${show(v)}`);
    return v as number;
  }
  num(key: string, def: number): number {
    const v = this.has(key) ? this.obj[key] : def;
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) this.err(key, `expected a positive number, got ${show(v)}`);
    return v as number;
  }
  bool(key: string, def: boolean): boolean {
    const v = this.has(key) ? this.obj[key] : def;
    if (typeof v !== "boolean") this.err(key, `expected true or false, got ${show(v)}`);
    return v as boolean;
  }
  str<T extends string>(key: string, def: T, allowed: readonly string[]): T {
    const v = this.has(key) ? this.obj[key] : def;
    if (typeof v !== "string" || !allowed.includes(v)) this.err(key, `expected one of ${allowed.join(", ")}, got ${show(v)}`);
    return v as T;
  }
}

/** The S4Config for `json` (parsed from `file`), cross-checked against the layer-0 tensors. */
export function resolveS4Config(json: Json, file: string, tensors: TensorSource): S4Config {
  const f = new Fields(json, file);
  const names = new Set(tensors.names());
  const shape = (name: string) => {
    const i = tensors.info?.(name);
    if (i) return i.shape;
    const t = tensors.get(name);
    if (!t) throw new CheckpointError("not found", undefined, name);
    return t.shape;
  };

  const d_model = f.int("d_model");
  const n_layer = f.int("n_layers");
  if (f.bool("bidirectional", false)) f.err("bidirectional", "bidirectional S4 layers are not causal and cannot stream: not supported by scanstream");
  for (const key of ["gate", "bottleneck", "mult_act", "postact"]) if (f.has(key)) f.err(key, `S4Block option ${key} is not supported by scanstream`);

  // layout: models/s4/s4d.py (S4D) or models/s4/s4.py (S4Block), from the config or the weights
  const minimal = names.has("s4_layers.0.kernel.log_dt");
  const full = names.has("s4_layers.0.layer.kernel.inv_dt");
  if (!minimal && !full) {
    const old = [...names].find((n) => /\.(log_w_real|inv_w_real|w_imag)$|kernel\.kernel\./.test(n));
    throw new CheckpointError(
      old
        ? `layer 0 uses the state-spaces/s4 v3 parameter names (${old}); convert with the s4 repo's checkpoints/convert_v3_to_v4.py`
        : "no S4 layer 0 found (looked for s4_layers.0.kernel.log_dt (s4d.py) and s4_layers.0.layer.kernel.inv_dt (s4.py S4Block))",
      file,
    );
  }
  const detected = minimal ? "S4D" : "S4Block";
  const block = f.str<"S4D" | "S4Block">("block", detected, ["S4D", "S4Block"]);
  if (block !== detected) f.err("block", `says ${block} but the weights have the ${detected} layout`);
  const pre = minimal ? "s4_layers.0.kernel." : "s4_layers.0.layer.kernel.";

  const hasP = names.has(pre + "P");
  const modeName = f.str("mode", hasP ? "nplr" : minimal ? "s4d" : "diag", [...DIAG_MODES, ...DPLR_MODES]);
  const mode = DPLR_MODES.includes(modeName) ? "dplr" : "diag";
  if (mode === "dplr" && !hasP) f.err("mode", `is ${show(modeName)} (DPLR) but the weights have no ${pre}P`);
  if (mode === "diag" && hasP) f.err("mode", `is ${show(modeName)} (diagonal) but the weights have ${pre}P (DPLR)`);

  const is_real = f.bool("is_real", false);
  if (is_real && minimal) f.err("is_real", "is an SSMKernelDiag option; the s4d.py layout has no real variant");
  if (is_real && mode === "dplr") f.err("is_real", "only diagonal kernels can be real");
  const d_state = f.int("d_state", 64);
  const M = is_real ? d_state : d_state / 2;
  if (!Number.isInteger(M)) f.err("d_state", `expected an even number (conjugate pairs), got ${d_state}`);

  // cross-check the layer-0 shapes
  const Cshape = shape(pre + "C");
  const Aname = pre + (minimal ? "log_A_real" : "A_real");
  const Ashape = shape(Aname);
  if (Ashape[Ashape.length - 1] !== M) {
    f.err("d_state", `is ${d_state} (${M} ${is_real ? "real" : "complex"} modes) but ${Aname} has shape [${Ashape.join(", ")}]`);
  }
  const n_ssm = minimal ? d_model : Ashape[0];
  if (f.has("n_ssm") && f.int("n_ssm") !== n_ssm) f.err("n_ssm", `is ${show(json.n_ssm)} but ${Aname} has ${n_ssm} rows`);
  if (d_model % n_ssm !== 0) f.err("n_ssm", `${n_ssm} does not divide d_model ${d_model}`);
  const channels = minimal ? 1 : Cshape[0];
  if (f.has("channels") && f.int("channels") !== channels) f.err("channels", `is ${show(json.channels)} but ${pre}C has shape [${Cshape.join(", ")}]`);
  const rank = hasP ? shape(pre + "P")[0] : f.int("rank", 1);
  if (hasP && f.has("rank") && f.int("rank") !== rank) f.err("rank", `is ${show(json.rank)} but ${pre}P has shape [${shape(pre + "P").join(", ")}]`);

  const dt_tie = f.bool("dt_tie", true);
  if (mode === "dplr" && !dt_tie) f.err("dt_tie", "DPLR kernels need a tied dt (one step per channel)");

  let transforms = { dt: "exp" as S4Transform, real: "exp" as S4Transform, imag: "none" as S4Transform };
  if (f.has("transforms")) {
    const t = json.transforms;
    if (typeof t !== "object" || t === null || Array.isArray(t)) f.err("transforms", `expected {"dt", "real", "imag"}, got ${show(t)}`);
    const tf = new Fields(t as Json, file);
    transforms = {
      dt: tf.str("dt", transforms.dt, TRANSFORMS),
      real: tf.str("real", transforms.real, TRANSFORMS),
      imag: tf.str("imag", transforms.imag, TRANSFORMS),
    };
  }
  transforms = {
    dt: f.str("dt_transform", transforms.dt, TRANSFORMS),
    real: f.str("real_transform", transforms.real, TRANSFORMS),
    imag: f.str("imag_transform", transforms.imag, TRANSFORMS),
  };
  if (minimal && (transforms.dt !== "exp" || transforms.real !== "exp" || transforms.imag !== "none")) {
    f.err("transforms", "the s4d.py layout fixes dt = exp(log_dt), Re A = −exp(log_A_real), Im A = A_imag");
  }

  const disc = f.str<"zoh" | "bilinear">("disc", "zoh", ["zoh", "bilinear"]);
  if (minimal && disc !== "zoh") f.err("disc", "the s4d.py layout is zero-order hold only");

  const actRaw = f.has("activation") ? json.activation : "gelu";
  const activation = (typeof actRaw === "string" ? (ACT_ALIASES[actRaw] ?? actRaw) : actRaw) as S4Activation;
  if (!ACTIVATIONS.includes(activation)) f.err("activation", `expected one of ${ACTIVATIONS.join(", ")}, got ${show(actRaw)}`);
  if (minimal && activation !== "gelu") f.err("activation", "the s4d.py layout uses GELU");
  const final_act = Object.hasOwn(json, "final_act") ? json.final_act : "glu"; // null: no output_linear
  if (final_act !== null && (typeof final_act !== "string" || (final_act !== "glu" && !ACTIVATIONS.includes((ACT_ALIASES[final_act] ?? final_act) as S4Activation)))) {
    f.err("final_act", `expected "glu", an activation or null, got ${show(final_act)}`);
  }
  if (minimal && final_act !== "glu") f.err("final_act", "the s4d.py layout ends with Conv1d + GLU");

  // encoder: nn.Embedding (LM) or nn.Linear (sequence model)
  if (!names.has("encoder.weight")) throw new CheckpointError("not found", undefined, "encoder.weight");
  const enc = shape("encoder.weight");
  const lm = f.has("vocab_size") || (!f.has("d_input") && !names.has("encoder.bias"));
  let d_input: number, vocab_size = 0, vocab_rows = 0;
  if (lm) {
    vocab_size = f.int("vocab_size", enc[0]);
    vocab_rows = enc[0];
    if (enc.length !== 2 || enc[1] !== d_model) throw new CheckpointError(`shape [${enc.join(", ")}], expected [vocab, ${d_model}] (an nn.Embedding; d_model from ${file})`, undefined, "encoder.weight");
    if (vocab_rows < vocab_size) f.err("vocab_size", `is ${vocab_size} but encoder.weight has only ${vocab_rows} rows`);
    d_input = vocab_rows;
  } else {
    d_input = f.int("d_input", enc[1]);
    if (enc.length !== 2 || enc[0] !== d_model || enc[1] !== d_input) {
      throw new CheckpointError(`shape [${enc.join(", ")}], expected [${d_model}, ${d_input}] (nn.Linear(d_input, d_model))`, undefined, "encoder.weight");
    }
  }
  const tie_embeddings = lm && f.bool("tie_embeddings", !names.has("decoder.weight"));
  const decRows = names.has("decoder.weight") ? shape("decoder.weight")[0] : tie_embeddings ? vocab_rows : undefined;
  if (decRows === undefined) throw new CheckpointError("not found (and the encoder is not tied to it)", undefined, "decoder.weight");
  const d_output = f.int("d_output", decRows);
  if (d_output !== decRows) f.err("d_output", `is ${d_output} but decoder.weight has ${decRows} rows`);

  const pooling = f.str<S4Config["pooling"]>("pooling", lm ? "none" : "mean", ["mean", "last", "sum", "none"]);
  if (lm && pooling !== "none") f.err("pooling", "a language model decodes every step (pooling none)");
  const bandlimit = f.has("bandlimit") ? f.num("bandlimit", 1) : null;

  const cfg: S4Config = {
    family: "s4",
    task: lm ? "lm" : "sequence",
    d_model, n_layer, d_state, d_input, d_output, vocab_size, vocab_rows, tie_embeddings,
    block, mode,
    init: typeof json.init === "string" ? json.init : mode === "dplr" ? "legs" : minimal ? "diag-lin" : "legs",
    disc: mode === "dplr" ? "bilinear" : disc,
    dt_min: f.num("dt_min", 0.001),
    dt_max: f.num("dt_max", 0.1),
    transforms,
    dt_tie,
    dt_fast: f.bool("dt_fast", false),
    is_real,
    bandlimit,
    rank: mode === "dplr" ? rank : 0,
    n_ssm,
    channels,
    activation,
    final_act: final_act === null ? null : final_act === "glu" ? "glu" : (ACT_ALIASES[final_act as string] ?? (final_act as string)),
    prenorm: f.bool("prenorm", false),
    pooling,
    norm_eps: f.num("layer_norm_eps", 1e-5),
    source: { file, style: "state-spaces" },
  };
  for (const key of ["train_length", "l_max", "max_seq_len"]) {
    if (f.has(key)) {
      cfg.train_length = f.int(key);
      break;
    }
  }
  return cfg;
}

/** config.json fields for `c` (the inverse of resolveS4Config; what checkpoints/train/s4_export.py writes too). */
export function s4ConfigJson(c: S4Config): Json {
  const j: Json = {
    model_type: "s4",
    block: c.block,
    d_model: c.d_model,
    n_layers: c.n_layer,
    d_state: c.d_state,
    ...(c.task === "lm" ? { vocab_size: c.vocab_size, tie_embeddings: c.tie_embeddings } : { d_input: c.d_input }),
    d_output: c.d_output,
    mode: c.mode === "dplr" ? "nplr" : c.block === "S4D" ? "s4d" : "diag",
    init: c.init,
    disc: c.disc,
    dt_min: c.dt_min,
    dt_max: c.dt_max,
    transforms: c.transforms,
    dt_tie: c.dt_tie,
    dt_fast: c.dt_fast,
    is_real: c.is_real,
    n_ssm: c.n_ssm,
    channels: c.channels,
    bidirectional: false,
    activation: c.activation,
    final_act: c.final_act,
    prenorm: c.prenorm,
    pooling: c.pooling,
    layer_norm_eps: c.norm_eps,
  };
  if (c.mode === "dplr") j.rank = c.rank;
  if (c.bandlimit !== null) j.bandlimit = c.bandlimit;
  if (c.block === "S4D") for (const k of ["transforms", "dt_tie", "dt_fast", "is_real", "n_ssm", "channels"]) delete j[k];
  if (c.train_length !== undefined) j.train_length = c.train_length;
  return j;
}
