// A checkpoint given as bytes instead of a folder: what a browser has after fetching or dropping
// config.json, model.safetensors (or pytorch_model.bin) and tokenizer.json. The same parsers as the
// Node loader read them (through an in-memory ByteSource); nothing here touches Node.
import { CheckpointError, ScanstreamError } from "../errors.ts";
import type { ModelConfig } from "../models/config.ts";
import { MemoryBytes } from "./bytes.ts";
import { resolveConfig } from "./config.ts";
import { parseConfigJson } from "./json.ts";
import { SafetensorsFile } from "./safetensors.ts";
import type { ClosableSource } from "./sharded.ts";
import { TorchBinFile } from "./torchbin.ts";

/** A named file's contents; the name says the format and names the file in errors. */
export interface NamedBytes {
  name: string;
  bytes: Uint8Array;
}

export interface CheckpointBytes {
  /** config.json or params.json. */
  config: NamedBytes;
  /** model.safetensors / consolidated.safetensors, or a torch.save pytorch_model.bin (one file; no shard index). */
  weights: NamedBytes;
  /** tokenizer.json; without it the model is byte-level. */
  tokenizer?: NamedBytes;
}

/** Opens one in-memory weight file by its name's extension. Caller closes it. */
export function tensorsFromBytes(w: NamedBytes): ClosableSource {
  const src = new MemoryBytes(w.bytes, w.name);
  if (w.name.endsWith(".safetensors")) return new SafetensorsFile(src);
  if (w.name.endsWith(".bin") || w.name.endsWith(".pt") || w.name.endsWith(".pth")) return new TorchBinFile(src);
  throw new CheckpointError("unknown weight file type (expected one .safetensors or .bin file; shard indexes need the Node loader)", w.name);
}

/** The config resolved against the weights (shapes fill what the JSON leaves out). Shared with the Node loader. */
export function configAgainst(json: unknown, configFile: string, tensors: ClosableSource): ModelConfig {
  try {
    return resolveConfig(json, configFile, tensors);
  } catch (e) {
    if (e instanceof ScanstreamError) throw e;
    throw new CheckpointError(`unexpected failure resolving the config: ${(e as Error).message}`, configFile);
  }
}

/** Decodes a text file as UTF-8, a CheckpointError naming it when it is not. */
export function utf8Text(f: NamedBytes): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(f.bytes);
  } catch {
    throw new CheckpointError("not valid UTF-8 text", f.name);
  }
}

/** Opens the weights and resolves the config; caller closes the tensors. */
export function openCheckpointBytes(files: CheckpointBytes): { config: ModelConfig; tensors: ClosableSource } {
  const json = parseConfigJson(utf8Text(files.config), files.config.name);
  const tensors = tensorsFromBytes(files.weights);
  try {
    return { config: configAgainst(json, files.config.name, tensors), tensors };
  } catch (e) {
    tensors.close();
    throw e;
  }
}
