// Snapshots on disk (Node only): written to a temporary file in the same folder, flushed, then
// renamed over the target, so a crash never leaves a half-written snapshot under the real name.
import fs from "node:fs";
import path from "node:path";
import { SnapshotError } from "../errors.ts";

export function writeSnapshotFile(file: string, bytes: Uint8Array): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, "w", 0o644);
    let o = 0;
    while (o < bytes.length) o += fs.writeSync(fd, bytes, o, bytes.length - o);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw new SnapshotError(`${file}: cannot write the snapshot (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

export function readSnapshotFile(file: string): Uint8Array {
  try {
    return new Uint8Array(fs.readFileSync(file));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new SnapshotError(`${file}: cannot read the snapshot (${code === "ENOENT" ? "no such file" : code ?? (e as Error).message})`);
  }
}
