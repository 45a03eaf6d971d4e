// Weights by canonical state-spaces name, whatever convention the file uses.
// Canonical: backbone.embedding.weight, backbone.layers.{i}.norm.weight,
// backbone.layers.{i}.mixer.<...>, backbone.norm_f.weight, lm_head.weight.
// Aliases: transformers writes backbone.embeddings.weight; Mistral's consolidated file prefixes
// everything with "model."; a tied lm_head is usually absent and reads as the embedding.
import { CheckpointError } from "../errors.ts";
import type { WeightSource } from "../models/model.ts";
import { toFloat32 } from "./dtype.ts";
import { describeDims, sameShape, squeezed } from "./shape.ts";
import type { RawTensor, StoredDType, TensorInfo, TensorSource } from "./tensor.ts";

const EMBEDDING = "backbone.embedding.weight";
const LM_HEAD = "lm_head.weight";

export interface WeightReaderOptions {
  /** Read lm_head.weight as the embedding when the file has no lm_head (default true, as mamba_ssm). */
  tie_embeddings?: boolean;
}

/** A checkpoint-like value: openCheckpoint's result can be passed directly. */
export interface TensorsWithConfig {
  tensors: TensorSource;
  config?: { tie_embeddings: boolean };
}

export class WeightReader implements WeightSource {
  readonly tensors: TensorSource;
  private readonly tied: boolean;
  private readonly present: Set<string>;

  constructor(src: TensorSource | TensorsWithConfig, opts: WeightReaderOptions = {}) {
    const ckpt = typeof (src as TensorSource).names === "function" ? undefined : (src as TensorsWithConfig);
    this.tensors = ckpt ? ckpt.tensors : (src as TensorSource);
    this.tied = opts.tie_embeddings ?? ckpt?.config?.tie_embeddings ?? true;
    this.present = new Set(this.tensors.names());
  }

  /** The names the file might use for canonical `name`, most likely first. */
  static candidates(name: string): string[] {
    const forms = [name];
    if (name.startsWith("backbone.embedding.")) forms.push("backbone.embeddings." + name.slice("backbone.embedding.".length));
    return [...forms, ...forms.map((f) => "model." + f)];
  }

  /** The stored name for canonical `name`, or undefined. */
  resolve(name: string): string | undefined {
    for (const c of WeightReader.candidates(name)) if (this.present.has(c)) return c;
    if (name === LM_HEAD && this.tied) return this.resolve(EMBEDDING);
    return undefined;
  }

  has(name: string): boolean {
    return this.resolve(name) !== undefined;
  }

  dtype(name: string): StoredDType {
    return this.info(name).dtype;
  }

  shape(name: string): number[] {
    return this.info(name).shape;
  }

  info(name: string): TensorInfo {
    const stored = this.require(name);
    const i = this.tensors.info?.(stored);
    if (i) return i;
    const t = this.tensors.get(stored)!;
    return { dtype: t.dtype, shape: t.shape, file: t.file };
  }

  /** The tensor as stored (for backends that keep f16 / bf16 weights), shape-checked if `shape` is given. */
  raw(name: string, shape?: number[]): RawTensor {
    const stored = this.require(name);
    if (shape) this.checkShape(name, stored, shape);
    const t = this.tensors.get(stored);
    if (!t) throw this.missing(name);
    return t;
  }

  /** The tensor as float32; CheckpointError if missing or not of `shape` (size-1 dims may differ). */
  f32(name: string, shape: number[]): Float32Array {
    return toFloat32(this.raw(name, shape));
  }

  private require(name: string): string {
    const stored = this.resolve(name);
    if (stored === undefined) throw this.missing(name);
    return stored;
  }

  private checkShape(name: string, stored: string, expected: number[]): void {
    const i = this.info(name);
    // [C, 1, K] and [C, K] are the same row-major data (conv1d weights come both ways)
    if (!sameShape(i.shape, expected) && !sameShape(squeezed(i.shape), squeezed(expected))) {
      const as = stored === name ? "" : ` (stored as ${stored})`;
      throw new CheckpointError(`shape mismatch${as}: expected ${describeDims(expected)}, file has ${describeDims(i.shape)}`, i.file, name);
    }
  }

  private missing(name: string): CheckpointError {
    const tried = WeightReader.candidates(name);
    if (name === LM_HEAD && this.tied) tried.push(...WeightReader.candidates(EMBEDDING));
    const files = this.tensors.files?.() ?? [];
    return new CheckpointError(
      `not found (looked for ${tried.join(", ")}) in ${files.length ? files.join(", ") : "the checkpoint"}`,
      undefined,
      name,
    );
  }
}
