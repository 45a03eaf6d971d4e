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
import { openCheckpoint } from "./formats/checkpoint.ts";
import { byteTokenizer, loadTokenizerJson, type TextTokenizer } from "./formats/tokenizer.ts";
import { WeightReader } from "./formats/weights.ts";
import type { ModelConfig } from "./models/config.ts";
import { buildModel } from "./models/index.ts";
import type { Model } from "./models/model.ts";
import { Session, type SessionOptions } from "./stream/session.ts";

export { Session, AbortError } from "./stream/session.ts";
export type {
  GenerateOptions, Piece, FeedOptions, SessionOptions, SessionStats, ReadOptions, ReadProgress, AskOptions, Answer,
  CollapseWarning, ReadCursor,
} from "./stream/session.ts";
export { fromFile, NotReReadableError, isReReadable } from "./stream/sources.ts";
export type { ReadSource, FileSource, ChunkStream } from "./stream/sources.ts";
export { readSnapshotFile, writeSnapshotFile } from "./stream/snapshot-file.ts";
export { MITIGATIONS, DEFAULT_TRAIN_LENGTH, describePlan, resolvePlan } from "./models/long-context.ts";
export type { MitigationChoice, MitigationKind, LongContextPlan, LongContextOptions, LayerStats } from "./models/long-context.ts";
export * from "./errors.ts";

export interface LoadOptions {
  backend?: BackendChoice;
  /** Storage dtype of the large matrices on the backend (default f32). */
  weights?: WeightDType;
  threads?: number;
}

export interface LoadedModel {
  readonly dir: string;
  readonly config: ModelConfig;
  readonly model: Model;
  readonly tokenizer: TextTokenizer;
  readonly backend: Backend;
  /** sha256 of the config and weight files (computed on first use). */
  hash(): string;
  /** A new stream on the model; `opts` picks the long-context mitigation (default "none"). */
  session(opts?: SessionOptions): Session;
  dispose(): void;
}

export async function load(dir: string, opts: LoadOptions = {}): Promise<LoadedModel> {
  checkBackendChoice(opts.backend ?? "auto");
  const ckpt = await openCheckpoint(dir);
  try {
    const backend = await createBackend(opts.backend ?? "auto", { threads: opts.threads });
    const model = buildModel(ckpt.config, new WeightReader(ckpt), backend, { weights: opts.weights });
    const tokenizer = ckpt.tokenizerFile ? loadTokenizerJson(ckpt.tokenizerFile) : byteTokenizer();
    let hash: string | undefined;
    const modelHash = () => (hash ??= hashCheckpoint(dir));
    return {
      dir,
      config: ckpt.config,
      model,
      tokenizer,
      backend,
      hash: modelHash,
      session: (o?: SessionOptions) => new Session({ model, tokenizer, modelHash }, o),
      dispose: () => backend.dispose(),
    };
  } finally {
    ckpt.close();
  }
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
