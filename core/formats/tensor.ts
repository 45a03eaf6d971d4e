// A tensor as stored in a checkpoint file: raw little-endian row-major bytes plus dtype and shape.
// Readers (safetensors, torch .bin) produce these; core/formats/weights.ts turns them into float32.

export type StoredDType = "F32" | "F16" | "BF16" | "F64" | "I64" | "I32" | "I16" | "I8" | "U8" | "BOOL";

export const DTYPE_BYTES: Record<StoredDType, number> = {
  F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

export interface RawTensor {
  name: string;
  dtype: StoredDType;
  /** PyTorch order, e.g. [out_features, in_features]. */
  shape: number[];
  /** Exactly numel * DTYPE_BYTES[dtype] bytes, little-endian, row-major, contiguous. */
  data: Uint8Array;
  /** The file the tensor was read from (for error messages). */
  file: string;
}

/** What a reader knows about a tensor without reading its bytes. */
export interface TensorInfo {
  dtype: StoredDType;
  shape: number[];
  file: string;
}

/** A set of named tensors, possibly spread over several shard files. */
export interface TensorSource {
  names(): string[];
  /** Reads the tensor's bytes (a fresh buffer per call); undefined if there is no such name. */
  get(name: string): RawTensor | undefined;
  /** dtype and shape without reading the data (the file readers in core/formats implement it). */
  info?(name: string): TensorInfo | undefined;
  /** The files this source reads, for "not found in ..." messages. */
  files?(): string[];
  /** Releases file descriptors. */
  close?(): void;
}
