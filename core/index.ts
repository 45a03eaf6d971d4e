// scanstream's library entry: load a checkpoint folder onto a backend and open sessions on it.
//
//   const model = await load("checkpoints/mamba2-text", { backend: "auto" });
//   const session = model.session();
//   for await (const piece of session.generate("Once upon a time", { maxTokens: 100, seed: 1 })) ...
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { Backend, WeightDType } from "../kernels/backend.ts";
import { checkBackendChoice, createBackend, type BackendChoice } from "../kernels/registry.ts";
import { OptionError } from "./errors.ts";
import type { LoadedModel as BaseLoadedModel, LoadOptions as BaseLoadOptions } from "./loaded-model.ts";
import { openCheckpoint, openTensors } from "./formats/checkpoint.ts";
import { byteTokenizer, loadTokenizerJson, type TextTokenizer } from "./formats/tokenizer.ts";
import { WeightReader } from "./formats/weights.ts";
import type { ModelConfig } from "./models/config.ts";
import { buildModel } from "./models/index.ts";
import { buildWithBatchDecoder, type BatchDecoder } from "./models/mamba2-batch.ts";
import type { Model } from "./models/model.ts";
import {
  assembleWithFallback, isGpuBackend, ModelFailover, type BackendSwitch, type FallbackChoice,
} from "./stream/fallback.ts";
import { Session, type BatchPiece, type GenerateBatchOptions, type SessionOptions } from "./stream/session.ts";

export { Session, AbortError } from "./stream/session.ts";
export type {
  BatchPiece, GenerateBatchOptions,
  GenerateOptions, Piece, FeedOptions, SessionOptions, SessionStats, ReadOptions, ReadProgress, AskOptions, Answer,
  CollapseWarning, ReadCursor,
} from "./stream/session.ts";
export { fromFile, NotReReadableError, isReReadable } from "./stream/sources.ts";
export type { ReadSource, FileSource, ChunkStream } from "./stream/sources.ts";
export { readSnapshotFile, writeSnapshotFile } from "./stream/snapshot-file.ts";
export { MITIGATIONS, DEFAULT_TRAIN_LENGTH, describePlan, resolvePlan } from "./models/long-context.ts";
export type { MitigationChoice, MitigationKind, LongContextPlan, LongContextOptions, LayerStats } from "./models/long-context.ts";
export * from "./errors.ts";
export type { BackendSwitch, FallbackChoice } from "./stream/fallback.ts";
export type { BatchDecoder, BatchStates } from "./models/mamba2-batch.ts";

/** Node's load() options: the browser entry's, plus the GPU fallback. */
export interface LoadOptions extends BaseLoadOptions {
  /**
   * What a gpu / webgpu backend gives way to when it cannot start or an op fails mid-stream (default
   * "wasm"; "none": the BackendError is thrown). A switch is never silent: `backendSwitches`,
   * `onBackendSwitch` and every session's stats() report it (core/stream/fallback.ts).
   */
  fallback?: FallbackChoice;
  onBackendSwitch?: (s: BackendSwitch) => void;
}

/** What load() returns: the browser entry's LoadedModel, plus the GPU fallback and batched decode. */
export interface LoadedModel extends BaseLoadedModel {
  /** The backend that runs the model now (it changes once if a GPU backend fails). */
  readonly backend: Backend;
  /** Backend changes so far (a GPU backend that did not start, or that failed mid-stream), oldest first. */
  readonly backendSwitches: BackendSwitch[];
  /** Batched decode with GPU-resident states (webgpu + Mamba-2), used by generateBatch; null elsewhere. */
  readonly batch: BatchDecoder | null;
}

export async function load(dir: string, opts: LoadOptions = {}): Promise<LoadedModel> {
  const choice = opts.backend ?? "auto";
  checkBackendChoice(choice);
  const fallback = opts.fallback ?? "wasm";
  if (fallback !== "wasm" && fallback !== "none") throw new OptionError(`expected "wasm" or "none", got "${fallback}"`, "fallback");
  const ckpt = await openCheckpoint(dir);
  try {
    const { config, weightsFile } = ckpt;
    // a GPU backend that does not start (or cannot hold the weights) gives way to wasm, and says so
    const { loaded: { model, decoder }, initial } = await assembleWithFallback(choice, fallback, async (name) => {
      const backend = await createBackend(name as BackendChoice, { threads: opts.threads });
      try {
        // on webgpu a Mamba-2 model also gets its batched decoder (Session.generateBatch), on the same weights
        return buildWithBatchDecoder(config, new WeightReader(ckpt), backend, { weights: opts.weights });
      } catch (e) {
        backend.dispose(); // e.g. the weights did not fit: free what was uploaded before trying wasm
        throw e;
      }
    }, opts.onBackendSwitch);
    let failover: ModelFailover | null = null;
    if (initial.length) failover = new ModelFailover(model, null, initial);
    else if (isGpuBackend(model.backend.name) && fallback === "wasm") {
      // the standby for a failure mid-stream: wasm starts now (its start is async, while a switch
      // happens inside a synchronous forward call); the weights are read again only if it is needed
      const standby = await createBackend("wasm", { threads: opts.threads });
      const rebuild = () => {
        const tensors = openTensors(weightsFile);
        try {
          return buildModel(config, new WeightReader({ tensors, config }), standby, { weights: opts.weights });
        } finally {
          tensors.close();
        }
      };
      failover = new ModelFailover(model, rebuild, [], opts.onBackendSwitch, () => standby.dispose());
    }
    const tokenizer = ckpt.tokenizerFile ? loadTokenizerJson(ckpt.tokenizerFile) : byteTokenizer();
    let hash: string | undefined;
    const modelHash = () => (hash ??= hashCheckpoint(dir));
    const current = () => failover?.model ?? model;
    return {
      dir,
      config,
      get model() {
        return current();
      },
      tokenizer,
      get backend() {
        return current().backend;
      },
      get backendSwitches() {
        return failover?.switches ?? [];
      },
      batch: decoder,
      hash: modelHash,
      session: (o?: SessionOptions) =>
        new Session(failover ? { get model() { return current(); }, tokenizer, modelHash, failover, batch: decoder } : { model, tokenizer, modelHash, batch: decoder }, o),
      dispose: () => {
        decoder?.dispose();
        if (failover) failover.dispose();
        else model.backend.dispose();
      },
    };
  } finally {
    ckpt.close();
  }
}

/**
 * Generates from several sessions of one loaded model together (Session.generateBatch): on webgpu
 * with a Mamba-2 model one decode step of all of them is one GPU submission, states stay resident.
 */
export function generateBatch(sessions: Session[], opts?: GenerateBatchOptions): AsyncGenerator<BatchPiece> {
  return Session.generateBatch(sessions, opts);
}

/** Hash of config.json and every weight file in the folder, streamed (constant memory). */
function hashCheckpoint(dir: string): string {
  const h = createHash("sha256");
  const files = fs.readdirSync(dir).filter((f) => /^(config|params)\.json$|\.(safetensors|bin)$/.test(f)).sort();
  const buf = Buffer.alloc(1 << 20);
  for (const f of files) {
    h.update(f);
    const fd = fs.openSync(path.join(dir, f), "r");
    try {
      let n: number;
      while ((n = fs.readSync(fd, buf, 0, buf.length, null)) > 0) h.update(buf.subarray(0, n));
    } finally {
      fs.closeSync(fd);
    }
  }
  return h.digest("hex");
}
