// The wasm instance seen from TypeScript: linear memory views, allocation, reusable scratch slots,
// and copy-in / copy-out of activations. One runtime per backend; only the thread that owns the
// backend calls into it (workers only run kernels on ranges they are given).
import { BackendError } from "../../core/errors.ts";
import { type KernelName, type Kernels, SIGNATURES } from "../../wasm/pkg/bindings.ts";
import type { Pool } from "./pool.ts";

/** Named scratch slots: each keeps one growing allocation, reused by every call (no per-token allocation). */
export const Slot = {
  X: 0, Y: 1, Z: 2, DT: 3, B: 4, C: 5, A: 6, D: 7, State: 8, Window: 9, W: 10, Bias: 11, Ids: 12, XQ: 13, XS: 14,
  Parts: 15, Stage: 16, Stage2: 17,
} as const;
export type Slot = (typeof Slot)[keyof typeof Slot];
const SLOT_COUNT = 18;

export class WasmRuntime {
  f32!: Float32Array;
  i32!: Int32Array;
  u8!: Uint8Array;
  private buf: ArrayBufferLike | null = null;
  /** Every buffer object a shared memory has handed out: views on any of them stay valid after growth. */
  private readonly sharedBufs = new WeakSet<ArrayBufferLike>();
  readonly shared: boolean;
  private readonly slots: { ptr: number; cap: number }[] = [];
  private disposed = false;
  /** Split every parallel kernel over all threads whatever its size (tests of the split logic). */
  fineGrain = false;

  constructor(
    readonly k: Kernels,
    readonly memory: WebAssembly.Memory,
    readonly pool: Pool | null,
  ) {
    for (let i = 0; i < SLOT_COUNT; i++) this.slots.push({ ptr: 0, cap: 0 });
    this.shared = typeof SharedArrayBuffer !== "undefined" && memory.buffer instanceof SharedArrayBuffer;
    this.refresh();
  }

  /** Participants in a parallel kernel call (the calling thread plus the workers). */
  get threads(): number {
    return this.pool ? this.pool.size : 1;
  }

  /** Re-creates the typed views after the memory grew (the old buffer is detached or too short). */
  refresh(): void {
    const b = this.memory.buffer;
    if (b === this.buf) return;
    this.buf = b;
    if (this.shared) this.sharedBufs.add(b);
    this.f32 = new Float32Array(b);
    this.i32 = new Int32Array(b);
    this.u8 = new Uint8Array(b);
  }

  alloc(bytes: number, what: string): number {
    this.live();
    const p = this.k.ss_alloc(Math.max(1, bytes));
    if (p === 0) throw new BackendError(`out of wasm memory allocating ${bytes} bytes for ${what} (linear memory is at most 4 GiB)`, "wasm");
    this.refresh();
    return p;
  }

  free(ptr: number): void {
    if (ptr && !this.disposed) this.k.ss_free(ptr);
  }

  /**
   * Where a kernel should write n floats for `out`: `out` itself when it lives in wasm memory and
   * overlaps none of the kernel's inputs (`inputs`: [pointer, floats] pairs), else scratch.
   */
  outPtr(slot: Slot, out: Float32Array | undefined, n: number, inputs: [number, number][] = []): number {
    this.refresh();
    if (out && this.inMemory(out)) {
      const p = out.byteOffset, e = p + n * 4;
      if (inputs.every(([q, m]) => q + m * 4 <= p || e <= q)) return p;
    }
    return this.scratch(slot, n * 4);
  }

  /** A scratch region of at least `bytes` for `slot`, reused across calls. */
  scratch(slot: Slot, bytes: number): number {
    const s = this.slots[slot];
    if (s.cap < bytes) {
      if (s.ptr) this.k.ss_free(s.ptr);
      s.ptr = 0;
      const cap = Math.max(bytes, Math.ceil(s.cap * 1.5), 4096);
      s.ptr = this.alloc(cap, "scratch");
      s.cap = cap;
    }
    return s.ptr;
  }

  /** Whether `a` is a view of this module's linear memory (then kernels use it in place). */
  inMemory(a: Float32Array): boolean {
    return a.buffer === this.buf || (this.shared && this.sharedBufs.has(a.buffer));
  }

  /** Copies the first n floats of `a` into `slot` (or uses `a` in place if it already lives in wasm memory). */
  put(slot: Slot, a: Float32Array, n: number): number {
    this.refresh();
    if (this.inMemory(a)) return a.byteOffset;
    const p = this.scratch(slot, n * 4);
    this.f32.set(n === a.length ? a : a.subarray(0, n), p >>> 2);
    return p;
  }

  /** Copies n floats at ptr into `out` (allocated if absent). */
  get(ptr: number, n: number, out?: Float32Array): Float32Array {
    this.refresh();
    const o = out ?? new Float32Array(n);
    if (o.byteOffset === ptr && this.inMemory(o)) return o;
    o.set(this.f32.subarray(ptr >>> 2, (ptr >>> 2) + n));
    return o;
  }

  /** Copies n floats at ptr back into `a` (for in/out arguments such as states). */
  back(ptr: number, a: Float32Array, n: number): void {
    if (a.byteOffset === ptr && this.inMemory(a)) return;
    a.set(this.f32.subarray(ptr >>> 2, (ptr >>> 2) + n));
  }

  live(): void {
    if (this.disposed) throw new BackendError("backend was disposed", "wasm");
  }

  dispose(): void {
    if (this.disposed) return;
    for (const s of this.slots) if (s.ptr) this.k.ss_free(s.ptr);
    this.disposed = true;
    this.pool?.dispose();
  }

  /**
   * Runs kernel `fn` over the range [0, n) of its `*Lo`/`*Hi` parameters, in chunks whose
   * boundaries are multiples of `align`, on as many threads as the work is worth (at least
   * `minPerPart` items per thread). `args` are the kernel's arguments (the range entries are
   * filled in per chunk). With `partStride` the kernel's `scratch` argument receives a private
   * region of that many bytes per thread, allocated here.
   */
  parallel(fn: KernelName, n: number, minPerPart: number, align: number, args: number[], partStride = 0): void {
    const sig = sigIndex(fn);
    const parts = this.partsFor(n, minPerPart, align);
    const call = this.k[fn] as (...a: number[]) => unknown;
    if (parts === 1 || !this.pool) {
      args[sig.lo] = 0;
      args[sig.hi] = n;
      if (sig.scratch >= 0) args[sig.scratch] = partStride ? this.scratch(Slot.Parts, partStride) : 0;
      call(...args);
      return;
    }
    // more chunks than threads, so that a thread that starts late costs little
    const chunks = Math.max(parts, Math.min(parts * 4, Math.ceil(n / align), 255));
    const bounds: number[] = [];
    for (let i = 0; i <= chunks; i++) bounds.push(split(n, chunks, i, align));
    for (let i = bounds.length - 1; i > 0; i--) if (bounds[i] === bounds[i - 1]) bounds.splice(i, 1);
    const part = sig.scratch >= 0 ? { index: sig.scratch, base: partStride ? this.scratch(Slot.Parts, partStride * this.pool.size) : 0, stride: partStride } : undefined;
    this.pool.run({ fn, args, lo: sig.lo, hi: sig.hi, bounds, part });
  }

  /** Number of threads `parallel` will use. */
  partsFor(n: number, minPerPart: number, align: number): number {
    if (!this.pool) return 1;
    const byWork = this.fineGrain ? n : Math.floor(n / Math.max(1, minPerPart));
    const byAlign = Math.ceil(n / align);
    return Math.max(1, Math.min(this.pool.size, byWork, byAlign));
  }

  /** Chunk size (items) `parallel` uses for n items: an upper bound for per-chunk scratch. */
  maxChunk(n: number, minPerPart: number, align: number): number {
    const parts = this.partsFor(n, minPerPart, align);
    if (parts === 1) return n;
    const chunks = Math.max(parts, Math.min(parts * 4, Math.ceil(n / align), 255));
    return Math.min(n, (Math.ceil(n / chunks / align) + 1) * align);
  }
}

const sigCache = new Map<KernelName, { lo: number; hi: number; scratch: number }>();
function sigIndex(fn: KernelName): { lo: number; hi: number; scratch: number } {
  let s = sigCache.get(fn);
  if (!s) {
    const names = SIGNATURES[fn].params.map((p) => p[0]);
    s = { lo: names.findIndex((p) => p.endsWith("Lo")), hi: names.findIndex((p) => p.endsWith("Hi")), scratch: names.indexOf("scratch") };
    if (s.lo < 0 || s.hi < 0) throw new Error(`${fn} has no range parameters`);
    sigCache.set(fn, s);
  }
  return s;
}

/** Boundary i of n items split into `parts` ranges, rounded to multiples of `align` (last = n). */
export function split(n: number, parts: number, i: number, align: number): number {
  if (i >= parts) return n;
  const b = Math.round((n * i) / parts / align) * align;
  return Math.min(n, b);
}
