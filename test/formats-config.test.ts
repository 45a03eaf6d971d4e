// resolveConfig: golden fixtures resolve to the spec in golden_summary.json; defaults of each
// convention; unsupported features and invalid fields are ConfigErrors naming file and field.
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { CheckpointError, ConfigError } from "../core/errors.ts";
import { resolveConfig } from "../core/formats/config.ts";
import { parseConfigJson } from "../core/formats/json.ts";
import { SafetensorsFile } from "../core/formats/safetensors.ts";
import type { Mamba1Config, Mamba2Config, ModelConfig } from "../core/models/config.ts";
import { shapesSource } from "./fuzz/builders.ts";
import { goldenDirs } from "./helpers/golden.ts";

for (const dir of goldenDirs) {
  test(`golden ${path.basename(dir)}: resolved config matches golden_summary.json`, () => {
    const file = path.join(dir, "config.json");
    const st = SafetensorsFile.open(path.join(dir, "model.safetensors"));
    const cfg = resolveConfig(parseConfigJson(fs.readFileSync(file, "utf8"), file), file, st);
    st.close();
    if (cfg.family === "s4" || cfg.family === "mom") throw new Error("the golden fixtures are Mamba models");
    const spec = JSON.parse(fs.readFileSync(path.join(dir, "golden_summary.json"), "utf8").replace(/\bInfinity\b/g, "1e999")).spec;
    assert.is(cfg.family, spec.kind);
    assert.is(cfg.source.style, spec.convention);
    assert.is(cfg.source.file, file);
    for (const k of ["d_model", "n_layer", "vocab_size", "vocab_rows", "norm_eps", "tie_embeddings", "d_inner", "d_state", "d_conv", "conv_bias"]) {
      assert.is((cfg as unknown as Record<string, unknown>)[k], spec[k], k);
    }
    assert.is(cfg.bias, spec.proj_bias);
    if (cfg.family === "mamba2") {
      for (const k of ["headdim", "nheads", "ngroups", "chunk_size", "norm_before_gate"] as const) assert.is(cfg[k], spec[k], k);
      assert.equal(cfg.dt_limit, spec.dt_limit);
      assert.is(cfg.rmsnorm, spec.gated_norm);
      assert.is(cfg.norm_per_group, true);
      assert.is(cfg.d_inner / cfg.ngroups, spec.gated_norm_group_size);
    } else {
      assert.is(cfg.dt_rank, spec.dt_rank);
    }
  });
}

// mamba2-130m / mamba-130m as released (checkpoints.md §2), with tensors of the right shapes
const m2Tensors = (over: Record<string, number[]> = {}) =>
  shapesSource({ "backbone.embedding.weight": [50288, 768], "backbone.layers.0.mixer.in_proj.weight": [3352, 768], ...over });
const m1Tensors = (over: Record<string, number[]> = {}) =>
  shapesSource({ "backbone.embedding.weight": [50280, 768], "backbone.layers.0.mixer.in_proj.weight": [3072, 768], ...over });
const MAMBA2_130M = { d_model: 768, d_intermediate: 0, n_layer: 24, vocab_size: 50277, ssm_cfg: { layer: "Mamba2" }, attn_layer_idx: [], attn_cfg: {}, rms_norm: true, residual_in_fp32: true, fused_add_norm: true, pad_vocab_size_multiple: 16, tie_embeddings: true };
const MAMBA_130M = { d_model: 768, n_layer: 24, vocab_size: 50277, ssm_cfg: {}, rms_norm: true, residual_in_fp32: true, fused_add_norm: true, pad_vocab_size_multiple: 8 };

test("state-spaces defaults: mamba2-130m and mamba-130m configs as published", () => {
  const m2 = resolveConfig(MAMBA2_130M, "config.json", m2Tensors()) as Mamba2Config;
  assert.equal(
    { family: m2.family, d_state: m2.d_state, d_conv: m2.d_conv, headdim: m2.headdim, nheads: m2.nheads, ngroups: m2.ngroups, chunk: m2.chunk_size, rows: m2.vocab_rows, tie: m2.tie_embeddings, nbg: m2.norm_before_gate, bias: m2.bias, conv_bias: m2.conv_bias, dt: m2.dt_limit, eps: m2.norm_eps },
    { family: "mamba2", d_state: 128, d_conv: 4, headdim: 64, nheads: 24, ngroups: 1, chunk: 256, rows: 50288, tie: true, nbg: false, bias: false, conv_bias: true, dt: [0, Infinity], eps: 1e-5 },
  );
  const m1 = resolveConfig(MAMBA_130M, "config.json", m1Tensors()) as Mamba1Config;
  assert.equal(
    { family: m1.family, d_state: m1.d_state, dt_rank: m1.dt_rank, d_inner: m1.d_inner, rows: m1.vocab_rows, tie: m1.tie_embeddings },
    { family: "mamba1", d_state: 16, dt_rank: 48, d_inner: 1536, rows: 50280, tie: true },
  );
});

test("transformers defaults: Mamba1 ties and uses bias by default; Mamba2 unties; time_step_rank auto", () => {
  const m1 = resolveConfig({ model_type: "mamba", hidden_size: 768, num_hidden_layers: 24, vocab_size: 50280, time_step_rank: "auto" }, "c.json", m1Tensors()) as Mamba1Config;
  assert.is(m1.tie_embeddings, true);
  assert.is(m1.bias, true);
  assert.is(m1.dt_rank, 48);
  assert.is(m1.source.style, "transformers");
  const m2 = resolveConfig(
    { architectures: ["Mamba2ForCausalLM"], hidden_size: 768, num_hidden_layers: 24, vocab_size: 50288, n_groups: 1, state_size: 128, head_dim: 64 },
    "c.json",
    m2Tensors({ "lm_head.weight": [50288, 768] }),
  ) as Mamba2Config;
  assert.is(m2.family, "mamba2");
  assert.is(m2.tie_embeddings, false);
  assert.is(m2.nheads, 24);
  assert.is(m2.norm_per_group, true);
});

test("Mistral params.json (Codestral style) is Mamba-2 with model.-prefixed names", () => {
  const tensors = shapesSource({
    "model.backbone.embedding.weight": [32768, 4096],
    "model.lm_head.weight": [32768, 4096],
    "model.backbone.layers.0.mixer.in_proj.weight": [18560, 4096],
  });
  const cfg = resolveConfig(
    { dim: 4096, n_layers: 64, vocab_size: 32768, n_groups: 8, rms_norm: true, residual_in_fp32: true, fused_add_norm: true, pad_vocab_size_multiple: 1, tie_embeddings: false, model_type: "mamba" },
    "params.json",
    tensors,
  ) as Mamba2Config;
  assert.equal([cfg.family, cfg.d_inner, cfg.nheads, cfg.ngroups, cfg.d_state, cfg.tie_embeddings], ["mamba2", 8192, 128, 8, 128, false]);
});

function expectConfigError(fn: () => unknown, field: string | undefined, ...parts: (string | RegExp)[]) {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof ConfigError)) throw new Error(`expected ConfigError, got ${(e as Error)?.stack ?? e}`);
    assert.is(e.field, field);
    assert.is(e.file, "cfg.json");
    for (const p of parts) assert.match(e.message, p);
    return;
  }
  throw new Error("expected a ConfigError");
}

test("unsupported architectures say so, naming the field", () => {
  const r = (j: object, t = m2Tensors()) => () => resolveConfig(j, "cfg.json", t);
  expectConfigError(r({ ...MAMBA2_130M, d_intermediate: 3072 }), "d_intermediate", "MLP", "not supported");
  expectConfigError(r({ ...MAMBA2_130M, attn_layer_idx: [3, 9] }), "attn_layer_idx", "attention");
  expectConfigError(r({ ...MAMBA2_130M, ssm_cfg: { layer: "Mamba2", D_has_hdim: true } }), "ssm_cfg.D_has_hdim");
  expectConfigError(r({ ...MAMBA2_130M, ssm_cfg: { layer: "Mamba3" } }), "ssm_cfg.layer", "Mamba3");
  expectConfigError(r({ ...MAMBA2_130M, rms_norm: false }), "rms_norm", "LayerNorm");
  expectConfigError(r({ ...MAMBA2_130M, ssm_cfg: { layer: "Mamba2", d_ssm: 1024 } }), "ssm_cfg.d_ssm");
  expectConfigError(r({ model_type: "falcon_mamba", hidden_size: 768 }), "model_type", "falcon_mamba");
  // d_mlp > 0 shows up as extra in_proj rows
  expectConfigError(r(MAMBA2_130M, m2Tensors({ "backbone.layers.0.mixer.in_proj.weight": [3352 + 2 * 512, 768] })), undefined, "d_mlp = 512 > 0", "not supported");
});

test("invalid fields: ConfigError naming file and field", () => {
  const r = (j: object, t = m2Tensors()) => () => resolveConfig(j, "cfg.json", t);
  expectConfigError(r({ ...MAMBA2_130M, d_model: -768 }), "d_model", "positive integer", "-768");
  expectConfigError(r({ ...MAMBA2_130M, n_layer: 2.5 }), "n_layer");
  expectConfigError(r({ ...MAMBA2_130M, n_layer: "24" }), "n_layer", '"24"');
  expectConfigError(r({ ...MAMBA2_130M, ssm_cfg: { layer: "Mamba2", headdim: 100 } }), "ssm_cfg.headdim", "not a multiple");
  expectConfigError(r({ ...MAMBA2_130M, ssm_cfg: { layer: "Mamba2", ngroups: 5 } }), "ssm_cfg.ngroups", "nheads 24");
  expectConfigError(r({ ...MAMBA2_130M, ssm_cfg: { layer: "Mamba2", dt_limit: [1, 0] } }), "ssm_cfg.dt_limit");
  expectConfigError(r({ ...MAMBA2_130M, ssm_cfg: "Mamba2" }), "ssm_cfg", "object");
  expectConfigError(r({ ...MAMBA2_130M, tie_embeddings: "yes" }), "tie_embeddings");
  expectConfigError(r({ ...MAMBA2_130M, vocab_size: 60000 }), "vocab_size", "only 50288 rows");
  expectConfigError(r({ model_type: "mamba2", hidden_size: 768, num_hidden_layers: 24, num_heads: 7, head_dim: 64 }), "num_heads");
  expectConfigError(r({ model_type: "mamba", hidden_size: 768, intermediate_size: 1000 }), "intermediate_size");
  expectConfigError(r({ hello: 1 }), undefined, "not a Mamba config");
  expectConfigError(r({ ...MAMBA2_130M, ssm_cfg: { layer: "Mamba2", d_state: 64 } }), undefined, "in_proj.weight has 3352 rows", "check d_state");
  assert.throws(() => resolveConfig([1], "cfg.json", m2Tensors()), (e: unknown) => e instanceof ConfigError);
});

test("weights cross-checks: embedding width, untied without lm_head, lm_head shape", () => {
  const expectCk = (fn: () => unknown, ...parts: string[]) =>
    assert.throws(fn, (e: unknown) => e instanceof CheckpointError && parts.every((p) => (e as Error).message.includes(p)));
  expectCk(() => resolveConfig(MAMBA2_130M, "cfg.json", m2Tensors({ "backbone.embedding.weight": [50288, 512] })), "backbone.embedding.weight", "expected [vocab_rows, 768]");
  expectCk(() => resolveConfig({ ...MAMBA2_130M, tie_embeddings: false }, "cfg.json", m2Tensors()), "lm_head.weight", "missing");
  expectCk(() => resolveConfig(MAMBA2_130M, "cfg.json", m2Tensors({ "lm_head.weight": [50280, 768] })), "lm_head.weight", "[50280, 768]");
  expectCk(() => resolveConfig(MAMBA2_130M, "cfg.json", shapesSource({})), "backbone.embedding.weight", "not found");
  const cfg: ModelConfig = resolveConfig({ ...MAMBA2_130M, train_length: 2048 }, "cfg.json", m2Tensors());
  assert.is(cfg.train_length, 2048);
});

test.run();
