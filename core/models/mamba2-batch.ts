// Batched decode of several sessions of one Mamba-2 model with their states resident on the GPU
// (webgpu backend; kernels/webgpu/mamba2-batch.ts and mamba2-decode.ts run it). This module builds
// the model as usual and, on the way, records which resident matrix holds which weight, so that the
// decoder refers to the model's own GPU buffers instead of uploading the weights a second time.
// The model it returns also prefills on the device: model.forward of a prompt (no plan or the `none`
// plan) runs every layer there and reads back only the last logits, the state and, for the plan's
// telemetry, the probe norms (docs/gpu.md, "Resident prefill").
// Any other family, backend or a config with projection biases gets no decoder (sessions then decode
// one after the other on the ordinary path).
//
// Shape letters: S slots, B sessions in a step, V vocab rows (others as in mamba2.ts).
import type { Backend, Matrix } from "../../kernels/backend.ts";
import type { GpuBackend } from "../../kernels/gpu/backend.ts";
import { WebgpuMamba2Decoder, type WebgpuStatePool } from "../../kernels/webgpu/mamba2-batch.ts";
import { BackendError } from "../errors.ts";
import type { ModelConfig } from "./config.ts";
import { buildModel } from "./index.ts";
import { newAux, planCuts, recordNorms, type LongContextPlan, type ScanLayout } from "./long-context.ts";
import type { BuildOptions, Model, ModelState, WeightSource } from "./model.ts";

/** The states of up to `slots` sessions on the device, and the batched step over any of them. */
export interface BatchStates {
  readonly slots: number;
  /** Copies a session's host state into a slot. */
  write(slot: number, state: ModelState): void;
  /** Reads a slot back into a host state's arrays (position and plan untouched). */
  read(slot: number, into: ModelState): void;
  /** Feeds ids[b] to slots[b] for every b, in one submission. Returns logits [B, vocab_rows]. */
  step(ids: number[], slots: number[]): Float32Array;
  /**
   * Feeds a prompt to one slot with the chunked scan, in blocks of at most `block` tokens (default
   * 2048; activations stay on the device). Returns the last token's logits [vocab_rows].
   */
  prefill(slot: number, ids: ArrayLike<number>, block?: number): Float32Array;
  free(): void;
}

export interface BatchDecoder {
  /** The model whose resident weights it uses (a session on another model is not batched). */
  readonly model: Model;
  /** Batched steps run so far (each one submission for all the sessions in it). */
  readonly steps: number;
  /** Resident prefills run so far (BatchStates.prefill calls and model.forward calls that took the resident path). */
  readonly prefills: number;
  alloc(slots: number): BatchStates;
  dispose(): void;
}

/** buildModel, plus the batched decoder when `backend` is webgpu and the model a bias-free Mamba-2. */
export function buildWithBatchDecoder(
  config: ModelConfig, weights: WeightSource, backend: Backend, opts: BuildOptions = {},
): { model: Model; decoder: BatchDecoder | null } {
  if (config.family !== "mamba2" || backend.name !== "webgpu" || config.bias) return { model: buildModel(config, weights, backend, opts), decoder: null };
  // record the weights read and the matrices uploaded while the model is built
  const arrays = new Map<string, Float32Array>();
  const made: { src: Float32Array; m: Matrix }[] = [];
  let building = true; // matrices made later (long-context.ts uploads some per call) are not recorded
  const recording: WeightSource = {
    f32: (name, shape) => {
      const a = weights.f32(name, shape);
      arrays.set(name, a);
      return a;
    },
    has: (name) => weights.has(name),
  };
  const recBackend: Backend = Object.create(backend, {
    matrix: {
      value: (w: Float32Array, rows: number, cols: number, dtype?: Parameters<Backend["matrix"]>[3]) => {
        const m = backend.matrix(w, rows, cols, dtype);
        if (building) made.push({ src: w, m });
        return m;
      },
    },
  });
  const built = buildModel(config, recording, recBackend, opts);
  building = false;

  const { d_model: d, d_inner: E, nheads: H, headdim: P, ngroups: G, d_state: N, d_conv: K, vocab_rows: V } = config;
  const GN = G * N;
  const get = (name: string): Float32Array => {
    const a = arrays.get(name);
    if (!a) throw new BackendError(`batched decode: the model did not read ${name}`, "webgpu");
    return a;
  };
  /** The resident matrix uploaded from rows [row0, row0 + rows) of the weight `name`. */
  const matrix = (name: string, row0: number, rows: number, cols: number): Matrix => {
    const src = get(name);
    const off = src.byteOffset + row0 * cols * 4;
    const hit = made.find((r) => r.src.buffer === src.buffer && r.src.byteOffset === off && r.m.rows === rows && r.m.cols === cols);
    if (!hit) throw new BackendError(`batched decode: no resident matrix for ${name} rows ${row0}..${row0 + rows}`, "webgpu");
    return hit.m;
  };
  const embedding = matrix("backbone.embedding.weight", 0, V, d);
  const lmHead = arrays.has("lm_head.weight") ? matrix("lm_head.weight", 0, V, d) : embedding;
  const sizes = [E, E, GN, GN, H];
  const layers = Array.from({ length: config.n_layer }, (_, i) => {
    const pre = `backbone.layers.${i}.mixer.`;
    let row = 0;
    const proj = sizes.map((n) => {
      const m = matrix(pre + "in_proj.weight", row, n, d);
      row += n;
      return m;
    });
    return {
      norm: get(`backbone.layers.${i}.norm.weight`).slice(),
      proj,
      outProj: matrix(pre + "out_proj.weight", 0, d, E),
      convW: get(pre + "conv1d.weight").slice(),
      convB: config.conv_bias ? get(pre + "conv1d.bias").slice() : null,
      dtBias: get(pre + "dt_bias").slice(),
      A: get(pre + "A_log").map((v) => -Math.exp(v)),
      D: get(pre + "D").slice(),
      normW: config.rmsnorm ? get(pre + "norm.weight").slice() : null,
    };
  });
  const dec = new WebgpuMamba2Decoder(backend as GpuBackend, {
    d, E, H, P, G, N, K, V, Q: config.chunk_size, eps: config.norm_eps, normEps: config.norm_eps,
    groupSize: config.norm_per_group ? E / G : E, normBeforeGate: config.norm_before_gate,
    dtLo: config.dt_limit[0], dtHi: config.dt_limit[1],
    embedding, lmHead, normF: get("backbone.norm_f.weight").slice(), layers,
  });
  arrays.clear();
  made.length = 0;
  // model.forward of a prompt runs on the GPU from embedding to logits (one slot of a one-session
  // pool: state up, prefill, state down), with the `none` plan's telemetry read off the device;
  // one token, all logits and the mitigations are the per-op path
  let one: PoolHandle | null = null;
  let prefills = 0;
  const layouts: ScanLayout[] = layers.map((l) => ({ U: H, P, N, G, A: l.A, An: 1, D: l.D }));
  const model: Model = {
    ...built,
    backend,
    forward(ids, state, mode, out) {
      const plan = state.plan;
      if (ids.length < 2 || mode === "all" || (plan && plan.kind !== "none")) return built.forward(ids, state, mode, out);
      if (out && mode === "last" && out.length !== V) return built.forward(ids, state, mode, out); // its error
      one ??= wrapPool(dec.alloc(1), dec);
      one.write(0, state);
      const tel = plan ? telemetryBlocks(plan, state.position, ids.length, config.chunk_size) : null;
      const { logits, norms } = tel ? one.pool.prefillBlocks(0, ids, tel.blocks, true) : { logits: one.pool.prefill(0, ids), norms: null };
      one.read(0, state);
      if (plan && tel && norms) {
        const L = state.layers.length;
        const aux = state.layers.map((ls, i) => (ls.aux ??= newAux(layouts[i], plan, ls.ssm))); // as scanWithPlan does
        for (const cut of planCuts(plan, state.position, ids.length)) {
          const k = tel.positions.get(cut.t1)!;
          if (cut.at) aux.forEach((a, i) => recordNorms(plan, a, cut.n1, norms.subarray((k * L + i) * H, (k * L + i + 1) * H), cut.at!));
        }
      }
      state.position += ids.length;
      prefills++;
      if (mode === "none") return null;
      if (!out) return logits;
      out.set(logits);
      return out;
    },
  };
  const decoder = batchDecoder(model, dec, () => prefills, () => {
    one?.pool.free();
    one = null;
  });
  return { model, decoder };
}

/**
 * Prefill blocks ([n, q] pairs, see WebgpuStatePool.prefillBlocks) for a call of T tokens at
 * `position` under a telemetry plan: consecutive stretches between the plan's stops (planCuts) of
 * one length q form a block in chunks of q (at most about 2048 tokens), so every stop is a chunk
 * start or a block end; a stretch longer than that is cut into blocks in chunks of the model's Q.
 * `positions` maps the relative position of every norm the device returns to its index.
 */
export function telemetryBlocks(plan: LongContextPlan, position: number, T: number, Q: number, maxBlock = 2048): { blocks: number[]; positions: Map<number, number> } {
  const blocks: number[] = [];
  const add = (n: number, q: number) => {
    const k = blocks.length;
    if (k && blocks[k - 1] === q && blocks[k - 2] % q === 0 && n === q && blocks[k - 2] + n <= maxBlock) blocks[k - 2] += n;
    else blocks.push(n, q);
  };
  for (const { t0, t1 } of planCuts(plan, position, T)) {
    const len = t1 - t0;
    if (len <= maxBlock) add(len, len);
    else for (let t = t0; t < t1; t += maxBlock) add(Math.min(maxBlock, t1 - t), Q);
  }
  const positions = new Map<number, number>();
  let t = 0;
  for (let k = 0; k < blocks.length; k += 2) {
    const [n, q] = [blocks[k], Math.min(blocks[k + 1], blocks[k])];
    for (let c = 1; c * q < n; c++) positions.set(t + c * q, positions.size);
    positions.set(t + n, positions.size);
    t += n;
  }
  return { blocks, positions };
}

interface PoolHandle extends BatchStates {
  readonly pool: WebgpuStatePool;
}

/** BatchStates over a device pool: host states in and out, steps, prefills. */
function wrapPool(pool: WebgpuStatePool, dec: WebgpuMamba2Decoder, counted: { steps: number; prefills: number } = { steps: 0, prefills: 0 }): PoolHandle {
  const { convSize: nc, ssmSize: ns, layers: L } = dec;
  return {
    pool,
    slots: pool.slots,
    write(slot, state) {
      const conv = new Float32Array(L * nc);
      const ssm = new Float32Array(L * ns);
      state.layers.forEach((l, i) => {
        conv.set(l.conv, i * nc);
        ssm.set(l.ssm, i * ns);
      });
      pool.write(slot, conv, ssm);
    },
    read(slot, into) {
      const { conv, ssm } = pool.read(slot);
      into.layers.forEach((l, i) => {
        l.conv.set(conv.subarray(i * nc, (i + 1) * nc));
        l.ssm.set(ssm.subarray(i * ns, (i + 1) * ns));
      });
    },
    step(ids, sl) {
      const r = pool.step(ids, sl);
      counted.steps++;
      return r;
    },
    prefill(slot, ids, block) {
      const r = pool.prefill(slot, ids, block);
      counted.prefills++;
      return r;
    },
    free: () => pool.free(),
  };
}

function batchDecoder(model: Model, dec: WebgpuMamba2Decoder, forwardPrefills: () => number, beforeDispose: () => void): BatchDecoder {
  const counted = { steps: 0, prefills: 0 };
  return {
    model,
    get steps() {
      return counted.steps;
    },
    get prefills() {
      return counted.prefills + forwardPrefills();
    },
    alloc: (slots: number): BatchStates => wrapPool(dec.alloc(slots), dec, counted),
    dispose: () => {
      beforeDispose();
      dec.dispose();
    },
  };
}
