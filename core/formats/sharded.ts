// Sharded checkpoints: `model.safetensors.index.json` / `pytorch_model.bin.index.json` map each
// tensor name to a shard file ({"metadata": {...}, "weight_map": {name: "model-00001-of-00002..."}}).
// Each shard is opened once; lookups go straight to the shard that holds the name.
import { readFileSync } from "node:fs";
import { basename, dirname, isAbsolute, join } from "node:path";
import { CheckpointError } from "../errors.ts";
import { parseLenientJson } from "./json.ts";
import type { RawTensor, TensorInfo, TensorSource } from "./tensor.ts";

export type ClosableSource = TensorSource & { close(): void };

export class ShardedSource implements TensorSource {
  private constructor(
    readonly indexFile: string,
    private readonly shardOf: Map<string, ClosableSource>,
    private readonly shards: Map<string, ClosableSource>,
  ) {}

  /** Reads the index at `indexFile` and opens every shard it names with `openShard`. */
  static open(indexFile: string, openShard: (path: string) => ClosableSource): ShardedSource {
    let text: string;
    try {
      text = readFileSync(indexFile, "utf8");
    } catch (e) {
      throw new CheckpointError(`cannot read index: ${(e as Error).message}`, indexFile);
    }
    const index = parseLenientJson(text, (m) => new CheckpointError(m, indexFile)) as Record<string, unknown>;
    const map = typeof index === "object" && index !== null ? index.weight_map : undefined;
    if (typeof map !== "object" || map === null || Array.isArray(map)) {
      throw new CheckpointError('index has no "weight_map" object', indexFile);
    }
    const entries = Object.entries(map);
    if (entries.length === 0) throw new CheckpointError("weight_map is empty", indexFile);

    const dir = dirname(indexFile);
    const shards = new Map<string, ClosableSource>();
    const shardOf = new Map<string, ClosableSource>();
    try {
      for (const [name, shard] of entries) {
        // shard names are plain file names next to the index: never follow a path out of the directory
        if (typeof shard !== "string" || shard === "" || isAbsolute(shard) || shard.split(/[\\/]/).includes("..")) {
          throw new CheckpointError(`weight_map names shard ${JSON.stringify(shard)}, which is not a file in ${dir}`, indexFile, name);
        }
        let src = shards.get(shard);
        if (!src) {
          src = openShard(join(dir, shard));
          shards.set(shard, src);
        }
        shardOf.set(name, src);
      }
      const present = new Map([...shards.values()].map((src) => [src, new Set(src.names())]));
      for (const [name, shard] of entries) {
        if (!present.get(shardOf.get(name)!)!.has(name)) {
          throw new CheckpointError(`the index places this tensor in ${String(shard)}, which does not contain it`, indexFile, name);
        }
      }
    } catch (e) {
      for (const s of shards.values()) s.close();
      throw e;
    }
    return new ShardedSource(indexFile, shardOf, shards);
  }

  names(): string[] {
    return [...this.shardOf.keys()];
  }

  get(name: string): RawTensor | undefined {
    return this.shardOf.get(name)?.get(name);
  }

  info(name: string): TensorInfo | undefined {
    const s = this.shardOf.get(name);
    if (!s) return undefined;
    if (s.info) return s.info(name);
    const t = s.get(name);
    return t && { dtype: t.dtype, shape: t.shape, file: t.file };
  }

  files(): string[] {
    const dir = dirname(this.indexFile);
    return [basename(this.indexFile), ...this.shards.keys()].map((f) => join(dir, f));
  }

  close(): void {
    for (const s of this.shards.values()) s.close();
  }
}
