// Batched Mamba-2 decode with GPU-resident states (core/models/mamba2-batch.ts, kernels/webgpu/
// mamba2-batch.ts + mamba2-decode.ts): one submission per token step for all sessions, states read
// back only when asked. Checked against sessions decoded alone on cpu / wasm: token for token on
// checkpoints/mamba2-text (greedy), logits and states within tolerance on random weights.
import "./helpers/gpu.ts";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { generateBatch, load, OptionError, type LoadedModel, type Session } from "../core/index.ts";
import { buildWithBatchDecoder } from "../core/models/mamba2-batch.ts";
import type { ModelState } from "../core/models/model.ts";
import { decodeSnapshot } from "../core/stream/snapshot.ts";
import { createWebgpuBackend, type WebgpuBackend } from "../kernels/webgpu/index.ts";
import { rejects } from "./helpers/assert.ts";
import { mamba2Config, randomModel, randomWeights, scaledMaxDiff } from "./helpers/random-model.ts";

const DIR = "checkpoints/mamba2-text";
const PROMPTS = ["In the beginning", "And the LORD said unto Moses, ", "Blessed are the", "1:1 "];
const N = 8; // SwiftShader runs a batched step of 4 mamba2-text sessions in ~10 s on 2 busy cores
const greedy = { maxTokens: N, temperature: 0, stopAtEos: false };

let wasm: LoadedModel;
let cpu: LoadedModel;
test.before(async () => {
  wasm = await load(DIR, { backend: "wasm" });
  cpu = await load(DIR, { backend: "cpu" });
});
test.after(() => {
  wasm.dispose();
  cpu.dispose();
});

async function alone(m: LoadedModel, prompt: string, maxTokens = N): Promise<{ s: Session; tokens: number[] }> {
  const s = m.session();
  const tokens: number[] = [];
  for await (const p of s.generate(prompt, { ...greedy, maxTokens })) if (p.token >= 0) tokens.push(p.token);
  return { s, tokens };
}

async function batch(sessions: Session[], opts: Parameters<typeof generateBatch>[1], each?: (i: number, count: number[]) => void): Promise<number[][]> {
  const got: number[][] = sessions.map(() => []);
  for await (const p of generateBatch(sessions, opts)) {
    if (p.token >= 0) got[p.index].push(p.token);
    each?.(p.index, got.map((g) => g.length));
  }
  return got;
}

const stateOf = (m: LoadedModel, s: Session): ModelState => decodeSnapshot(s.snapshot(), m.hash()).state;

function stateDiff(a: ModelState, b: ModelState): number {
  let e = 0;
  a.layers.forEach((l, i) => (e = Math.max(e, scaledMaxDiff(l.conv, b.layers[i].conv), scaledMaxDiff(l.ssm, b.layers[i].ssm))));
  return e;
}

test("mamba2-text: 4 sessions decoded in one batch give each session's own wasm tokens; one submission per step", async () => {
  const m = await load(DIR, { backend: "webgpu" });
  try {
    assert.ok(m.batch, "webgpu + Mamba-2 has a batched decoder");
    const sessions = PROMPTS.map(() => m.session());
    const steps0 = m.batch!.steps;
    const got = await batch(sessions, { ...greedy, prompts: PROMPTS });
    // N tokens: the first comes from the prompt's logits, the last stays pending (as in generate)
    assert.is(m.batch!.steps - steps0, N - 1);
    for (let i = 0; i < PROMPTS.length; i++) {
      const ref = await alone(wasm, PROMPTS[i]);
      assert.equal(got[i], ref.tokens, `session ${i}`);
      assert.is(sessions[i].position, ref.s.position);
      // the states read back at the end equal the cpu reference's host states
      const c = await alone(cpu, PROMPTS[i]);
      const err = stateDiff(stateOf(m, sessions[i]), stateOf(cpu, c.s));
      assert.ok(err < 1e-4, `session ${i}: state error ${err}`);
      assert.equal(sessions[i].stats().backend, "webgpu");
    }
    // and they go on alone, on the ordinary path, like the wasm sessions
    const next = [];
    for await (const p of sessions[0].generate("", greedy)) if (p.token >= 0) next.push(p.token);
    const ref0 = await alone(wasm, PROMPTS[0]);
    const refNext = [];
    for await (const p of ref0.s.generate("", greedy)) if (p.token >= 0) refNext.push(p.token);
    assert.equal(next, refNext);
  } finally {
    m.dispose();
  }
});

test("random weights (ngroups 2, odd sizes): batched steps over any slots match the cpu model, logits and states", async () => {
  const config = mamba2Config({ d_model: 48, n_layer: 2, d_state: 12, headdim: 8, ngroups: 2, vocab_size: 67 });
  const weights = randomWeights(config, 11);
  const backend = (await createWebgpuBackend()) as WebgpuBackend;
  try {
    const { model, decoder } = buildWithBatchDecoder(config, weights, backend);
    assert.ok(decoder);
    const ref = randomModel(config, 11);
    const S = 3;
    const prompts = [[1, 5, 9, 2], [7], [3, 3, 60, 8, 13, 21]];
    const host = prompts.map((ids) => {
      const st = ref.newState();
      ref.forward(ids, st, "none");
      return st;
    });
    const pool = decoder!.alloc(S);
    host.forEach((st, i) => pool.write(i, st));
    const V = config.vocab_rows;
    // steps over all slots, then a subset in another order (slot indirection)
    const plan: [number[], number[]][] = [[[0, 1, 2], [4, 40, 66]], [[2, 0], [10, 11]], [[1, 2, 0], [0, 1, 2]], [[1], [33]]];
    for (const [slots, ids] of plan) {
      const got = pool.step(ids, slots);
      slots.forEach((slot, b) => {
        const want = ref.forward([ids[b]], host[slot], "last")!;
        const err = scaledMaxDiff(got.subarray(b * V, (b + 1) * V), want);
        assert.ok(err < 1e-4, `slot ${slot}: logit error ${err}`);
      });
    }
    for (let i = 0; i < S; i++) {
      const back = model.newState();
      pool.read(i, back);
      const err = stateDiff(back, host[i]);
      assert.ok(err < 1e-5, `slot ${i}: state error ${err}`);
    }
    // bad input is a typed error
    assert.throws(() => pool.step([1, 2], [0, 0]), (e: unknown) => e instanceof OptionError);
    assert.throws(() => pool.step([V], [0]), (e: unknown) => e instanceof OptionError);
    assert.throws(() => pool.step([1], [S]), (e: unknown) => e instanceof OptionError);
    pool.free();
    decoder!.dispose();
  } finally {
    backend.dispose();
  }
});

test("snapshot / fork during a batch read the state back; the batch goes on; feeding a member is refused", async () => {
  const m = await load(DIR, { backend: "webgpu" });
  try {
    const sessions = PROMPTS.slice(0, 3).map(() => m.session());
    let snap: Uint8Array | null = null;
    let fork: Session | null = null;
    let forkAt = 0;
    let refused = false;
    const pending: Promise<void>[] = [];
    const got = await batch(sessions, { ...greedy, prompts: PROMPTS.slice(0, 3) }, (i, count) => {
      if (i === 1 && count[1] === 4 && !snap) {
        snap = sessions[1].snapshot();
        fork = sessions[2].fork();
        forkAt = count[2];
        pending.push(rejects(() => sessions[0].feed("x"), (e) => e instanceof OptionError && /generateBatch/.test((e as Error).message)).then(() => {
          refused = true;
        }));
      }
    });
    await Promise.all(pending);
    assert.ok(refused);
    const restored = m.session();
    restored.restore(snap!);
    const after: number[] = [];
    for await (const p of restored.generate("", { ...greedy, maxTokens: N - 4 })) if (p.token >= 0) after.push(p.token);
    assert.equal(after, got[1].slice(4));
    const forked: number[] = [];
    for await (const p of fork!.generate("", { ...greedy, maxTokens: N - forkAt })) if (p.token >= 0) forked.push(p.token);
    assert.equal(forked, got[2].slice(forkAt));
  } finally {
    m.dispose();
  }
});

test("device lost in the middle of a batched decode: every session goes on on wasm, same tokens", async () => {
  const m = await load(DIR, { backend: "webgpu" });
  try {
    const prompts = PROMPTS.slice(1);
    const sessions = prompts.map(() => m.session({ checkpointEvery: 3 }));
    let armed = false;
    const got = await batch(sessions, { ...greedy, prompts }, (i, count) => {
      // after the last session's 5th token the next GPU op is the batched step that runs token 5
      // (host copies were read after tokens 3, so token 4 is replayed): it fails as a lost device does
      if (i === 2 && count[2] === 5 && !armed) {
        armed = true;
        (m.backend as WebgpuBackend).injectFault({ afterOps: 1, mode: "lost" });
      }
    });
    assert.ok(armed);
    for (let i = 0; i < prompts.length; i++) assert.equal(got[i], (await alone(wasm, prompts[i])).tokens, `session ${i}`);
    const sw = m.backendSwitches;
    assert.is(sw.length, 1);
    assert.equal([sw[0].from, sw[0].to, sw[0].phase], ["webgpu", "wasm", "decode"]);
    assert.is(sessions[2].stats().backend, "wasm");
  } finally {
    m.dispose();
  }
});

test("generateBatch option checks", async () => {
  const s = wasm.session();
  const bad = async (sessions: Session[], opts = {}) => {
    for await (const _ of generateBatch(sessions, opts)) void _;
  };
  await rejects(() => bad([]), (e) => e instanceof OptionError);
  await rejects(() => bad([s, s]), (e) => e instanceof OptionError);
  await rejects(() => bad([s, cpu.session()]), (e) => e instanceof OptionError);
  await rejects(() => bad([s], { prompts: ["a", "b"] }), (e) => e instanceof OptionError);
  // without a batched decoder (wasm) the sessions are decoded one after the other, same tokens
  const got = await batch([wasm.session(), wasm.session()], { ...greedy, prompts: PROMPTS.slice(0, 2) });
  assert.equal(got[0], (await alone(wasm, PROMPTS[0])).tokens);
  assert.equal(got[1], (await alone(wasm, PROMPTS[1])).tokens);
});

test.run();
