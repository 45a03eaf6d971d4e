// NumPy .npy (v1/v2) read and write for float32 / float64 arrays: golden fixtures and `scanstream logits`.
import { CheckpointError } from "../errors.ts";

export interface NpyArray {
  shape: number[];
  data: Float32Array | Float64Array;
}

export function readNpy(bytes: Uint8Array, file = "<npy>"): NpyArray {
  const magic = String.fromCharCode(...bytes.subarray(1, 6));
  if (bytes[0] !== 0x93 || magic !== "NUMPY") throw new CheckpointError("not a .npy file (bad magic)", file);
  const major = bytes[6];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hlen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const header = new TextDecoder().decode(bytes.subarray(start, start + hlen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*True/.test(header);
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || shapeText === undefined || fortran) throw new CheckpointError(`unsupported .npy header ${header.trim()}`, file);
  const shape = shapeText.split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  const n = shape.reduce((a, b) => a * b, 1);
  // copy (Node Buffer.slice would alias a pooled buffer) so the typed array is aligned and owned
  const body = Uint8Array.prototype.slice.call(bytes, start + hlen);
  if (descr === "<f4" && body.byteLength >= n * 4) return { shape, data: new Float32Array(body.buffer, 0, n) };
  if (descr === "<f8" && body.byteLength >= n * 8) return { shape, data: new Float64Array(body.buffer, 0, n) };
  throw new CheckpointError(`unsupported dtype ${descr} or truncated data`, file);
}

export function writeNpy(data: Float32Array, shape: number[]): Uint8Array {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const total = 10 + header.length + 1;
  header += " ".repeat((64 - (total % 64)) % 64) + "\n";
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set([0x93, ...new TextEncoder().encode("NUMPY"), 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}
