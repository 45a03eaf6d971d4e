// openCheckpoint + WeightReader: every fixture folder opens; all weight formats of the same model
// read (by canonical name) to the same float32 values within dtype rounding; missing / mis-shaped
// tensors and folders are CheckpointErrors naming what was looked for.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { CheckpointError, ConfigError } from "../core/errors.ts";
import { openCheckpoint, openTensors } from "../core/formats/checkpoint.ts";
import { WeightReader } from "../core/formats/weights.ts";
import { f32Safetensors, shapesSource } from "./fuzz/builders.ts";
import { FIXTURES, goldenDirs } from "./helpers/golden.ts";

const FORMATS = path.join(FIXTURES, "formats");

/** Every canonical tensor name of a model, with its shape. */
function canonicalShapes(cfg: Awaited<ReturnType<typeof openCheckpoint>>["config"]): [string, number[]][] {
  if (cfg.family === "s4" || cfg.family === "mom") throw new Error("canonicalShapes lists Mamba tensors");
  const out: [string, number[]][] = [
    ["backbone.embedding.weight", [cfg.vocab_rows, cfg.d_model]],
    ["backbone.norm_f.weight", [cfg.d_model]],
    ["lm_head.weight", [cfg.vocab_rows, cfg.d_model]],
  ];
  for (let i = 0; i < cfg.n_layer; i++) {
    const m = `backbone.layers.${i}.mixer.`;
    out.push([`backbone.layers.${i}.norm.weight`, [cfg.d_model]], [m + "out_proj.weight", [cfg.d_model, cfg.d_inner]]);
    if (cfg.family === "mamba2") {
      const convDim = cfg.d_inner + 2 * cfg.ngroups * cfg.d_state;
      out.push(
        [m + "in_proj.weight", [2 * cfg.d_inner + 2 * cfg.ngroups * cfg.d_state + cfg.nheads, cfg.d_model]],
        [m + "conv1d.weight", [convDim, 1, cfg.d_conv]],
        [m + "conv1d.bias", [convDim]],
        [m + "dt_bias", [cfg.nheads]],
        [m + "A_log", [cfg.nheads]],
        [m + "D", [cfg.nheads]],
        [m + "norm.weight", [cfg.d_inner]],
      );
    } else {
      out.push(
        [m + "in_proj.weight", [2 * cfg.d_inner, cfg.d_model]],
        [m + "conv1d.weight", [cfg.d_inner, 1, cfg.d_conv]],
        [m + "conv1d.bias", [cfg.d_inner]],
        [m + "x_proj.weight", [cfg.dt_rank + 2 * cfg.d_state, cfg.d_inner]],
        [m + "dt_proj.weight", [cfg.d_inner, cfg.dt_rank]],
        [m + "dt_proj.bias", [cfg.d_inner]],
        [m + "A_log", [cfg.d_inner, cfg.d_state]],
        [m + "D", [cfg.d_inner]],
      );
    }
  }
  return out;
}

for (const dir of goldenDirs) {
  test(`openCheckpoint ${path.basename(dir)}: every canonical tensor reads with its shape`, async () => {
    const ck = await openCheckpoint(dir);
    assert.ok(ck.weightsFile.endsWith("model.safetensors"));
    for (const [name, shape] of canonicalShapes(ck.config)) {
      const v = ck.weights.f32(name, shape);
      assert.is(v.length, shape.reduce((a, b) => a * b, 1), name);
      assert.ok(v.every(Number.isFinite), name);
    }
    assert.is(ck.weights.dtype("backbone.embedding.weight"), "F32");
    ck.close();
  });
}

// [fixture folder, golden folder, dtype tolerance]
const VARIANTS: [string, string, "F32" | "F16" | "BF16"][] = [
  ["m2_bin_f32_tied", "m2_ss_v256_g1_tied_f32", "F32"],
  ["m2_bin_bf16", "m2_ss_v256_g1_tied_f32", "BF16"],
  ["m2_st_bf16", "m2_ss_v256_g1_tied_f32", "BF16"],
  ["m2_st_sharded", "m2_ss_v256_g1_tied_f32", "F32"],
  ["m1_bin_f16", "m1_ss_v256_tied_f32", "F16"],
  ["m1_st_f16", "m1_ss_v256_tied_f32", "F16"],
  ["m1_bin_sharded", "m1_ss_v256_tied_f32", "F16"],
];

for (const [variant, golden, dtype] of VARIANTS) {
  test(`openCheckpoint ${variant}: same config and values as ${golden} (${dtype} rounding)`, async () => {
    const ck = await openCheckpoint(path.join(FORMATS, variant));
    const ref = await openCheckpoint(path.join(FIXTURES, "golden", golden));
    assert.equal({ ...ck.config, source: undefined }, { ...ref.config, source: undefined });
    const rel = dtype === "BF16" ? 2 ** -8 : dtype === "F16" ? 2 ** -11 : 0;
    for (const [name, shape] of canonicalShapes(ref.config)) {
      const x = ck.weights.f32(name, shape);
      const y = ref.weights.f32(name, shape);
      for (let i = 0; i < y.length; i++) if (!(Math.abs(x[i] - y[i]) <= Math.abs(y[i]) * rel + (rel ? 2 ** -25 : 0))) assert.unreachable(`${name}[${i}]: ${x[i]} vs ${y[i]}`);
    }
    assert.is(ck.weights.dtype("backbone.layers.0.mixer.A_log"), dtype);
    ck.close();
    ref.close();
  });
}

test("a weight file path opens its folder; openTensors dispatches on the name", async () => {
  const file = path.join(FORMATS, "m2_bin_bf16", "pytorch_model.bin");
  const ck = await openCheckpoint(file);
  assert.is(ck.weightsFile, file);
  assert.is(ck.config.family, "mamba2");
  ck.close();
  assert.throws(() => openTensors("/x/model.gguf"), (e: unknown) => e instanceof CheckpointError && /unknown weight file type/.test((e as Error).message));
});

test("missing folder / config / weights name what was looked for; bad config is a ConfigError", async () => {
  const rejects = async (p: Promise<unknown>, type: Function, ...parts: string[]) => {
    try {
      await p;
    } catch (e) {
      assert.instance(e, type);
      for (const s of parts) assert.match((e as Error).message, s);
      return;
    }
    assert.unreachable("resolved");
  };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ck-"));
  await rejects(openCheckpoint(path.join(dir, "nope")), CheckpointError, "nope", "not found");
  await rejects(openCheckpoint(dir), CheckpointError, "model.safetensors", "pytorch_model.bin", "model.safetensors.index.json");
  fs.writeFileSync(path.join(dir, "model.safetensors"), f32Safetensors({ "backbone.embedding.weight": { shape: [2, 2], values: [1, 2, 3, 4] } }));
  await rejects(openCheckpoint(dir), CheckpointError, "config.json", "params.json");
  fs.writeFileSync(path.join(dir, "config.json"), '{"d_model": 2, "n_layer": 1, "vocab_size": 2, ');
  await rejects(openCheckpoint(dir), ConfigError, "config.json", "invalid JSON");
  fs.writeFileSync(path.join(dir, "config.json"), '{"d_model": 2, "n_layer": 0, "vocab_size": 2}');
  await rejects(openCheckpoint(dir), ConfigError, "config.json", "field n_layer");
  fs.writeFileSync(path.join(dir, "config.json"), '{"d_model": 2, "n_layer": 1, "vocab_size": 2, "ssm_cfg": {"d_state": 2}}');
  const ck = await openCheckpoint(dir);
  assert.is(ck.config.vocab_rows, 2);
  assert.is(ck.tokenizerFile, undefined);
  ck.close();
  fs.rmSync(dir, { recursive: true });
});

test("WeightReader aliases: embeddings (transformers), model. prefix (Mistral), tied lm_head", () => {
  const hf = new WeightReader(shapesSource({ "backbone.embeddings.weight": [4, 2] }));
  assert.ok(hf.has("backbone.embedding.weight"));
  assert.is(hf.resolve("lm_head.weight"), "backbone.embeddings.weight");
  const mistral = new WeightReader(shapesSource({ "model.backbone.embedding.weight": [4, 2], "model.lm_head.weight": [4, 2], "model.backbone.norm_f.weight": [2] }));
  assert.is(mistral.resolve("lm_head.weight"), "model.lm_head.weight");
  assert.is(mistral.resolve("backbone.norm_f.weight"), "model.backbone.norm_f.weight");
  const untied = new WeightReader(shapesSource({ "backbone.embedding.weight": [4, 2] }), { tie_embeddings: false });
  assert.not.ok(untied.has("lm_head.weight"));
  // a Checkpoint-like value carries the tie flag
  const fromCk = new WeightReader({ tensors: shapesSource({ "backbone.embedding.weight": [4, 2] }), config: { tie_embeddings: false } });
  assert.not.ok(fromCk.has("lm_head.weight"));
});

test("WeightReader: shape checks ([C,1,K] ~ [C,K]); missing tensors name the files searched", () => {
  const w = new WeightReader(shapesSource({ "backbone.layers.0.mixer.conv1d.weight": [6, 1, 4], "backbone.layers.0.mixer.D": [3] }, "/m/model.safetensors"));
  assert.is(w.f32("backbone.layers.0.mixer.conv1d.weight", [6, 4]).length, 24);
  assert.is(w.f32("backbone.layers.0.mixer.conv1d.weight", [6, 1, 4]).length, 24);
  assert.throws(
    () => w.f32("backbone.layers.0.mixer.D", [4]),
    (e: unknown) => e instanceof CheckpointError && ["/m/model.safetensors", "tensor backbone.layers.0.mixer.D", "expected [4]", "file has [3]"].every((s) => (e as Error).message.includes(s)),
  );
  assert.throws(
    () => w.f32("backbone.layers.1.mixer.D", [3]),
    (e: unknown) => e instanceof CheckpointError && e.tensor === "backbone.layers.1.mixer.D" && /not found .* in \/m\/model\.safetensors/.test((e as Error).message),
  );
  assert.throws(() => w.dtype("nope"), (e: unknown) => e instanceof CheckpointError);
});

test.run();
