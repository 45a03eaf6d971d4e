// A minimal GGUF (v3) writer, only so that bench/llama-cpp.ts can hand llama.cpp the same random
// Mamba-2 weights that bench/model-bench.ts gives scanstream. scanstream does not read GGUF.
//
// Layout: "GGUF", version 3, tensor count (u64), metadata count (u64), metadata key/values, tensor
// infos (name, dims in ggml order = reversed PyTorch order, type, offset into the data section), then
// the data section aligned to 32 bytes, each tensor aligned to 32 bytes.
import { closeSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { toBf16Bits, toF16Bits } from "../kernels/quant.ts";

export type GgufValue =
  | { type: "u32"; value: number }
  | { type: "i32"; value: number }
  | { type: "f32"; value: number }
  | { type: "string"; value: string }
  | { type: "string[]"; value: string[] }
  | { type: "f32[]"; value: Float32Array }
  | { type: "i32[]"; value: Int32Array };

/** ggml tensor types used here (ggml.h enum values). */
export const GGML_TYPE = { F32: 0, F16: 1, Q8_0: 8, BF16: 30 } as const;
export type GgmlType = keyof typeof GGML_TYPE;

export interface GgufTensor {
  name: string;
  /** PyTorch-order shape (outermost first); written reversed, as ggml's ne[]. */
  shape: number[];
  type: GgmlType;
  /** Produces the float32 values when the data section is written (keeps peak memory low). */
  data: () => Float32Array;
}

const ALIGN = 32;
const KV_TYPE = { u32: 4, i32: 5, f32: 6, string: 8, array: 9 } as const;

class ByteWriter {
  private parts: Buffer[] = [];
  get length(): number {
    return this.parts.reduce((n, p) => n + p.length, 0);
  }
  u32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.parts.push(b);
  }
  i32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeInt32LE(v);
    this.parts.push(b);
  }
  u64(v: number): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.parts.push(b);
  }
  f32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeFloatLE(v);
    this.parts.push(b);
  }
  str(s: string): void {
    const b = Buffer.from(s, "utf8");
    this.u64(b.length);
    this.parts.push(b);
  }
  raw(b: Buffer): void {
    this.parts.push(b);
  }
  buffer(): Buffer {
    return Buffer.concat(this.parts);
  }
}

function writeValue(w: ByteWriter, v: GgufValue): void {
  switch (v.type) {
    case "u32": w.u32(KV_TYPE.u32); w.u32(v.value); return;
    case "i32": w.u32(KV_TYPE.i32); w.i32(v.value); return;
    case "f32": w.u32(KV_TYPE.f32); w.f32(v.value); return;
    case "string": w.u32(KV_TYPE.string); w.str(v.value); return;
    case "string[]":
      w.u32(KV_TYPE.array); w.u32(KV_TYPE.string); w.u64(v.value.length);
      for (const s of v.value) w.str(s);
      return;
    case "f32[]":
      w.u32(KV_TYPE.array); w.u32(KV_TYPE.f32); w.u64(v.value.length);
      w.raw(Buffer.from(v.value.buffer, v.value.byteOffset, v.value.byteLength));
      return;
    case "i32[]":
      w.u32(KV_TYPE.array); w.u32(KV_TYPE.i32); w.u64(v.value.length);
      w.raw(Buffer.from(v.value.buffer, v.value.byteOffset, v.value.byteLength));
      return;
  }
}

/** Bytes of `n` values (a multiple of 32 for Q8_0) in `type`. */
function byteSize(type: GgmlType, n: number): number {
  switch (type) {
    case "F32": return 4 * n;
    case "F16": case "BF16": return 2 * n;
    case "Q8_0": return (n / 32) * 34;
  }
}

/** Q8_0: blocks of 32 values, an f16 scale d = max|x| / 127 then 32 int8 round(x / d). */
function encode(type: GgmlType, x: Float32Array): Buffer {
  if (type === "F32") return Buffer.from(x.buffer, x.byteOffset, x.byteLength);
  const out = Buffer.alloc(byteSize(type, x.length));
  if (type === "F16" || type === "BF16") {
    const bits = type === "F16" ? toF16Bits : toBf16Bits;
    for (let i = 0; i < x.length; i++) out.writeUInt16LE(bits(x[i]), 2 * i);
    return out;
  }
  for (let b = 0; b < x.length / 32; b++) {
    let amax = 0;
    for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[32 * b + i]));
    const d = amax / 127;
    const o = 34 * b;
    out.writeUInt16LE(toF16Bits(d), o);
    for (let i = 0; i < 32; i++) out.writeInt8(d === 0 ? 0 : Math.round(x[32 * b + i] / d), o + 2 + i);
  }
  return out;
}

const pad = (n: number) => (ALIGN - (n % ALIGN)) % ALIGN;

/** Writes a GGUF file; tensor data is produced and written one tensor at a time. */
export function writeGguf(path: string, metadata: Record<string, GgufValue>, tensors: GgufTensor[]): void {
  const w = new ByteWriter();
  w.raw(Buffer.from("GGUF", "ascii"));
  w.u32(3);
  w.u64(tensors.length);
  w.u64(Object.keys(metadata).length);
  for (const [key, v] of Object.entries(metadata)) {
    w.str(key);
    writeValue(w, v);
  }
  let offset = 0;
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (t.type === "Q8_0" && t.shape[t.shape.length - 1] % 32 !== 0) throw new Error(`${t.name}: Q8_0 needs rows of a multiple of 32`);
    w.str(t.name);
    w.u32(t.shape.length);
    for (const d of [...t.shape].reverse()) w.u64(d);
    w.u32(GGML_TYPE[t.type]);
    w.u64(offset);
    offset += byteSize(t.type, n);
    offset += pad(offset);
  }
  const tmp = `${path}.partial`;
  const fd = openSync(tmp, "w");
  try {
    const head = w.buffer();
    writeSync(fd, head);
    writeSync(fd, Buffer.alloc(pad(head.length)));
    for (const t of tensors) {
      const bytes = encode(t.type, t.data());
      writeSync(fd, bytes);
      writeSync(fd, Buffer.alloc(pad(bytes.length)));
    }
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path); // a complete file or none
}
