// Random-access reads from a checkpoint file. Every loader reads through a ByteSource so that
// (1) a multi-GB file is never held whole: a file on disk is read only where asked (FileBytes in the
//     Node-only node-files.ts), a fetched or dropped file is one in-memory buffer (MemoryBytes), and
// (2) every buffer a loader allocates is checked against the file size first: a corrupt length field
//     becomes a CheckpointError, never a 4 GB allocation. Fuzzing hooks observeAllocations().
// Nothing here touches Node: this module and the parsers on it run unchanged in browsers.
import { CheckpointError } from "../errors.ts";

export interface ByteSource {
  /** Path (or label) used in error messages. */
  readonly file: string;
  readonly size: number;
  /** Exactly `length` bytes starting at `offset`, in a fresh buffer; CheckpointError if out of range. */
  read(offset: number, length: number, what: string, tensor?: string): Uint8Array;
  close(): void;
}

let observer: ((bytes: number, file: string) => void) | undefined;

/** Calls `fn` with the size of every buffer a loader allocates (for the fuzzer); undefined stops. */
export function observeAllocations(fn: ((bytes: number, file: string) => void) | undefined): void {
  observer = fn;
}

/** A zeroed buffer of `n` bytes, refused (CheckpointError) when `n` exceeds `limit`. */
export function allocBytes(n: number, limit: number, file: string, what: string, tensor?: string): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0 || n > limit) {
    throw new CheckpointError(`${what} needs ${n} bytes, more than the file justifies (${limit} bytes)`, file, tensor);
  }
  observer?.(n, file);
  try {
    return new Uint8Array(n);
  } catch {
    throw new CheckpointError(`${what}: cannot allocate ${n} bytes`, file, tensor);
  }
}

/** CheckpointError unless [offset, offset + length) lies inside `src`. */
export function checkRange(src: ByteSource, offset: number, length: number, what: string, tensor?: string): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > src.size) {
    throw new CheckpointError(
      `${what} at bytes ${offset}..${offset + length} lies outside the file (${src.size} bytes): truncated or corrupt`,
      src.file,
      tensor,
    );
  }
}

/** A file already in memory (tests, fuzzing, browsers). */
export class MemoryBytes implements ByteSource {
  readonly size: number;
  constructor(
    private readonly bytes: Uint8Array,
    readonly file: string,
  ) {
    this.size = bytes.byteLength;
  }

  read(offset: number, length: number, what: string, tensor?: string): Uint8Array {
    checkRange(this, offset, length, what, tensor);
    const out = allocBytes(length, this.size, this.file, what, tensor);
    out.set(this.bytes.subarray(offset, offset + length));
    return out;
  }

  close(): void {}
}

/** u64 little-endian as a number; CheckpointError when it exceeds 2^53 (no real file is that big). */
export function readU64(view: DataView, at: number, file: string, what: string): number {
  const v = view.getBigUint64(at, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new CheckpointError(`${what} ${v} is impossibly large`, file);
  return Number(v);
}

export function viewOf(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}
