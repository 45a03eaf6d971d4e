// The Node-only half of the loaders: files on disk by path. Parsers take a ByteSource (bytes.ts) and
// never import this module's fs themselves; their `open(path)` conveniences come here. The browser
// build swaps this module for node-files.browser.ts (same exports, each a typed "Node only" error).
import { closeSync, fstatSync, openSync, readFileSync, readSync } from "node:fs";
import { CheckpointError } from "../errors.ts";
import { allocBytes, checkRange, type ByteSource } from "./bytes.ts";

/** Reads a file through a descriptor, on demand (a multi-GB file is never held whole). */
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

/** A whole (small) text file as UTF-8; fs errors propagate for the caller to type. */
export function readTextFile(file: string): string {
  return readFileSync(file, "utf8");
}
