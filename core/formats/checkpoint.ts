// A checkpoint folder as users have them on disk: a config (config.json, or Mistral's params.json),
// weights in one of the formats below, and maybe a tokenizer. openCheckpoint finds the files,
// opens the weights lazily (only headers are read) and resolves the config against them. Node only
// (paths); checkpoint-bytes.ts is the same from in-memory files (browsers).
import { existsSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { CheckpointError } from "../errors.ts";
import type { ModelConfig } from "../models/config.ts";
import { configAgainst } from "./checkpoint-bytes.ts";
import { parseConfigJson } from "./json.ts";
import { SafetensorsFile } from "./safetensors.ts";
import { ShardedSource, type ClosableSource } from "./sharded.ts";
import type { TensorSource } from "./tensor.ts";
import { TorchBinFile } from "./torchbin.ts";
import { WeightReader } from "./weights.ts";

export interface Checkpoint {
  dir: string;
  config: ModelConfig;
  tensors: TensorSource;
  /** The weights by canonical name (lm_head aliasing follows config.tie_embeddings). */
  weights: WeightReader;
  /** The weight file (or index) that was opened. */
  weightsFile: string;
  tokenizerFile?: string;
  close(): void;
}

/** Weight files in order of preference. */
export const WEIGHT_FILES = [
  "model.safetensors",
  "model.safetensors.index.json",
  "pytorch_model.bin",
  "pytorch_model.bin.index.json",
  "consolidated.safetensors",
] as const;
export const CONFIG_FILES = ["config.json", "params.json"] as const;
export const TOKENIZER_FILES = ["tokenizer.json"] as const;

/**
 * Opens any weight file scanstream reads, by name: *.safetensors, *.bin (torch.save zip) or a
 * *.safetensors.index.json / *.bin.index.json shard index. Caller closes it.
 */
export function openTensors(path: string): ClosableSource {
  const name = basename(path);
  if (name.endsWith(".safetensors")) return SafetensorsFile.open(path);
  if (name.endsWith(".safetensors.index.json")) return ShardedSource.open(path, (p) => SafetensorsFile.open(p));
  if (name.endsWith(".bin.index.json")) return ShardedSource.open(path, (p) => TorchBinFile.open(p));
  if (name.endsWith(".bin") || name.endsWith(".pt") || name.endsWith(".pth")) return TorchBinFile.open(path);
  throw new CheckpointError("unknown weight file type (expected .safetensors, .bin or a *.index.json shard index)", path);
}

/**
 * Opens the checkpoint in `dir` (a folder, or a weight file inside one). Errors are CheckpointError /
 * ConfigError naming the file at fault, or the files looked for when none is there.
 */
export async function openCheckpoint(dir: string): Promise<Checkpoint> {
  let weightsFile: string | undefined;
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw new CheckpointError("checkpoint folder not found", dir);
  }
  if (st.isFile()) {
    weightsFile = dir;
    dir = dirname(dir);
  }
  weightsFile ??= WEIGHT_FILES.map((f) => join(dir, f)).find((p) => existsSync(p));
  if (!weightsFile) throw new CheckpointError(`no weights found (looked for ${WEIGHT_FILES.join(", ")})`, dir);
  const configFile = CONFIG_FILES.map((f) => join(dir, f)).find((p) => existsSync(p));
  if (!configFile) throw new CheckpointError(`no config found (looked for ${CONFIG_FILES.join(", ")})`, dir);

  let text: string;
  try {
    text = await readFile(configFile, "utf8");
  } catch (e) {
    throw new CheckpointError(`cannot read: ${(e as Error).message}`, configFile);
  }
  const json = parseConfigJson(text, configFile);

  const tensors = openTensors(weightsFile);
  let config: ModelConfig;
  try {
    config = configAgainst(json, configFile, tensors);
  } catch (e) {
    tensors.close();
    throw e;
  }
  const tokenizerFile = TOKENIZER_FILES.map((f) => join(dir, f)).find((p) => existsSync(p));
  return {
    dir,
    config,
    tensors,
    weights: new WeightReader(tensors, { tie_embeddings: config.tie_embeddings }),
    weightsFile,
    tokenizerFile,
    close: () => tensors.close(),
  };
}
