// PyTorch `pytorch_model.bin` (torch.save >= 1.6 zip format) without Python.
// Layout: a ZIP of stored entries under one folder: <prefix>/data.pkl (the pickled state dict),
// <prefix>/data/<key> (one raw storage per key), optional <prefix>/byteorder ("little" | "big").
// Each tensor in data.pkl is _rebuild_tensor_v2(storage, storage_offset, size, stride, ...) with the
// storage a persistent id ('storage', torch.XStorage, key, location, numel). Offsets and strides are
// in elements. Tensors may share a storage (tied lm_head) and may be strided views.
// Opening parses the directory and the pickle; tensor bytes are read on get().
import { CheckpointError } from "../errors.ts";
import { allocBytes, type ByteSource } from "./bytes.ts";
import { FileBytes } from "./node-files.ts";
import { PickleCallable, PickleDict, PickleTuple, describePickled, unpickle } from "./pickle.ts";
import { checkDims, checkedAdd, checkedMul, checkedNumel, describeDims, rowMajorStrides } from "./shape.ts";
import { DTYPE_BYTES, type RawTensor, type StoredDType, type TensorInfo, type TensorSource } from "./tensor.ts";
import { ZipArchive } from "./zip.ts";

/** torch.save writes the legacy storage class names; each fixes the element type. */
const STORAGE_DTYPES: Record<string, StoredDType> = {
  FloatStorage: "F32",
  HalfStorage: "F16",
  BFloat16Storage: "BF16",
  DoubleStorage: "F64",
  LongStorage: "I64",
  IntStorage: "I32",
  ShortStorage: "I16",
  CharStorage: "I8",
  ByteStorage: "U8",
  BoolStorage: "BOOL",
};

class StorageClass {
  constructor(
    readonly name: string,
    readonly dtype: StoredDType,
  ) {}
}

class Storage {
  constructor(
    readonly key: string,
    readonly dtype: StoredDType,
    readonly numel: number,
    /** Absolute file offset of the storage's first byte. */
    readonly offset: number,
  ) {}
}

class TensorRef {
  constructor(
    readonly storage: Storage,
    /** In elements, like the stride. */
    readonly storageOffset: number,
    readonly shape: number[],
    readonly stride: number[],
    readonly numel: number,
  ) {}
}

export class TorchBinFile implements TensorSource {
  readonly file: string;
  /** "little" unless the archive's byteorder entry says "big" (then get() swaps bytes). */
  readonly byteorder: "little" | "big";
  private readonly refs = new Map<string, TensorRef>();

  static open(path: string): TorchBinFile {
    const src = new FileBytes(path);
    try {
      return new TorchBinFile(src);
    } catch (e) {
      src.close();
      throw e;
    }
  }

  /** Reads the archive directory and data.pkl of `src`; takes ownership of `src`. */
  constructor(private readonly src: ByteSource) {
    const file = (this.file = src.file);
    if (src.size >= 2) {
      const head = src.read(0, Math.min(4, src.size), "file signature");
      if (head[0] === 0x80 && head[1] === 0x02) {
        throw new CheckpointError("legacy (pre-1.6, non-zip) torch.save format is not supported; re-save with torch >= 1.6 or convert to safetensors", file);
      }
      if (head[0] !== 0x50 || head[1] !== 0x4b) throw new CheckpointError("not a torch.save zip archive (no PK signature)", file);
    }
    const zip = new ZipArchive(src);

    const pkls = [...zip.entries.keys()].filter((n) => n === "data.pkl" || /^[^/]+\/data\.pkl$/.test(n));
    if (pkls.length !== 1) {
      throw new CheckpointError(pkls.length ? `archive has ${pkls.length} data.pkl entries` : "archive has no data.pkl entry (not a torch.save file?)", file);
    }
    const prefix = pkls[0].slice(0, -"data.pkl".length);

    const bo = zip.entries.get(prefix + "byteorder");
    const order = bo ? new TextDecoder().decode(zip.read(bo)).trim() : "little";
    if (order !== "little" && order !== "big") throw new CheckpointError(`byteorder entry says ${JSON.stringify(order.slice(0, 20))}`, file);
    this.byteorder = order;

    const storages = new Map<string, Storage>();
    const loadStorage = (pid: unknown): Storage => {
      const items = pid instanceof PickleTuple ? pid.items : undefined;
      if (!items || items.length !== 5 || items[0] !== "storage") {
        throw new CheckpointError(`data.pkl: persistent id ${describePickled(pid)} is not a ('storage', class, key, location, numel) tuple`, file);
      }
      const [, cls, key, , numel] = items;
      if (!(cls instanceof StorageClass)) throw new CheckpointError(`data.pkl: storage class is ${describePickled(cls)}`, file);
      if (typeof key !== "string" || !/^[A-Za-z0-9_.-]{1,64}$/.test(key) || key === "." || key === "..") {
        throw new CheckpointError(`data.pkl: storage key ${describePickled(key)} is not a plain name`, file);
      }
      if (typeof numel !== "number" || !Number.isSafeInteger(numel) || numel < 0) {
        throw new CheckpointError(`data.pkl: storage ${key} has element count ${describePickled(numel)}`, file);
      }
      const seen = storages.get(key);
      if (seen) {
        if (seen.dtype !== cls.dtype || seen.numel !== numel) throw new CheckpointError(`data.pkl: storage ${key} is declared twice with different types`, file);
        return seen;
      }
      const entry = zip.entries.get(`${prefix}data/${key}`);
      if (!entry) throw new CheckpointError(`storage ${key} is referenced by data.pkl but ${prefix}data/${key} is not in the archive`, file);
      const range = zip.dataRange(entry);
      const bytes = checkedMul(numel, DTYPE_BYTES[cls.dtype], file, undefined, `storage ${key}`);
      if (bytes > range.length) {
        throw new CheckpointError(`storage ${key} should hold ${numel} ${cls.dtype} values (${bytes} bytes) but its entry has ${range.length} bytes`, file);
      }
      const s = new Storage(key, cls.dtype, numel, range.offset);
      storages.set(key, s);
      return s;
    };

    const rebuildTensor = (args: readonly unknown[]): TensorRef => {
      const [storage, storageOffset, size, stride] = args;
      if (args.length < 4 || args.length > 7) throw new CheckpointError(`data.pkl: _rebuild_tensor_v2 called with ${args.length} arguments`, file);
      if (!(storage instanceof Storage)) {
        throw new CheckpointError(`data.pkl: _rebuild_tensor_v2 storage argument is ${describePickled(storage)}`, file);
      }
      const st = storage;
      if (!(size instanceof PickleTuple) || !(stride instanceof PickleTuple) || size.items.length !== stride.items.length || size.items.length > 64) {
        throw new CheckpointError(`data.pkl: tensor on storage ${st.key} has malformed size / stride tuples`, file);
      }
      const where = `storage ${st.key}`;
      const numel = checkedNumel(size.items, file, where, "size");
      checkDims(stride.items, file, where, "stride");
      if (typeof storageOffset !== "number" || !Number.isSafeInteger(storageOffset) || storageOffset < 0) {
        throw new CheckpointError(`data.pkl: tensor on ${where} has storage offset ${describePickled(storageOffset)}`, file);
      }
      const shape = size.items as number[];
      const strides = stride.items as number[];
      if (numel > 0) {
        // the last element touched must lie inside the storage
        let last = storageOffset;
        for (let i = 0; i < shape.length; i++) last = checkedAdd(last, checkedMul(shape[i] - 1, strides[i], file, where, "stride"), file, where, "offset");
        if (last >= st.numel) {
          throw new CheckpointError(`data.pkl: tensor of size ${describeDims(shape)} stride ${describeDims(strides)} at offset ${storageOffset} reaches past ${where} (${st.numel} elements)`, file);
        }
        // more elements than the storage holds means overlapping (expanded) strides: output would outgrow the file
        if (numel > st.numel) throw new CheckpointError(`data.pkl: tensor of size ${describeDims(shape)} overlaps itself in ${where} (expanded strides are not supported)`, file);
      }
      return new TensorRef(st, storageOffset, shape.slice(), strides.slice(), numel);
    };

    const findGlobal = (module: string, name: string): unknown => {
      if (module === "collections" && name === "OrderedDict") {
        return new PickleCallable("collections.OrderedDict", (args) => {
          if (args.length !== 0) throw new CheckpointError("data.pkl: OrderedDict called with arguments", file);
          return new PickleDict();
        });
      }
      if (module === "torch._utils" && name === "_rebuild_tensor_v2") return new PickleCallable("torch._utils._rebuild_tensor_v2", rebuildTensor);
      if (module === "torch._utils" && name === "_rebuild_parameter") {
        return new PickleCallable("torch._utils._rebuild_parameter", (args) => {
          if (args.length !== 3 || !(args[0] instanceof TensorRef)) throw new CheckpointError("data.pkl: _rebuild_parameter expects (tensor, requires_grad, hooks)", file);
          return args[0];
        });
      }
      if (module === "torch" && Object.hasOwn(STORAGE_DTYPES, name)) return new StorageClass(name, STORAGE_DTYPES[name]);
      return undefined;
    };

    const pkl = zip.entries.get(pkls[0])!;
    const root = unpickle(zip.read(pkl), { file, entry: pkls[0], findGlobal, persistentLoad: loadStorage });
    if (!(root instanceof PickleDict)) throw new CheckpointError(`data.pkl holds ${describePickled(root)}, not a state dict`, file);
    for (const [name, value] of root.map) {
      // non-tensor entries (e.g. _extra_state) are not weights: skip them
      if (typeof name === "string" && value instanceof TensorRef) this.refs.set(name, value);
    }
    if (this.refs.size === 0) throw new CheckpointError("data.pkl contains no tensors", file);
  }

  names(): string[] {
    return [...this.refs.keys()];
  }

  files(): string[] {
    return [this.file];
  }

  info(name: string): TensorInfo | undefined {
    const t = this.refs.get(name);
    return t && { dtype: t.storage.dtype, shape: t.shape.slice(), file: this.file };
  }

  get(name: string): RawTensor | undefined {
    const t = this.refs.get(name);
    if (!t) return undefined;
    const { storage, shape, stride, numel } = t;
    const esize = DTYPE_BYTES[storage.dtype];
    let data: Uint8Array;
    if (numel === 0) data = new Uint8Array(0);
    else if (isContiguous(shape, stride)) {
      data = this.src.read(storage.offset + t.storageOffset * esize, numel * esize, "tensor data", name);
    } else {
      data = this.gather(t, esize, name);
    }
    if (this.byteorder === "big" && esize > 1) swapBytes(data, esize);
    return { name, dtype: storage.dtype, shape: shape.slice(), data, file: this.file };
  }

  /** A strided view: read the span it touches, then copy element by element in row-major order. */
  private gather(t: TensorRef, esize: number, name: string): Uint8Array {
    const { shape, stride } = t;
    let span = 1;
    for (let i = 0; i < shape.length; i++) span += (shape[i] - 1) * stride[i];
    const src = this.src.read(t.storage.offset + t.storageOffset * esize, span * esize, "tensor data", name);
    const out = allocBytes(t.numel * esize, this.src.size, this.file, "strided tensor", name);
    const idx = new Array<number>(shape.length).fill(0);
    let from = 0;
    for (let k = 0; k < t.numel; k++) {
      for (let b = 0, o = k * esize, i = from * esize; b < esize; b++) out[o + b] = src[i + b];
      // odometer over the dims, last dim fastest
      for (let d = shape.length - 1; d >= 0; d--) {
        if (++idx[d] < shape[d]) {
          from += stride[d];
          break;
        }
        from -= (shape[d] - 1) * stride[d];
        idx[d] = 0;
      }
    }
    return out;
  }

  close(): void {
    this.src.close();
  }
}

/** Row-major contiguous, ignoring the stride of size-1 dims (torch leaves those arbitrary). */
function isContiguous(shape: number[], stride: number[]): boolean {
  const want = rowMajorStrides(shape);
  return shape.every((d, i) => d === 1 || stride[i] === want[i]);
}

function swapBytes(b: Uint8Array, esize: number): void {
  for (let i = 0; i < b.length; i += esize) {
    for (let lo = i, hi = i + esize - 1; lo < hi; lo++, hi--) {
      const x = b[lo];
      b[lo] = b[hi];
      b[hi] = x;
    }
  }
}

export function openTorchBin(path: string): TorchBinFile {
  return TorchBinFile.open(path);
}
