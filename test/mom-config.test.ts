// MoM checkpoints through the ordinary loader: config.json with the fields of the OpenSparseLLMs training
// configs (mom_340M.json, model_type mom_gated_deltanet) or fla's MomConfig (model_type mom), weights in
// safetensors under the released tensor names (model.layers.{i}.attn.k_proj.{m}.weight, ...).
import { test } from "uvu";
import * as assert from "uvu/assert";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { openCheckpoint } from "../core/formats/checkpoint.ts";
import { buildModel } from "../core/models/index.ts";
import type { MomConfig } from "../core/models/config.ts";
import { momConfig, randomMomWeights } from "../core/models/mom-random.ts";
import { momTensorNames } from "../core/models/mom.ts";
import { isMomConfig } from "../core/models/mom-config.ts";
import { s4Safetensors, type RandomTensor } from "../core/models/s4-random.ts";
import { createCpuBackend } from "../kernels/cpu/index.ts";
import { ConfigError } from "../core/errors.ts";
import { load } from "../core/index.ts";
import { scaledMaxDiff } from "./helpers/random-model.ts";

function writeCkpt(c: MomConfig, json: Record<string, unknown>, seed: number): string {
  const w = randomMomWeights(c, seed);
  const t = new Map<string, RandomTensor>();
  for (const [name, shape] of momTensorNames(c)) t.set(name, { shape, data: w.f32(name, shape) });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mom-ckpt-"));
  fs.writeFileSync(path.join(dir, "model.safetensors"), s4Safetensors(t));
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(json));
  return dir;
}

// mom_340M.json with the sizes scaled down (hidden 1024 → 16, head_dim 256 → 4, vocab 32000 → 40)
const naiveJson = {
  model_type: "mom_gated_deltanet", attn_mode: "chunk", hidden_size: 16, num_hidden_layers: 2, num_heads: 4,
  head_dim: 4, expand_v: 1, hidden_ratio: 3, num_memories: 4, topk: 2, shared_mem: true, single_kv_proj: false,
  capacity: 1.0, use_short_conv: true, norm_eps: 1e-6, vocab_size: 40, tie_word_embeddings: true, bos_token_id: 1,
  hidden_act: "swish", initializer_range: 0.02, use_layer_wise_balance: true, aux_loss_scale: 0.01,
  max_position_embeddings: 2048,
};

test("mom_gated_deltanet config.json + safetensors load and run like the in-memory model", async () => {
  // MLP width: 256·ceil(int(16·3·2/3)/256) = 256
  const c = momConfig({
    d_model: 16, n_layer: 2, num_heads: 4, head_dim: 4, expand_v: 1, num_memories: 4, topk: 2, shared_mem: true,
    vocab_size: 40, intermediate_size: 256, mlp: "fused", tie_embeddings: true,
  });
  const dir = writeCkpt(c, naiveJson, 3);
  try {
    assert.ok(isMomConfig(naiveJson));
    const ck = await openCheckpoint(dir);
    const got = ck.config;
    assert.is(got.family, "mom");
    if (got.family !== "mom") return;
    assert.is(got.lineage, "mom_gated_deltanet");
    for (const k of ["d_model", "n_layer", "num_heads", "d_k", "d_v", "key_dim", "value_dim", "num_memories", "topk", "shared_mem", "intermediate_size", "mlp", "vocab_rows", "conv_size", "use_output_gate"] as const)
      assert.equal(got[k], c[k], k);
    assert.is(got.train_length, 2048);
    const toks = [1, 5, 9, 3, 3, 7, 20, 39, 0];
    const a = buildModel(got, ck.weights, createCpuBackend());
    const b = buildModel(c, randomMomWeights(c, 3), createCpuBackend());
    const ya = a.forward(toks, a.newState(), "all")!;
    const yb = b.forward(toks, b.newState(), "all")!;
    assert.ok(scaledMaxDiff(ya, yb) === 0);
    ck.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("fla `mom` config: split MLP detected from the tensors, fla defaults", async () => {
  const c = momConfig({
    lineage: "mom", d_model: 8, n_layer: 1, num_heads: 2, head_dim: 4, num_memories: 3, topk: 1, shared_mem: true,
    vocab_size: 20, intermediate_size: 12, mlp: "split", tie_embeddings: false,
  });
  const dir = writeCkpt(c, { model_type: "mom", hidden_size: 8, num_hidden_layers: 1, num_heads: 2, head_dim: 4, num_memories: 3, topk: 1, intermediate_size: 12, vocab_size: 20 }, 4);
  try {
    const ck = await openCheckpoint(dir);
    const got = ck.config as MomConfig;
    assert.is(got.lineage, "mom");
    assert.is(got.mlp, "split");
    assert.is(got.shared_mem, true); // fla default
    assert.is(got.tie_embeddings, false);
    const m = buildModel(got, ck.weights, createCpuBackend());
    assert.is(m.forward([1, 2, 3], m.newState(), "last")!.length, 20);
    ck.close();
    // the public entry point: load() + a session (byte tokenizer: the directory has no tokenizer.json)
    const lm = await load(dir, { backend: "cpu" });
    const s = lm.session();
    await s.feed(String.fromCharCode(1, 2, 3));
    assert.ok(scaledMaxDiff(s.lastLogits()!, m.forward([1, 2, 3], m.newState(), "last")!) <= 1e-6);
    lm.dispose();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("unsupported MoM options are ConfigErrors naming the field", async () => {
  const c = momConfig({ d_model: 16, n_layer: 2, num_heads: 4, head_dim: 4, vocab_size: 40, intermediate_size: 256 });
  for (const [k, v] of [["single_kv_proj", true], ["use_short_conv", false], ["capacity", 0.5], ["attn", { layers: [1] }]] as const) {
    const dir = writeCkpt(c, { ...naiveJson, [k]: v }, 1);
    try {
      await openCheckpoint(dir).then(
        () => assert.unreachable(`${k} accepted`),
        (e) => {
          assert.instance(e, ConfigError);
          assert.match(String(e.message), k);
        },
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
});

test.run();
