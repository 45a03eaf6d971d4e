// Random-access reads from a checkpoint file. Every loader reads through a ByteSource so that
// (1) a multi-GB file is never held whole: bytes are read with fs.readSync only when asked for, and
// (2) every buffer a loader allocates is checked against the file size first: a corrupt length field
//     becomes a CheckpointError, never a 4 GB allocation. Fuzzing hooks observeAllocations().
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
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

function checkRange(src: ByteSource, offset: number, length: number, what: string, tensor?: string): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > src.size) {
    throw new CheckpointError(
      `${what} at bytes ${offset}..${offset + length} lies outside the file (${src.size} bytes): truncated or corrupt`,
      src.file,
      tensor,
    );
  }
}

/** Reads a file through a descriptor, on demand. */
export class FileBytes implements ByteSource {
  readonly size: number;
  private fd: number | undefined;

  constructor(readonly file: string) {
    try {
      this.fd = openSync(file, "r");
      this.size = fstatSync(this.fd).size;
    } catch (e) {
      if (this.fd !== undefined) closeSync(this.fd);
      throw new CheckpointError(`cannot open: ${(e as Error).message}`, file);
    }
  }

  read(offset: number, length: number, what: string, tensor?: string): Uint8Array {
    if (this.fd === undefined) throw new CheckpointError(`${what}: file already closed`, this.file, tensor);
    checkRange(this, offset, length, what, tensor);
    const out = allocBytes(length, this.size, this.file, what, tensor);
    let done = 0;
    while (done < length) {
      let n: number;
      try {
        n = readSync(this.fd, out, done, length - done, offset + done);
      } catch (e) {
        throw new CheckpointError(`${what}: read failed: ${(e as Error).message}`, this.file, tensor);
      }
      if (n === 0) throw new CheckpointError(`${what}: file ended early (was it truncated while open?)`, this.file, tensor);
      done += n;
    }
    return out;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
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
