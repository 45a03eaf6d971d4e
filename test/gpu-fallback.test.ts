// GPU failure fallback (core/stream/fallback.ts): a webgpu op that fails mid-stream moves the model to
// wasm, every session rebuilds its state there from its host copy + the ids since, and the stream goes
// on with no token lost or repeated. The failures are injected inside the GPU worker
// (kernels/webgpu/faults.ts), so they reach the session as real ones do (a BackendError from the
// bridge). checkpoints/mamba2-text decodes greedily to the same tokens on cpu, wasm and webgpu, so
// every run is compared token for token with an uninterrupted wasm run.
import "./helpers/gpu.ts";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  BackendError, load, type BackendSwitch, type LoadedModel, type Piece, type Session, type SessionOptions,
} from "../core/index.ts";
import { assembleWithFallback } from "../core/stream/fallback.ts";
import type { WebgpuBackend } from "../kernels/webgpu/index.ts";
import { rejects } from "./helpers/assert.ts";

const DIR = "checkpoints/mamba2-text";
const FIRST = "And God said, Let there be light: ";
const PROMPT = "and there was ";
const N = 20;
const greedy = { maxTokens: N, temperature: 0, stopAtEos: false };

let wasm: LoadedModel;
test.before(async () => {
  wasm = await load(DIR, { backend: "wasm" });
});
test.after(() => wasm.dispose());

async function tokens(it: AsyncIterable<Piece>, each?: (i: number) => void): Promise<number[]> {
  const out: number[] = [];
  for await (const p of it) {
    if (p.token >= 0) out.push(p.token);
    each?.(out.length);
  }
  return out;
}

/** The uninterrupted wasm reference: feed FIRST, then generate from PROMPT. */
async function reference(opts?: SessionOptions): Promise<{ session: Session; tokens: number[] }> {
  const s = wasm.session(opts);
  await s.feed(FIRST);
  return { session: s, tokens: await tokens(s.generate(PROMPT, greedy)) };
}

const isError = (cls: new (...a: any[]) => Error, re?: RegExp) => (e: unknown) => e instanceof cls && (!re || re.test(e.message));
const inject = (m: LoadedModel, afterOps: number, mode: "error" | "lost") => (m.backend as WebgpuBackend).injectFault({ afterOps, mode });

test("premise: uninterrupted webgpu and wasm runs give the same greedy tokens", async () => {
  const m = await load(DIR, { backend: "webgpu" });
  try {
    const s = m.session();
    await s.feed(FIRST);
    const got = await tokens(s.generate(PROMPT, greedy));
    assert.equal(got, (await reference()).tokens);
    assert.is(got.length, N);
    assert.is(s.stats().backend, "webgpu");
    assert.equal(m.backendSwitches, []);
  } finally {
    m.dispose();
  }
});

// the default session's prompt forward is a resident prefill (ops: state write, prefill, state read):
// the 2nd op from now is the prefill itself, after which the device's copy of the state is
// half-advanced; under a mitigation ("auto") the prefill is op by op and the 30th op falls inside it
// (4 layers x ~15 ops), after some layers have updated their host state in place. Either way the
// replay must start from the journal.
for (const [label, opts, afterOps] of [["resident", {}, 2], ["per-op (mitigation auto)", { mitigation: "auto" }, 30]] as const) {
  test(`device lost during a ${label} prefill: the session goes on on wasm, same tokens, and reports the switch`, async () => {
    const events: BackendSwitch[] = [];
    const m = await load(DIR, { backend: "webgpu", onBackendSwitch: (e) => events.push(e) });
    try {
      const s = m.session(opts);
      await s.feed(FIRST);
      const before = s.position;
      inject(m, afterOps, "lost");
      const got = await tokens(s.generate(PROMPT, greedy));
      const ref = await reference(opts);
      assert.equal(got, ref.tokens);
      assert.is(s.position, ref.session.position);
      const st = s.stats();
      assert.is(st.backend, "wasm");
      assert.is(m.backend.name, "wasm");
      assert.is(st.backendSwitches.length, 1);
      const sw = st.backendSwitches[0];
      assert.equal([sw.from, sw.to, sw.phase, sw.position], ["webgpu", "wasm", "prefill", before]);
      assert.match(sw.reason, /device lost \(simulated/);
      assert.equal(events, st.backendSwitches);
      assert.equal(m.backendSwitches, st.backendSwitches);
    } finally {
      m.dispose();
    }
  });
}

test("op error in a resident decode step: ids since the last host copy are replayed, same tokens; forks follow", async () => {
  const m = await load(DIR, { backend: "webgpu" });
  try {
    const s = m.session({ checkpointEvery: 4 });
    await s.feed(FIRST);
    const start = s.position;
    let fork: Session | null = null;
    let forkAt = 0;
    // on webgpu a Mamba-2 session decodes with its state resident (one op per token, plus a state
    // read for each host copy, after tokens 4 and 8). After the 10th token the next op is the step
    // that runs token 10 (lazily, when the 11th is asked for): it fails, and token 9 is replayed
    const got = await tokens(s.generate(PROMPT, greedy), (i) => {
      if (i === 6) {
        fork = s.fork();
        forkAt = fork.position;
      }
      if (i === 10) inject(m, 1, "error");
    });
    const ref = await reference();
    assert.equal(got, ref.tokens);
    const sw = s.stats().backendSwitches;
    assert.is(sw.length, 1);
    assert.equal([sw[0].phase, sw[0].position], ["decode", ref.session.position - 1 - (N - 10)]);
    assert.match(sw[0].reason, /validation error \(injected/);
    assert.ok(sw[0].position > start);
    // the fork was taken on the GPU (6 tokens in) and goes on on wasm like a wasm fork would
    const wantFork = wasm.session();
    await wantFork.feed(FIRST);
    const refFork = await tokens(wantFork.generate(PROMPT, { ...greedy, maxTokens: 6 }));
    assert.equal(refFork, ref.tokens.slice(0, 6));
    assert.is(fork!.position, forkAt);
    assert.equal(await tokens(fork!.generate("", greedy)), await tokens(wantFork.generate("", greedy)));
    assert.is(fork!.stats().backend, "wasm");
  } finally {
    m.dispose();
  }
});

test("op error in the middle of a per-op decode step (a long-context plan keeps decode op by op), same tokens", async () => {
  const m = await load(DIR, { backend: "webgpu" });
  try {
    // "auto" changes nothing within the model's training length (256 tokens), but it is not "none",
    // so this session runs every op of every token through the bridge
    const s = m.session({ mitigation: "auto", checkpointEvery: 4 });
    await s.feed(FIRST);
    // token 10's forward fails at its 7th op (layer 0: some of its state already updated in place)
    const got = await tokens(s.generate(PROMPT, greedy), (i) => i === 10 && inject(m, 7, "error"));
    const ref = await reference({ mitigation: "auto" });
    assert.equal(got, ref.tokens);
    const sw = s.stats().backendSwitches;
    assert.equal([sw.length, sw[0].phase, sw[0].position], [1, "decode", ref.session.position - 1 - (N - 10)]);
    assert.is(s.stats().backend, "wasm");
  } finally {
    m.dispose();
  }
});

test("fallback 'none': the GPU failure is a BackendError, nothing switches", async () => {
  const m = await load(DIR, { backend: "webgpu", fallback: "none" });
  try {
    const s = m.session();
    inject(m, 3, "error");
    await rejects(() => s.feed(FIRST), isError(BackendError, /validation error \(injected/));
    assert.is(m.backend.name, "webgpu");
    assert.equal(s.stats().backendSwitches, []);
  } finally {
    m.dispose();
  }
});

test("a GPU backend that cannot start gives way to wasm at load, and says so", async () => {
  const seen: BackendSwitch[] = [];
  const tried: string[] = [];
  const r = await assembleWithFallback("webgpu", "wasm", async (b) => {
    tried.push(b);
    if (b === "webgpu") throw new BackendError("no WebGPU adapter", "webgpu");
    return b;
  }, (s) => seen.push(s));
  assert.equal(tried, ["webgpu", "wasm"]);
  assert.is(r.loaded, "wasm");
  assert.equal(r.initial, [{ from: "webgpu", to: "wasm", reason: "backend webgpu: no WebGPU adapter", phase: "init", position: 0 }]);
  assert.equal(seen, r.initial);
  // "none" keeps the error; a non-backend error is never swallowed; cpu / wasm choices never fall back
  await rejects(() => assembleWithFallback("webgpu", "none", async () => { throw new BackendError("no adapter", "webgpu"); }), isError(BackendError));
  await rejects(() => assembleWithFallback("webgpu", "wasm", async () => { throw new TypeError("bug"); }), isError(TypeError));
  await rejects(() => assembleWithFallback("wasm", "wasm", async () => { throw new BackendError("x", "wasm"); }), isError(BackendError));
});

test("load() option checks: fallback must be wasm or none", async () => {
  await rejects(() => load(DIR, { backend: "webgpu", fallback: "cpu" as "wasm" }), isError(Error, /option fallback/));
});

test.run();
