// The wasm backend: Rust SIMD128 kernels (wasm/src, built into wasm/pkg by `npm run build:wasm`)
// behind the Backend interface. Weights are packed once into wasm linear memory in their storage
// dtype; activations are copied in and out per op through reusable scratch slots (a decode step
// allocates nothing in wasm memory once the slots have grown). With threads > 1 and shared memory
// available, the threaded build runs on a worker pool that shares the memory; large matmuls are
// split by row groups, scans by heads / channels.
//
// Numerics against the cpu reference (float64 accumulation), as tested in test/wasm-*.test.ts:
// float32 accumulation everywhere; f16 / bf16 / int8 weights take exactly the values of
// kernels/quant.ts; int8 matmuls quantize the activations per token and block of 32 to int16
// (relative error <= 2^-16 of the block maximum) and sum with i32x4.dot_i16x8_s.
import { BackendError, OptionError } from "../../core/errors.ts";
import { BUILDS, checkKernels, compileBuild, type Kernels } from "../../wasm/pkg/bindings.ts";
import type { Backend, Matrix, WeightDType } from "../backend.ts";
import { conv1d } from "./conv1d.ts";
import { wasmDeltaRule } from "./delta-rule.ts";
import { add, dtSoftplus, siluGate } from "./elementwise.ts";
import { asWasmMatrix, embed, matmul, upload } from "./matmul.ts";
import { gatedRmsnorm, rmsnorm } from "./norm.ts";
import { Pool } from "./pool.ts";
import { createWasmS4Ops } from "./s4.ts";
import { WasmRuntime } from "./runtime.ts";
import { selectiveScan, ssdScan } from "./scan.ts";
import { warmUp } from "./warmup.ts";

/** The kernel ABI this runtime expects of wasm/pkg (`ss_abi_version`; bumped on a signature or layout change). */
export const KERNEL_ABI = 1;

export interface WasmBackendOptions {
  /** Threads including the calling one (default: the machine's available parallelism). 1 = single-threaded build. */
  threads?: number;
  /** Polling iterations before a waiting thread sleeps (default 20000). */
  spin?: number;
  /** A parallel call fails after this long without a chunk finishing (default 60000 ms). */
  stallMs?: number;
  /** Fault injection for tests: worker 1 exits when it claims its Nth chunk (Node). */
  exitOnClaim?: number;
  /** "fine" splits every parallel kernel over all threads, however small (for tests); default "auto". */
  grain?: "auto" | "fine";
  /** Run every kernel on small inputs at start-up so V8 optimizes them before real work (default true). */
  warmUp?: boolean;
  /**
   * Use the shared-memory build (default: wherever SharedArrayBuffer is available, also for one
   * thread, so that arrays from alloc() stay valid when the memory grows). false forces the
   * single-threaded build with an ordinary memory.
   */
  shared?: boolean;
}

export interface WasmBackend extends Backend {
  readonly name: "wasm";
  /** Threads that run kernels (1 = single-threaded build). */
  readonly threads: number;
  /** Which build runs: "threads" (shared memory, any thread count) or "single" (no SharedArrayBuffer). */
  readonly build: "single" | "threads";
  /**
   * A zeroed float32 array of n values living in wasm memory (shared-memory build; an ordinary
   * array otherwise). Ops use such arrays in place instead of copying them in and out, which
   * matters for recurrent states (a Mamba-2 130m layer's SSM state is 786 KB, read and written
   * every decode step). Freed when garbage-collected or at dispose().
   */
  alloc(n: number): Float32Array;
  /** Frees one matrix's wasm memory now (instead of at dispose()). */
  release(m: Matrix): void;
  /** Bytes of wasm linear memory in use (weights + scratch). */
  memoryInUse(): number;
}

async function defaultThreads(): Promise<number> {
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  if (typeof process !== "undefined" && process.versions?.node) {
    const spec = "node:os"; // not resolved by browser bundlers
    const os: typeof import("node:os") = await import(/* @vite-ignore */ spec);
    return typeof os.availableParallelism === "function" ? os.availableParallelism() : os.cpus().length;
  }
  return nav?.hardwareConcurrency ?? 1;
}

function sharedMemoryAvailable(): boolean {
  if (typeof SharedArrayBuffer === "undefined") return false;
  const coi = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated;
  return coi !== false;
}

export async function createWasmBackend(opts: WasmBackendOptions = {}): Promise<WasmBackend> {
  if (opts.threads !== undefined && (!Number.isInteger(opts.threads) || opts.threads < 1))
    throw new OptionError(`expected a positive integer, got ${opts.threads}`, "threads");
  if (typeof WebAssembly === "undefined") throw new BackendError("WebAssembly is not available", "wasm");
  const requested = opts.threads ?? (await defaultThreads());
  const threaded = (opts.shared ?? true) && sharedMemoryAvailable();

  let rt: WasmRuntime;
  try {
    if (threaded) {
      const module = await compileBuild("threads");
      const memory = newSharedMemory(BUILDS.threads.memory.min);
      const instance = await WebAssembly.instantiate(module, { env: { memory } });
      const k: Kernels = checkKernels(instance.exports);
      const pre = new WasmRuntime(k, memory, null);
      const pool =
        requested > 1
          ? await Pool.create(
              { threads: requested, module, memory, allocStack: (b) => pre.alloc(b, "a worker stack"), spin: opts.spin, stallMs: opts.stallMs, exitOnClaim: opts.exitOnClaim },
              k as unknown as Record<string, (...a: number[]) => unknown>,
            )
          : null;
      rt = new WasmRuntime(k, memory, pool);
    } else {
      const module = await compileBuild("single");
      const instance = await WebAssembly.instantiate(module, {});
      const k = checkKernels(instance.exports);
      rt = new WasmRuntime(k, instance.exports.memory as WebAssembly.Memory, null);
    }
  } catch (e) {
    if (e instanceof BackendError) throw e;
    throw new BackendError(`cannot start (${(e as Error).message})`, "wasm");
  }
  rt.fineGrain = opts.grain === "fine";
  if (opts.warmUp !== false) {
    warmUp(rt);
    // optimized code is compiled on background threads: give it a moment, then run again
    await new Promise((r) => setTimeout(r, 30));
    warmUp(rt, 1);
  }
  if (rt.k.ss_abi_version() !== KERNEL_ABI) throw new BackendError(`wasm/pkg has kernel ABI ${rt.k.ss_abi_version()}, expected ${KERNEL_ABI}`, "wasm");

  const matrices = new Set<ReturnType<typeof upload>>();
  // blocks behind alloc()'d arrays, freed when an array is collected (or all at dispose)
  const allocated = new Set<number>();
  let disposed = false;
  const registry = new FinalizationRegistry<number>((ptr) => {
    if (!disposed && allocated.delete(ptr)) rt.free(ptr);
  });
  const backend: WasmBackend = {
    name: "wasm",
    get threads() {
      return rt.threads; // drops to 1 if a worker is lost
    },
    build: threaded ? "threads" : "single",
    get detail(): string {
      const dts = [...new Set([...matrices].map((m) => m.dtype))].sort();
      const weights = dts.length ? `, ${dts.join("+")} weights` : "";
      const fallback = requested > 1 && !threaded ? ` (${requested} requested; no SharedArrayBuffer: single-threaded build)` : "";
      const lost = requested > 1 && threaded && rt.threads === 1 ? " (a worker was lost: calling thread only)" : "";
      return `wasm simd128, ${rt.threads} thread${rt.threads === 1 ? "" : "s"}${weights}${fallback}${lost}`;
    },
    matrix(w: Float32Array, rows: number, cols: number, dtype: WeightDType = "f32"): Matrix {
      const m = upload(rt, w, rows, cols, dtype);
      matrices.add(m);
      return m;
    },
    matmul: (x, T, w, out) => matmul(rt, x, T, w, out),
    embed: (ids, w, out) => embed(rt, ids, w, out),
    rmsnorm: (x, T, D, weight, eps, out) => rmsnorm(rt, x, T, D, weight, eps, out),
    gatedRmsnorm: (y, z, T, D, gs, weight, eps, nbg, out) => gatedRmsnorm(rt, y, z, T, D, gs, weight, eps, nbg, out),
    conv1d: (x, T, C, K, weight, bias, window, out) => conv1d(rt, x, T, C, K, weight, bias, window, out),
    ssdScan: (a) => ssdScan(rt, a),
    selectiveScan: (a) => selectiveScan(rt, a),
    dtSoftplus: (dt, T, H, bias, lo, hi) => dtSoftplus(rt, dt, T, H, bias, lo, hi),
    siluGate: (y, z) => siluGate(rt, y, z),
    add: (a, b) => add(rt, a, b),
    deltaRule: wasmDeltaRule(rt),
    s4: createWasmS4Ops(rt, opts.warmUp !== false),
    release(m: Matrix): void {
      // idempotent: finalizers may release a matrix after dispose() (which frees every matrix) or twice
      if (disposed || (m as { ptr?: number }).ptr === 0) return;
      const wm = asWasmMatrix(rt, m);
      rt.free(wm.ptr);
      wm.ptr = 0;
      matrices.delete(wm);
    },
    alloc(n: number): Float32Array {
      if (!Number.isInteger(n) || n < 0) throw new BackendError(`alloc: bad length ${n}`, "wasm");
      if (!rt.shared) return new Float32Array(n);
      const ptr = rt.alloc(n * 4, `a ${n}-float array`);
      rt.refresh();
      const a = new Float32Array(rt.memory.buffer, ptr, n);
      a.fill(0);
      allocated.add(ptr);
      registry.register(a, ptr);
      return a;
    },
    memoryInUse: () => rt.k.ss_heap_in_use(),
    dispose(): void {
      disposed = true;
      for (const m of matrices) {
        rt.free(m.ptr);
        m.ptr = 0;
      }
      matrices.clear();
      rt.dispose();
    },
  };
  return backend;
}

function newSharedMemory(min: number): WebAssembly.Memory {
  // 4 GiB of address space where the platform allows it, else 1 GiB
  for (const maximum of [65536, 16384]) {
    try {
      return new WebAssembly.Memory({ initial: min, maximum, shared: true });
    } catch {
      // try the smaller reservation
    }
  }
  throw new BackendError("cannot create a shared WebAssembly.Memory", "wasm");
}
