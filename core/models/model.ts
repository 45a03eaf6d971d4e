// What every model family exposes. Config, weights and recurrent state are three separate values
// (as in llama2.c): a Model holds config + resident weights; a ModelState is a plain float32 value.

import type { Backend } from "../../kernels/backend.ts";
import type { ModelConfig } from "./config.ts";
import { cloneAux, type LayerAux, type LongContextPlan } from "./long-context.ts";

/** Recurrent state of one layer. Mamba-2: conv [conv_dim, d_conv-1], ssm [nheads, headdim, d_state].
 *  Mamba-1: conv [d_inner, d_conv-1], ssm [d_inner, d_state]. Conv columns are oldest first. */
export interface LayerState {
  conv: Float32Array;
  ssm: Float32Array;
  /** Long-context bookkeeping (telemetry, window checkpoints), present once a plan has run. */
  aux?: LayerAux;
}

export interface ModelState {
  /** Number of tokens consumed so far. */
  position: number;
  layers: LayerState[];
  /** Mitigation and telemetry plan (core/models/long-context.ts); absent = the plain recurrence. */
  plan?: LongContextPlan;
}

export type LogitsMode = "all" | "last" | "none";

export interface Model {
  readonly config: ModelConfig;
  readonly backend: Backend;
  /** Number of parameters (counting a tied head once). */
  readonly paramCount: number;
  /** Bytes of one ModelState (float32). */
  readonly stateBytes: number;
  newState(): ModelState;
  /**
   * Consume `ids` from `state` (updated in place). Returns logits [T, vocab_rows] ("all"),
   * [vocab_rows] for the last token ("last"), or null ("none"); written into `out` when given
   * (exactly that many values), so a decode loop can reuse one logits array.
   */
  forward(ids: ArrayLike<number>, state: ModelState, logits: LogitsMode, out?: Float32Array): Float32Array | null;
}

/** A zeroed state array, in the backend's memory when it offers that (see Backend.alloc). */
export function stateArray(backend: Backend, n: number): Float32Array {
  if (backend.alloc) {
    try {
      return backend.alloc(n);
    } catch {
      // out of backend memory: an ordinary array works too (the ops copy it in and out)
    }
  }
  return new Float32Array(n);
}

export function cloneState(s: ModelState): ModelState {
  return {
    position: s.position,
    layers: s.layers.map((l) => ({ conv: l.conv.slice(), ssm: l.ssm.slice(), ...(l.aux ? { aux: cloneAux(l.aux) } : {}) })),
    ...(s.plan ? { plan: structuredClone(s.plan) } : {}),
  };
}

/** Where a family reads its float32 weights, by canonical state-spaces name
 *  (`backbone.layers.{i}.mixer.in_proj.weight`, ...); core/formats/weights.ts implements it. */
export interface WeightSource {
  /** The tensor as float32; throws CheckpointError if missing or not of `shape`. */
  f32(name: string, shape: number[]): Float32Array;
  has(name: string): boolean;
}

export interface BuildOptions {
  /** Storage dtype for the large matrices (projections, embedding, head). Default f32. */
  weights?: import("../../kernels/backend.ts").WeightDType;
  /** Longest block of tokens run through the layers at once (bounds activation memory). */
  maxBlock?: number;
}
