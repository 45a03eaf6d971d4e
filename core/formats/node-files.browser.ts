// Browser stand-in for node-files.ts (the browser build aliases one to the other): there is no file
// system, so opening a path is a typed error that says what to pass instead.
import { CheckpointError } from "../errors.ts";
import type { ByteSource } from "./bytes.ts";

const HINT = "reading files by path needs Node.js; in a browser pass the bytes (loadFromUrl / loadFromFiles in scanstream's browser build)";

export class FileBytes implements ByteSource {
  readonly size = 0;
  constructor(readonly file: string) {
    throw new CheckpointError(HINT, file);
  }
  read(): Uint8Array {
    throw new CheckpointError(HINT, this.file);
  }
  close(): void {}
}

export function readTextFile(file: string): string {
  throw new CheckpointError(HINT, file);
}
