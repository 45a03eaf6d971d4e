// safetensors: u64-LE header length N, N bytes of JSON header, then the data buffer.
// Header entries: "name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]} with offsets
// relative to the data buffer (byte 8 + N). The header is read and validated on open; tensor bytes
// are read only when get() asks for them, so a multi-GB file never has to fit in memory.
import { CheckpointError } from "../errors.ts";
import { readU64, viewOf, type ByteSource } from "./bytes.ts";
import { FileBytes } from "./node-files.ts";
import { checkedNumel, checkedMul, describeDims } from "./shape.ts";
import type { RawTensor, StoredDType, TensorInfo, TensorSource } from "./tensor.ts";

/** Every dtype string the format defines, with its element size; `dtype` null = known but not loadable. */
const DTYPES: Record<string, { bytes: number; dtype: StoredDType | null }> = {
  F32: { bytes: 4, dtype: "F32" },
  F16: { bytes: 2, dtype: "F16" },
  BF16: { bytes: 2, dtype: "BF16" },
  F64: { bytes: 8, dtype: "F64" },
  I64: { bytes: 8, dtype: "I64" },
  I32: { bytes: 4, dtype: "I32" },
  I16: { bytes: 2, dtype: "I16" },
  I8: { bytes: 1, dtype: "I8" },
  U8: { bytes: 1, dtype: "U8" },
  BOOL: { bytes: 1, dtype: "BOOL" },
  U16: { bytes: 2, dtype: null },
  U32: { bytes: 4, dtype: null },
  U64: { bytes: 8, dtype: null },
  C64: { bytes: 8, dtype: null },
  F8_E4M3: { bytes: 1, dtype: null },
  F8_E5M2: { bytes: 1, dtype: null },
  F8_E8M0: { bytes: 1, dtype: null },
};

/** The reference implementation refuses headers above 100 MB; so do we (before allocating). */
const MAX_HEADER_BYTES = 100_000_000;

interface Entry {
  name: string;
  dtypeString: string;
  shape: number[];
  begin: number;
  end: number;
}

export class SafetensorsFile implements TensorSource {
  readonly file: string;
  /** The optional "__metadata__" string map (e.g. {"format": "pt"}). */
  readonly metadata: Record<string, string> = {};
  private readonly entries = new Map<string, Entry>();
  private readonly dataStart: number;

  static open(path: string): SafetensorsFile {
    const src = new FileBytes(path);
    try {
      return new SafetensorsFile(src);
    } catch (e) {
      src.close();
      throw e;
    }
  }

  /** Parses and validates the header of `src`; takes ownership of `src` (close() closes it). */
  constructor(private readonly src: ByteSource) {
    const file = (this.file = src.file);
    if (src.size < 8) throw new CheckpointError(`file is ${src.size} bytes, too short for a safetensors header`, file);
    const n = readU64(viewOf(src.read(0, 8, "header length")), 0, file, "header length");
    if (n > src.size - 8) {
      throw new CheckpointError(`header length ${n} runs past the end of the file (${src.size} bytes): truncated or not safetensors`, file);
    }
    if (n > MAX_HEADER_BYTES) throw new CheckpointError(`header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`, file);
    if (n < 2) throw new CheckpointError(`header length ${n} is too small for a JSON object`, file);
    this.dataStart = 8 + n;
    const dataLength = src.size - this.dataStart;

    let header: unknown;
    try {
      header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(src.read(8, n, "header")));
    } catch (e) {
      if (e instanceof CheckpointError) throw e;
      throw new CheckpointError(`header is not valid UTF-8 JSON (${(e as Error).message})`, file);
    }
    if (typeof header !== "object" || header === null || Array.isArray(header)) {
      throw new CheckpointError("header is not a JSON object", file);
    }

    for (const [name, raw] of Object.entries(header)) {
      if (name === "__metadata__") {
        if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new CheckpointError("__metadata__ is not an object", file);
        for (const [k, v] of Object.entries(raw)) if (typeof v === "string") this.metadata[k] = v;
        continue;
      }
      this.entries.set(name, parseEntry(name, raw, file, dataLength));
    }

    // Tensors must not overlap (the format says so; overlap means a corrupt or hand-made header).
    const sorted = [...this.entries.values()].filter((e) => e.end > e.begin).sort((a, b) => a.begin - b.begin);
    for (let i = 1; i < sorted.length; i++) {
      if (sorted[i].begin < sorted[i - 1].end) {
        throw new CheckpointError(`data_offsets overlap those of tensor ${sorted[i - 1].name}`, file, sorted[i].name);
      }
    }
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  files(): string[] {
    return [this.file];
  }

  info(name: string): TensorInfo | undefined {
    const e = this.entries.get(name);
    if (!e) return undefined;
    return { dtype: loadableDtype(e, this.file), shape: e.shape.slice(), file: this.file };
  }

  get(name: string): RawTensor | undefined {
    const e = this.entries.get(name);
    if (!e) return undefined;
    const dtype = loadableDtype(e, this.file);
    const data = this.src.read(this.dataStart + e.begin, e.end - e.begin, "tensor data", name);
    return { name, dtype, shape: e.shape.slice(), data, file: this.file };
  }

  close(): void {
    this.src.close();
  }
}

function loadableDtype(e: Entry, file: string): StoredDType {
  const d = DTYPES[e.dtypeString].dtype;
  if (!d) throw new CheckpointError(`dtype ${e.dtypeString} is not supported (scanstream reads F32, F16, BF16, F64 and integer tensors)`, file, e.name);
  return d;
}

function parseEntry(name: string, raw: unknown, file: string, dataLength: number): Entry {
  const bad = (msg: string): never => {
    throw new CheckpointError(msg, file, name);
  };
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) bad("header entry is not an object");
  const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
  if (typeof dtype !== "string") return bad("header entry has no dtype string");
  if (!Object.hasOwn(DTYPES, dtype)) {
    bad(`unknown dtype ${JSON.stringify(dtype.slice(0, 40))} (expected one of ${Object.keys(DTYPES).join(", ")})`);
  }
  if (!Array.isArray(shape)) return bad("header entry has no shape array");
  if (shape.length > 64) bad(`shape has ${shape.length} dims`);
  const numel = checkedNumel(shape, file, name);
  if (!Array.isArray(offsets) || offsets.length !== 2) return bad("data_offsets is not a [begin, end] pair");
  const [begin, end] = offsets;
  if (!Number.isSafeInteger(begin) || !Number.isSafeInteger(end) || begin < 0 || end < begin) {
    bad(`data_offsets ${describeDims(offsets)} are not integers with 0 <= begin <= end`);
  }
  if (end > dataLength) {
    bad(`data_offsets [${begin}, ${end}] point past the end of the data buffer (${dataLength} bytes): truncated file or corrupt header`);
  }
  const bytes = checkedMul(numel, DTYPES[dtype].bytes, file, name, `shape ${describeDims(shape)}`);
  if (end - begin !== bytes) {
    bad(`data_offsets [${begin}, ${end}] hold ${end - begin} bytes but ${dtype} ${describeDims(shape)} needs ${bytes}`);
  }
  return { name, dtypeString: dtype, shape: shape as number[], begin, end };
}

export function openSafetensors(path: string): SafetensorsFile {
  return SafetensorsFile.open(path);
}
