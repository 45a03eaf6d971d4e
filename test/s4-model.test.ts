// S4 / S4D models end to end: both parameter layouts (s4d.py S4D, s4.py S4Block), diag and DPLR
// kernels, LM and sequence model; conv mode == recurrent mode at the model level; checkpoints on disk
// through load() / resolveConfig; the Session (generate, feed in pieces, snapshot / restore, fork).
//
// Tolerances: logits / outputs conv vs recurrent 1e-4 scaled (observed ~1e-6: the SSM-level 2e-5
// bound of s4-properties, then LayerNorm / GLU / decoder in float32).
import { test } from "uvu";
import * as assert from "uvu/assert";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { load } from "../core/index.ts";
import { ConfigError, CheckpointError, OptionError } from "../core/errors.ts";
import type { S4Config } from "../core/models/config.ts";
import { buildS4, isS4Model, poolOutputs, type S4BuildOptions } from "../core/models/s4.ts";
import { s4ConfigJson } from "../core/models/s4-config.ts";
import { randomS4Tensors, randomS4Weights, s4Config, s4Safetensors } from "../core/models/s4-random.ts";
import { createCpuBackend } from "../kernels/cpu/index.ts";
import type { Backend } from "../kernels/backend.ts";
import { mulberry32 } from "../core/models/random.ts";
import { scaledMaxDiff } from "./helpers/random-model.ts";

const VARIANTS: [string, Partial<S4Config>, { lKernel?: number }][] = [
  ["s4d.py S4D (zoh)", { block: "S4D", d_model: 8, d_state: 8 }, {}],
  ["S4Block diag zoh, channels 2, n_ssm 2, softplus dt", { block: "S4Block", mode: "diag", d_model: 8, d_state: 6, channels: 2, n_ssm: 2, transforms: { dt: "softplus", real: "exp", imag: "none" } }, {}],
  ["S4Block diag bilinear, untied dt, prenorm", { block: "S4Block", mode: "diag", disc: "bilinear", d_model: 8, d_state: 8, n_ssm: 8, dt_tie: false, prenorm: true }, {}],
  ["S4Block S4D-Real (is_real)", { block: "S4Block", mode: "diag", d_model: 8, d_state: 4, n_ssm: 4, is_real: true, init: "diag-real" }, {}],
  ["S4Block DPLR rank 1 (C̃ for l_kernel 32)", { block: "S4Block", mode: "dplr", d_model: 8, d_state: 8, n_ssm: 1 }, { lKernel: 32 }],
  ["S4Block DPLR rank 2, final_act id, l_kernel 0", { block: "S4Block", mode: "dplr", d_model: 8, d_state: 6, n_ssm: 2, rank: 2, final_act: "id" }, {}],
];

const cpu = createCpuBackend();
const build = (c: S4Config, seed: number, o: S4BuildOptions & { lKernel?: number } = {}) =>
  buildS4(c, randomS4Weights(c, seed, { lKernel: o.lKernel }), cpu, o);
const ids = (n: number, seed: number, V = 256) => {
  const r = mulberry32(seed);
  return Array.from({ length: n }, () => Math.floor(r() * V));
};

for (const [name, partial, wopts] of VARIANTS) {
  test(`${name}: LM logits, conv mode == recurrent mode == fed in pieces`, () => {
    const c = s4Config({ ...partial, n_layer: 2 });
    const seq = ids(45, 1);
    const rec = build(c, 3, { ...wopts, s4Mode: "recurrent" });
    const conv = build(c, 3, { ...wopts, s4Mode: "conv", chunk: 16 });
    const a = rec.forward(seq, rec.newState(), "all")!;
    const b = conv.forward(seq, conv.newState(), "all")!;
    assert.is(a.length, 45 * 256);
    assert.ok(a.every(Number.isFinite));
    assert.ok(scaledMaxDiff(b, a) < 1e-4, `conv vs recurrent ${scaledMaxDiff(b, a)}`);
    // pieces 7, 1, 20, 17 carried through the state, in conv mode (kernel 16 < piece)
    const s = conv.newState();
    const parts = [seq.slice(0, 7), seq.slice(7, 8), seq.slice(8, 28), seq.slice(28)];
    const pieces = parts.map((p) => conv.forward(p, s, "all")!);
    const joined = new Float32Array(a.length);
    let o = 0;
    for (const p of pieces) {
      joined.set(p, o);
      o += p.length;
    }
    assert.ok(scaledMaxDiff(joined, a) < 1e-4, `pieces vs whole ${scaledMaxDiff(joined, a)}`);
    assert.is(s.position, 45);
  });
}

test("sequence model on float inputs: conv == recurrent, pooled mean / last / sum", () => {
  const c = s4Config({ task: "sequence", block: "S4Block", mode: "dplr", d_model: 8, d_state: 8, n_ssm: 2, d_input: 3, d_output: 2 });
  const r = mulberry32(5);
  const T = 30;
  const u = Float32Array.from({ length: T * 3 }, () => r() - 0.5);
  const rec = build(c, 9, { s4Mode: "recurrent" });
  const conv = build(c, 9, { s4Mode: "conv", chunk: 8 });
  const y1 = rec.forwardFloat(u, T, rec.newState());
  const y2 = conv.forwardFloat(u, T, conv.newState());
  assert.is(y1.length, T * 2);
  assert.ok(scaledMaxDiff(y2, y1) < 1e-4);
  const mean = poolOutputs(y1, T, 2, "mean");
  assert.ok(Math.abs(mean[0] - Array.from({ length: T }, (_, t) => y1[2 * t]).reduce((a, b) => a + b) / T) < 1e-6);
  assert.equal(Array.from(poolOutputs(y1, T, 2, "last")), Array.from(y1.slice(2 * T - 2)));
  assert.throws(() => rec.forward([1, 2], rec.newState(), "all"), (e: unknown) => e instanceof OptionError);
});

test("a backend without S4 ops runs the cpu reference and says so", () => {
  const { s4: _omit, ...rest } = createCpuBackend();
  const bare: Backend = { ...rest, name: "wasm" };
  const c = s4Config({ block: "S4D", d_model: 4, d_state: 4, n_layer: 1 });
  const m = buildS4(c, randomS4Weights(c, 1), bare);
  assert.match(m.s4Ops, /cpu reference/);
  assert.is(build(c, 1).s4Ops, "cpu");
});

function writeCheckpoint(c: S4Config, seed: number, opts: { lKernel?: number; json?: Record<string, unknown> } = {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "s4-ckpt-"));
  fs.writeFileSync(path.join(dir, "model.safetensors"), s4Safetensors(randomS4Tensors(c, seed, opts)));
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify({ ...s4ConfigJson(c), ...opts.json }));
  return dir;
}

test("checkpoint on disk: load() resolves the S4 config and the Session generates, snapshots, restores and forks", async () => {
  const c = s4Config({ block: "S4Block", mode: "dplr", d_model: 8, d_state: 8, n_ssm: 1, n_layer: 2 });
  const dir = writeCheckpoint(c, 4, { lKernel: 64 });
  try {
    const m = await load(dir, { backend: "cpu" });
    assert.is(m.config.family, "s4");
    assert.ok(isS4Model(m.model));
    if (m.config.family !== "s4") return;
    assert.is(m.config.mode, "dplr");
    assert.is(m.config.task, "lm");
    assert.is(m.config.vocab_rows, 256);
    assert.is(m.model.stateBytes, 2 * 8 * 4 * 2 * 4);
    // the same weights in memory give the same logits (C̃ -> C recovered on load in both)
    const mem = build(c, 4, { lKernel: 64 });
    const seq = ids(20, 2);
    assert.ok(scaledMaxDiff(m.model.forward(seq, m.model.newState(), "all")!, mem.forward(seq, mem.newState(), "all")!) < 1e-6);

    const s = m.session();
    const text = async (sess: typeof s, prompt: string) => {
      let t = "";
      for await (const p of sess.generate(prompt, { maxTokens: 12, seed: 3, temperature: 0.9 })) t += p.text;
      return t;
    };
    await s.feed("Once upon a time");
    const snap = s.snapshot();
    const fork = s.fork();
    const first = await text(s, " there");
    const s2 = m.session();
    s2.restore(snap);
    assert.is(await text(s2, " there"), first);
    assert.is(await text(fork, " there"), first);
    // feeding in pieces == feeding at once
    const a = m.session();
    await a.feed("abcdefghijklmnop");
    const b = m.session();
    await b.feed("abcde");
    await b.feed("fghijklmnop");
    assert.ok(scaledMaxDiff(a.lastLogits()!, b.lastLogits()!) < 1e-5);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("config errors name the field: bidirectional, mode vs weights, d_state, v3 names, unknown option values", async () => {
  const c = s4Config({ block: "S4Block", mode: "diag", d_model: 4, d_state: 4, n_ssm: 4, n_layer: 1 });
  const cases: [Record<string, unknown>, RegExp, typeof ConfigError | typeof CheckpointError][] = [
    [{ bidirectional: true }, /field bidirectional: .*cannot stream/, ConfigError],
    [{ mode: "nplr" }, /field mode: .*no s4_layers\.0\.layer\.kernel\.P/, ConfigError],
    [{ d_state: 8 }, /field d_state: is 8 .*A_real has shape \[4, 2\]/, ConfigError],
    [{ disc: "foh" }, /field disc: expected one of zoh, bilinear/, ConfigError],
    [{ transforms: { dt: "cube" } }, /field dt: expected one of none, exp/, ConfigError],
    [{ gate: 2 }, /field gate: .*not supported/, ConfigError],
  ];
  for (const [json, re, cls] of cases) {
    const dir = writeCheckpoint(c, 1, { json });
    try {
      await load(dir, { backend: "cpu" }).then(
        () => assert.unreachable(`accepted ${JSON.stringify(json)}`),
        (e) => {
          assert.instance(e, cls);
          assert.match((e as Error).message, re);
        },
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  // v3 parameter names
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "s4-v3-"));
  try {
    const t = new Map([["encoder.weight", { shape: [256, 4], data: new Float32Array(1024) }], ["s4_layers.0.layer.kernel.kernel.log_w_real", { shape: [4, 2], data: new Float32Array(8) }]]);
    fs.writeFileSync(path.join(dir, "model.safetensors"), s4Safetensors(t));
    fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify({ model_type: "s4", d_model: 4, n_layers: 1, vocab_size: 256 }));
    await load(dir, { backend: "cpu" }).then(
      () => assert.unreachable("accepted v3 names"),
      (e) => assert.match((e as Error).message, /v3 parameter names .*convert_v3_to_v4/),
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
