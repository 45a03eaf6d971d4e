// Byte-level builders for hand-made (and deliberately broken) checkpoint files: safetensors, stored
// ZIP archives (optionally ZIP64) and protocol-2 pickles. Used by the format tests and the fuzzer.
import { MemoryBytes } from "../../core/formats/bytes.ts";
import type { TensorSource } from "../../core/formats/tensor.ts";

const enc = new TextEncoder();

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function u64le(n: number | bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return b;
}

/** A safetensors file from a header object and a data buffer (no validation: tests break them on purpose). */
export function safetensorsBytes(header: unknown, data: Uint8Array, headerLength?: number | bigint): Uint8Array {
  const h = enc.encode(JSON.stringify(header));
  return concat([u64le(headerLength ?? h.length), h, data]);
}

/** A valid safetensors file holding float32 tensors. */
export function f32Safetensors(tensors: Record<string, { shape: number[]; values: number[] }>): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
  const blobs: Uint8Array[] = [];
  let off = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const b = new Uint8Array(new Float32Array(t.values).buffer);
    header[name] = { dtype: "F32", shape: t.shape, data_offsets: [off, off + b.length] };
    blobs.push(b);
    off += b.length;
  }
  return safetensorsBytes(header, concat(blobs));
}

/**
 * A stored (method 0) ZIP archive; `zip64` writes every size and offset through ZIP64 records.
 * `baseOffset`: the bytes will be written at that position of a (sparse) file, so offsets include it.
 */
export function zipBytes(entries: [string, Uint8Array][], opts: { zip64?: boolean; method?: number; baseOffset?: number } = {}): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  const base = opts.baseOffset ?? 0;
  let off = 0;
  const method = opts.method ?? 0;
  for (const [name, data] of entries) {
    const nm = enc.encode(name);
    const z = !!opts.zip64;
    const local = new DataView(new ArrayBuffer(30 + nm.length + (z ? 20 : 0)));
    local.setUint32(0, 0x04034b50, true);
    local.setUint16(4, z ? 45 : 20, true);
    local.setUint16(8, method, true);
    local.setUint32(18, z ? 0xffffffff : data.length, true);
    local.setUint32(22, z ? 0xffffffff : data.length, true);
    local.setUint16(26, nm.length, true);
    local.setUint16(28, z ? 20 : 0, true);
    new Uint8Array(local.buffer).set(nm, 30);
    if (z) {
      local.setUint16(30 + nm.length, 1, true);
      local.setUint16(32 + nm.length, 16, true);
      local.setBigUint64(34 + nm.length, BigInt(data.length), true);
      local.setBigUint64(42 + nm.length, BigInt(data.length), true);
    }
    const cen = new DataView(new ArrayBuffer(46 + nm.length + (z ? 28 : 0)));
    cen.setUint32(0, 0x02014b50, true);
    cen.setUint16(4, z ? 45 : 20, true);
    cen.setUint16(6, z ? 45 : 20, true);
    cen.setUint16(10, method, true);
    cen.setUint32(20, z ? 0xffffffff : data.length, true);
    cen.setUint32(24, z ? 0xffffffff : data.length, true);
    cen.setUint16(28, nm.length, true);
    cen.setUint16(30, z ? 28 : 0, true);
    cen.setUint32(42, z ? 0xffffffff : base + off, true);
    new Uint8Array(cen.buffer).set(nm, 46);
    if (z) {
      cen.setUint16(46 + nm.length, 1, true);
      cen.setUint16(48 + nm.length, 24, true);
      cen.setBigUint64(50 + nm.length, BigInt(data.length), true);
      cen.setBigUint64(58 + nm.length, BigInt(data.length), true);
      cen.setBigUint64(66 + nm.length, BigInt(base + off), true);
    }
    parts.push(new Uint8Array(local.buffer), data);
    central.push(new Uint8Array(cen.buffer));
    off += local.byteLength + data.length;
  }
  const cd = concat(central);
  const cdOff = off;
  const tail: Uint8Array[] = [cd];
  const eocd = new DataView(new ArrayBuffer(22));
  eocd.setUint32(0, 0x06054b50, true);
  if (opts.zip64) {
    const rec = new DataView(new ArrayBuffer(56));
    rec.setUint32(0, 0x06064b50, true);
    rec.setBigUint64(4, 44n, true);
    rec.setBigUint64(24, BigInt(entries.length), true);
    rec.setBigUint64(32, BigInt(entries.length), true);
    rec.setBigUint64(40, BigInt(cd.length), true);
    rec.setBigUint64(48, BigInt(base + cdOff), true);
    const loc = new DataView(new ArrayBuffer(20));
    loc.setUint32(0, 0x07064b50, true);
    loc.setBigUint64(8, BigInt(base + cdOff + cd.length), true);
    loc.setUint32(16, 1, true);
    tail.push(new Uint8Array(rec.buffer), new Uint8Array(loc.buffer));
    eocd.setUint16(8, 0xffff, true);
    eocd.setUint16(10, 0xffff, true);
    eocd.setUint32(12, 0xffffffff, true);
    eocd.setUint32(16, 0xffffffff, true);
  } else {
    eocd.setUint16(8, entries.length, true);
    eocd.setUint16(10, entries.length, true);
    eocd.setUint32(12, cd.length, true);
    eocd.setUint32(16, base + cdOff, true);
  }
  tail.push(new Uint8Array(eocd.buffer));
  return concat([...parts, ...tail]);
}

/** Tiny protocol-2 pickle assembler: P.proto() + P.global("m", "n") + ... + P.stop(). */
export const P = {
  bytes: (...b: number[]) => new Uint8Array(b),
  proto: () => P.bytes(0x80, 2),
  stop: () => P.bytes(0x2e),
  mark: () => P.bytes(0x28),
  tuple: () => P.bytes(0x74),
  emptyDict: () => P.bytes(0x7d),
  emptyList: () => P.bytes(0x5d),
  emptyTuple: () => P.bytes(0x29),
  append: () => P.bytes(0x61),
  setitems: () => P.bytes(0x75),
  reduce: () => P.bytes(0x52),
  binpersid: () => P.bytes(0x51),
  newFalse: () => P.bytes(0x89),
  global: (m: string, n: string) => concat([P.bytes(0x63), enc.encode(`${m}\n${n}\n`)]),
  str: (s: string) => {
    const b = enc.encode(s);
    const h = new DataView(new ArrayBuffer(5));
    h.setUint8(0, 0x58);
    h.setUint32(1, b.length, true);
    return concat([new Uint8Array(h.buffer), b]);
  },
  int: (n: number) => {
    const h = new DataView(new ArrayBuffer(5));
    h.setUint8(0, 0x4a);
    h.setInt32(1, n, true);
    return new Uint8Array(h.buffer);
  },
  ints: (ns: number[]) => concat([P.mark(), ...ns.map(P.int), P.tuple()]),
};

/**
 * A torch.save-like archive of float32 tensors, written by hand (so tests can vary every field):
 * OrderedDict of name → _rebuild_tensor_v2(('storage', FloatStorage, key, 'cpu', numel), offset, size, stride, False, OrderedDict()).
 */
export function torchBinBytes(
  tensors: { name: string; key: string; offset?: number; shape: number[]; stride?: number[]; storageClass?: string }[],
  storages: Record<string, Uint8Array>,
  opts: { zip64?: boolean; prefix?: string; numel?: Record<string, number>; baseOffset?: number } = {},
): Uint8Array {
  const parts: Uint8Array[] = [P.proto(), P.global("collections", "OrderedDict"), P.emptyTuple(), P.reduce(), P.mark()];
  for (const t of tensors) {
    const cls = t.storageClass ?? "FloatStorage";
    const esize = cls === "FloatStorage" ? 4 : cls === "DoubleStorage" || cls === "LongStorage" ? 8 : cls === "HalfStorage" || cls === "BFloat16Storage" ? 2 : 1;
    const numel = opts.numel?.[t.key] ?? storages[t.key].length / esize;
    const stride = t.stride ?? t.shape.map((_, i) => t.shape.slice(i + 1).reduce((a, b) => a * b, 1));
    parts.push(
      P.str(t.name),
      P.global("torch._utils", "_rebuild_tensor_v2"),
      P.mark(),
      P.mark(), P.str("storage"), P.global("torch", cls), P.str(t.key), P.str("cpu"), P.int(numel), P.tuple(), P.binpersid(),
      P.int(t.offset ?? 0),
      P.ints(t.shape),
      P.ints(stride),
      P.newFalse(),
      P.global("collections", "OrderedDict"), P.emptyTuple(), P.reduce(),
      P.tuple(),
      P.reduce(),
    );
  }
  parts.push(P.setitems(), P.stop());
  const prefix = opts.prefix ?? "archive";
  const entries: [string, Uint8Array][] = [[`${prefix}/data.pkl`, concat(parts)]];
  for (const [k, v] of Object.entries(storages)) entries.push([`${prefix}/data/${k}`, v]);
  entries.push([`${prefix}/version`, enc.encode("3\n")]);
  return zipBytes(entries, { zip64: opts.zip64, baseOffset: opts.baseOffset });
}

export function mem(bytes: Uint8Array, name = "mem.bin"): MemoryBytes {
  return new MemoryBytes(bytes, name);
}

/** An in-memory TensorSource of zero-filled F32 tensors with the given shapes (for config tests). */
export function shapesSource(shapes: Record<string, number[]>, file = "fake.safetensors"): TensorSource {
  return {
    names: () => Object.keys(shapes),
    info: (n) => (shapes[n] ? { dtype: "F32", shape: shapes[n], file } : undefined),
    get: (n) =>
      shapes[n] ? { name: n, dtype: "F32", shape: shapes[n], file, data: new Uint8Array(4 * shapes[n].reduce((a, b) => a * b, 1)) } : undefined,
    files: () => [file],
  };
}
