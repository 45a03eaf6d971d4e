// The LM wrapper shared by Mamba-1 and Mamba-2 (mixer_seq_simple.py): embedding, N pre-norm
// residual blocks `x <- x + mixer(rmsnorm(x))` with the residual in float32, norm_f, lm_head
// (tied to the embedding or its own). A family supplies only its mixer.
//
// Shape letters: T tokens, d d_model, V vocab_rows.
import type { Backend, Matrix } from "../../kernels/backend.ts";
import type { ModelConfig } from "./config.ts";
import type { LongContextPlan } from "./long-context.ts";
import { OptionError } from "../errors.ts";
import type { BuildOptions, LayerState, LogitsMode, Model, ModelState, WeightSource } from "./model.ts";
import { Scratch } from "./scratch.ts";

/** Where a block sits in the stream: its first token's absolute position and the state's plan. */
export interface BlockContext {
  position: number;
  plan?: LongContextPlan;
}

export interface Mixer {
  /** u: [T, d] normed input -> [T, d] output; updates the layer state in place. */
  forward(u: Float32Array, T: number, state: LayerState, at: BlockContext): Float32Array;
  newState(): LayerState;
  readonly paramCount: number;
}

/** Builds layer i's mixer; `scratch` is the model's (mixers run one after another and share keys). */
export type MixerFactory = (i: number, prefix: string, scratch: Scratch) => Mixer;

export function buildLM(config: ModelConfig, weights: WeightSource, backend: Backend, opts: BuildOptions, mixer: MixerFactory): Model {
  const { d_model: d, vocab_rows: V, n_layer } = config;
  const dtype = opts.weights ?? "f32";
  const maxBlock = opts.maxBlock ?? 256;
  const scratch = new Scratch(backend);
  const embW = weights.f32("backbone.embedding.weight", [V, d]);
  const embedding = backend.matrix(embW, V, d, dtype);
  let lmHead: Matrix = embedding;
  if (!config.tie_embeddings && weights.has("lm_head.weight"))
    lmHead = backend.matrix(weights.f32("lm_head.weight", [V, d]), V, d, dtype);
  const layers = Array.from({ length: n_layer }, (_, i) => ({
    norm: weights.f32(`backbone.layers.${i}.norm.weight`, [d]),
    mixer: mixer(i, `backbone.layers.${i}.mixer.`, scratch),
  }));
  const normF = weights.f32("backbone.norm_f.weight", [d]);
  const eps = config.norm_eps;
  const paramCount =
    V * d * (lmHead === embedding ? 1 : 2) + d + layers.reduce((s, l) => s + d + l.mixer.paramCount, 0);
  const probe = layers.map((l) => l.mixer.newState());
  const stateBytes = 4 * probe.reduce((s, l) => s + l.conv.length + l.ssm.length, 0);

  /** Runs one block of ids; returns the final normed hidden rows [T, d] (or the last row only). */
  function block(ids: ArrayLike<number>, state: ModelState, lastOnly: boolean): Float32Array {
    const T = ids.length;
    const x = backend.embed(ids, embedding, scratch.get("lm.x", T * d));
    const at: BlockContext = { position: state.position, plan: state.plan };
    for (let i = 0; i < n_layer; i++) {
      const u = backend.rmsnorm(x, T, d, layers[i].norm, eps, scratch.get("lm.u", T * d));
      backend.add(x, layers[i].mixer.forward(u, T, state.layers[i], at));
    }
    const rows = lastOnly && T > 1 ? x.subarray((T - 1) * d) : x;
    return backend.rmsnorm(rows, lastOnly ? 1 : T, d, normF, eps, scratch.get("lm.h", (lastOnly ? 1 : T) * d));
  }

  return {
    config,
    backend,
    paramCount,
    stateBytes,
    newState: () => ({ position: 0, layers: layers.map((l) => l.mixer.newState()) }),
    forward: (ids, state, mode, out) =>
      forwardInBlocks(ids, state, mode, V, maxBlock, out, (chunk, lastOnly) => block(chunk, state, lastOnly),
        (hidden, rows, o) => backend.matmul(hidden, rows, lmHead, o)),
  };
}

/**
 * Model.forward over blocks of at most `maxBlock` ids: `step` consumes one block (at the state's
 * position) and returns its final hidden rows (only the last one when asked); `head` maps rows to
 * logits, into `o` when given. Shared by the LM families.
 */
export function forwardInBlocks(
  ids: ArrayLike<number>, state: ModelState, mode: LogitsMode, V: number, maxBlock: number, out: Float32Array | undefined,
  step: (chunk: ArrayLike<number>, lastOnly: boolean) => Float32Array,
  head: (hidden: Float32Array, rows: number, o?: Float32Array) => Float32Array,
): Float32Array | null {
  const T = ids.length;
  if (out && mode !== "none" && out.length !== (mode === "all" ? T : 1) * V)
    throw new OptionError(`forward: out has ${out.length} values, expected ${mode === "all" ? `[${T}, ${V}]` : V} logits`, "out");
  if (T === 0) return mode === "none" ? null : out ?? new Float32Array(0);
  const all = mode === "all" ? out ?? new Float32Array(T * V) : null;
  let last: Float32Array | null = null;
  for (let t0 = 0; t0 < T; t0 += maxBlock) {
    const t1 = Math.min(T, t0 + maxBlock);
    const chunk = T <= maxBlock ? ids : (Array.prototype.slice.call(ids, t0, t1) as number[]);
    const hidden = step(chunk, mode !== "all");
    state.position += chunk.length;
    if (all) head(hidden, chunk.length, all.subarray(t0 * V, t1 * V));
    else if (mode === "last" && t1 === T) last = head(hidden, 1, out);
  }
  return all ?? last;
}

/** y[T, n] += bias[n] (projection biases; absent in released checkpoints). */
export function addBias(backend: Backend, y: Float32Array, T: number, bias: Float32Array | null): Float32Array {
  if (bias && T === 1) backend.add(y, bias); // no view per decode step
  else if (bias) for (let t = 0; t < T; t++) backend.add(y.subarray(t * bias.length, (t + 1) * bias.length), bias);
  return y;
}
