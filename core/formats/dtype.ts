// Stored dtype → float32. The recurrent state and the reference kernels work in float32 whatever
// the checkpoint stores; F16/BF16 widen exactly, F64 rounds to nearest.
import { CheckpointError } from "../errors.ts";
import { DTYPE_BYTES, type RawTensor } from "./tensor.ts";

/** The float value of IEEE-754 binary16 bits `h` (subnormals, ±inf and NaN included). */
export function f16BitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // subnormal (or zero): frac · 2^-14 · 2^-10
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1024 + frac) * 2 ** (exp - 25); // (1 + frac/1024) · 2^(exp-15)
}

let f16Table: Float32Array | undefined;
/** All 65536 half values, built once (256 KiB): conversion is then one lookup per element. */
function halfTable(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToNumber(h);
  }
  return f16Table;
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A typed-array-friendly view: aligned data is viewed in place, unaligned data is copied first. */
function aligned(data: Uint8Array, align: number): Uint8Array {
  if (data.byteOffset % align === 0) return data;
  return data.slice();
}

/**
 * The tensor's values as float32 (row-major, `numel` long). For F32 the result may share memory
 * with `t.data` (readers hand out a fresh buffer per get(), so that is safe).
 */
export function toFloat32(t: RawTensor): Float32Array {
  const esize = DTYPE_BYTES[t.dtype];
  if (esize === undefined) throw new CheckpointError(`unknown dtype ${String(t.dtype)}`, t.file, t.name);
  if (t.data.byteLength % esize !== 0) {
    throw new CheckpointError(`${t.data.byteLength} bytes is not a whole number of ${t.dtype} values`, t.file, t.name);
  }
  const n = t.data.byteLength / esize;
  switch (t.dtype) {
    case "F32": {
      const d = aligned(t.data, 4);
      const v = new Float32Array(d.buffer, d.byteOffset, n);
      return littleEndian ? v : Float32Array.from({ length: n }, (_, i) => viewLE(d).getFloat32(i * 4, true));
    }
    case "F64": {
      const out = new Float32Array(n);
      const dv = viewLE(t.data);
      for (let i = 0; i < n; i++) out[i] = dv.getFloat64(i * 8, true);
      return out;
    }
    case "F16": {
      const table = halfTable();
      const out = new Float32Array(n);
      const b = t.data;
      for (let i = 0, j = 0; i < n; i++, j += 2) out[i] = table[b[j] | (b[j + 1] << 8)];
      return out;
    }
    case "BF16": {
      // bf16 is the top half of an f32: shift the 16 bits up (typed arrays are native-endian)
      const out = new Float32Array(n);
      const bits = new Uint32Array(out.buffer);
      const b = t.data;
      for (let i = 0, j = 0; i < n; i++, j += 2) bits[i] = ((b[j] | (b[j + 1] << 8)) << 16) >>> 0;
      return out;
    }
    default:
      throw new CheckpointError(`dtype ${t.dtype} cannot be used as float weights (expected F32, F16, BF16 or F64)`, t.file, t.name);
  }
}

function viewLE(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}
