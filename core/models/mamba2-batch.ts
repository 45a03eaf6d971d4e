// Batched decode of several sessions of one Mamba-2 model with their states resident on the GPU
// (webgpu backend; kernels/webgpu/mamba2-batch.ts and mamba2-decode.ts run it). This module builds
// the model as usual and, on the way, records which resident matrix holds which weight, so that the
// decoder refers to the model's own GPU buffers instead of uploading the weights a second time.
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
  /** Resident prefills run so far (model.forward calls that took the resident path). */
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
  // model.forward of a prompt without a long-context plan runs on the GPU from embedding to logits
  // (one slot of a one-session pool: state up, prefill, state down); anything else is the per-op path
  let one: BatchStates | null = null;
  const model: Model = {
    ...built,
    backend,
    forward(ids, state, mode, out) {
      if (ids.length < 2 || mode === "all" || state.plan) return built.forward(ids, state, mode, out);
      if (out && mode === "last" && out.length !== V) return built.forward(ids, state, mode, out); // its error
      one ??= decoder.alloc(1);
      one.write(0, state);
      const logits = one.prefill(0, ids);
      one.read(0, state);
      state.position += ids.length;
      if (mode === "none") return null;
      if (!out) return logits;
      out.set(logits);
      return out;
    },
  };
  const decoder = batchDecoder(model, dec, () => {
    one?.free();
    one = null;
  });
  return { model, decoder };
}

function batchDecoder(model: Model, dec: WebgpuMamba2Decoder, beforeDispose: () => void): BatchDecoder {
  let steps = 0, prefills = 0;
  const { convSize: nc, ssmSize: ns, layers: L } = dec;
  return {
    model,
    get steps() {
      return steps;
    },
    get prefills() {
      return prefills;
    },
    alloc(slots: number): BatchStates {
      const pool: WebgpuStatePool = dec.alloc(slots);
      return {
        slots,
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
          steps++;
          return r;
        },
        prefill(slot, ids, block) {
          const r = pool.prefill(slot, ids, block);
          prefills++;
          return r;
        },
        free: () => pool.free(),
      };
    },
    dispose: () => {
      beforeDispose();
      dec.dispose();
    },
  };
}
