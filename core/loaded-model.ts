// What load() returns, and how it is put together from a resolved checkpoint: shared by the Node
// entry (core/index.ts, folders on disk) and the browser entry (core/browser.ts, fetched or dropped
// files). Nothing here touches Node.
import type { Backend, WeightDType } from "../kernels/backend.ts";
import { checkBackendChoice, createBackend, type BackendChoice } from "../kernels/registry.ts";
import type { TensorSource } from "./formats/tensor.ts";
import type { TextTokenizer } from "./formats/tokenizer.ts";
import { WeightReader } from "./formats/weights.ts";
import type { ModelConfig } from "./models/config.ts";
import { buildModel } from "./models/index.ts";
import type { Model } from "./models/model.ts";
import { Session, type SessionOptions } from "./stream/session.ts";

export interface LoadOptions {
  backend?: BackendChoice;
  /** Storage dtype of the large matrices on the backend (default f32). */
  weights?: WeightDType;
  threads?: number;
}

export interface LoadedModel {
  /** The folder (Node) or the base URL / file names (browser) the checkpoint came from. */
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

/** Starts the backend and uploads the weights; the caller closes `tensors` afterwards. */
export async function assembleModel(
  dir: string,
  ckpt: { config: ModelConfig; tensors: TensorSource },
  tokenizer: () => TextTokenizer,
  hash: () => string,
  opts: LoadOptions,
): Promise<LoadedModel> {
  checkBackendChoice(opts.backend ?? "auto");
  const backend = await createBackend(opts.backend ?? "auto", { threads: opts.threads });
  const model = buildModel(ckpt.config, new WeightReader(ckpt), backend, { weights: opts.weights });
  const tok = tokenizer();
  let h: string | undefined;
  const modelHash = () => (h ??= hash());
  return {
    dir,
    config: ckpt.config,
    model,
    tokenizer: tok,
    backend,
    hash: modelHash,
    session: (o?: SessionOptions) => new Session({ model, tokenizer: tok, modelHash }, o),
    dispose: () => backend.dispose(),
  };
}
