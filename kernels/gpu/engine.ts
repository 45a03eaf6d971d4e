// Worker side of the gpu backend: the kernels of kernels.ts on gpu.js in its webgpu mode (WGSL on
// Dawn). Weights are uploaded once through a pipeline kernel and stay GPU-resident as gpu.js buffer
// handles; activations round-trip per op.
//
// Mode guards (a fallback or a truncation is an error, never a slow pass):
// - after every kernel call, the kernel must still be gpu.js's WebGPUKernel with no fallbackReason
//   and the GPU instance must be in mode "webgpu" (gpu.js would otherwise move to its cpu / webasm
//   kernels and print a warning);
// - every loop bound the call needs must be <= the kernel's loopMaxIterations (gpu.js cuts loops
//   with non-constant bounds at that count without a word): kernels are compiled per bound, rounded
//   up to a power of two, and checkLoop() refuses anything larger.
import type { Adapter, Engine } from "./worker.ts";
import * as K from "./kernels.ts";
import { gpuJsDeltaRuleOps } from "./delta-rule.ts";
import { gpuJsS4Ops } from "./s4.ts";

type KernelName = keyof typeof K;
/** A gpu.js kernel shortcut (untyped library object). */
type Shortcut = ((...args: unknown[]) => Promise<unknown>) & {
  kernel?: { constructor: { mode?: string; name: string }; loopMaxIterations?: number };
  fallbackReason?: string | null;
};

/** Largest array a gpu.js kernel here reads or writes: gpu.js does its index arithmetic
 *  (`Math.floor(i / cols)`, `r * cols + c`) in float32, exact only up to 2^24. */
export const MAX_OUTPUT = 2 ** 24;

export class ModeError extends Error {}

/** Throws unless the kernel really ran as a gpu.js WebGPU kernel. */
export function checkMode(gpu: { mode?: string }, k: Shortcut, name: string): void {
  const ctor = k.kernel?.constructor;
  if (gpu.mode !== "webgpu" || ctor?.mode !== "webgpu" || k.fallbackReason)
    throw new ModeError(
      `gpu.js kernel ${name} did not run in webgpu mode (gpu.mode ${gpu.mode}, kernel ${ctor?.name ?? "?"} mode ${ctor?.mode ?? "?"}${k.fallbackReason ? `, fallback: ${k.fallbackReason}` : ""})`,
    );
}

/** Throws if a loop of `bound` iterations would be cut at the kernel's loopMaxIterations. */
export function checkLoop(k: Shortcut, bound: number, name: string): void {
  const max = k.kernel?.loopMaxIterations ?? 1000;
  if (bound > max) throw new ModeError(`gpu.js kernel ${name}: a loop of ${bound} iterations exceeds loopMaxIterations ${max}`);
}

export async function createGpuJsEngine(gpuApi: GPU, _device: GPUDevice, info: Adapter): Promise<{ engine: Engine; detail: string }> {
  // gpu.js looks for navigator.gpu (Node 20 has no navigator)
  const g = globalThis as { navigator?: { gpu?: GPU } };
  if (!g.navigator) Object.defineProperty(globalThis, "navigator", { value: { gpu: gpuApi }, configurable: true, writable: true });
  else if (!g.navigator.gpu) Object.defineProperty(g.navigator, "gpu", { value: gpuApi, configurable: true });
  const { GPU } = (await import("gpu.js")) as unknown as { GPU: new (s: object) => { mode?: string; createKernel(f: unknown, s: object): Shortcut } };
  const gpu = new GPU({ mode: "webgpu" });
  if (gpu.mode !== "webgpu") throw new ModeError(`gpu.js chose mode ${gpu.mode}, not webgpu`);

  const cache = new Map<string, Shortcut>();
  async function kernel(name: KernelName, n: number, loop: number, opts: object = {}): Promise<Shortcut> {
    if (n > MAX_OUTPUT) throw new ModeError(`gpu.js kernel ${name}: output of ${n} values exceeds ${MAX_OUTPUT} (float32 index arithmetic)`);
    const bound = loop <= 1 ? 1 : 2 ** Math.ceil(Math.log2(loop));
    const key = `${name}:${n}:${bound}:${JSON.stringify(opts)}`;
    let k = cache.get(key);
    if (!k) {
      k = gpu.createKernel(K[name], { output: [n], loopMaxIterations: bound, dynamicArguments: true, ...opts });
      cache.set(key, k);
    }
    return k;
  }
  const built = new WeakSet<Shortcut>();
  async function run(name: KernelName, n: number, loop: number, ...args: unknown[]): Promise<Float32Array> {
    const k = await kernel(name, n, loop);
    checkLoop(k, loop, name);
    for (const v of args)
      if (v instanceof Float32Array && v.length > MAX_OUTPUT) throw new ModeError(`gpu.js kernel ${name}: an input of ${v.length} values exceeds ${MAX_OUTPUT} (float32 index arithmetic)`);
    if (!built.has(k)) {
      // gpu.js 2.24 checks a buffer handle's device before a kernel's first build: build it with a
      // one-value array in place of each resident weight handle, so that the real call may pass them
      if (args.some((v) => resident.has(v as object))) await k(...args.map((v) => (resident.has(v as object) ? new Float32Array(1) : v)));
      built.add(k);
    }
    const r = (await k(...args)) as Float32Array;
    checkMode(gpu, k, name);
    if (!(r instanceof Float32Array) || r.length !== n) throw new ModeError(`gpu.js kernel ${name} returned ${r?.constructor?.name} of ${(r as Float32Array)?.length}, expected ${n} values`);
    return r;
  }

  const matrices = new Map<number, { handle: unknown; rows: number; cols: number }>();
  const resident = new WeakSet<object>();
  let nextId = 1;
  const mat = (id: number) => {
    const m = matrices.get(id);
    if (!m) throw new Error(`matrix ${id} is not resident (released or from another backend)`);
    return m;
  };
  const out = (r: Float32Array) => ({ result: r, transfer: [r.buffer as ArrayBuffer] });

  const ops: Record<string, (a: any) => Promise<{ result: unknown; transfer?: ArrayBuffer[] }>> = {
    ...gpuJsDeltaRuleOps(gpu),
    ...gpuJsS4Ops(gpu),
    async matrix(a: { data: Float32Array; rows: number; cols: number }) {
      const n = a.data.length;
      // the upload kernel: a pipeline kernel whose output buffer stays on the GPU. A pipeline kernel
      // writes the same output buffer on every call, so each matrix gets a kernel (and buffer) of its own
      if (n > MAX_OUTPUT) throw new ModeError(`gpu.js upload: a ${a.rows}x${a.cols} matrix has more than ${MAX_OUTPUT} values (gpu.js index arithmetic is float32; use the webgpu backend)`);
      const k = gpu.createKernel(K.add, { output: [n], pipeline: true, loopMaxIterations: 1 });
      const own = await k(a.data, new Float32Array(n));
      checkMode(gpu, k, "upload");
      const id = nextId++;
      const h = (await own) as object;
      resident.add(h);
      matrices.set(id, { handle: h, rows: a.rows, cols: a.cols });
      return { result: id };
    },
    async release(a: { id: number }) {
      (matrices.get(a.id)?.handle as { delete?: () => void } | undefined)?.delete?.();
      matrices.delete(a.id);
      return { result: null };
    },
    async matmul(a: { x: Float32Array; T: number; id: number }) {
      const m = mat(a.id);
      return out(await run("matmul", a.T * m.rows, m.cols, a.x, m.handle, m.rows, m.cols));
    },
    async embed(a: { ids: Uint32Array; id: number }) {
      const m = mat(a.id);
      return out(await run("embed", a.ids.length * m.cols, 1, Float32Array.from(a.ids), m.handle, m.cols));
    },
    async rmsnorm(a: { x: Float32Array; T: number; D: number; w: Float32Array; eps: number }) {
      return out(await run("rmsnorm", a.T * a.D, a.D, a.x, a.w, a.D, a.eps));
    },
    async gatedRmsnorm(a: { y: Float32Array; z: Float32Array; T: number; D: number; gs: number; w: Float32Array; eps: number; nbg: boolean }) {
      return out(await run("gatedRmsnorm", a.T * a.D, a.gs, a.y, a.z, a.w, a.D, a.gs, a.eps, a.nbg ? 1 : 0));
    },
    async conv1d(a: { x: Float32Array; T: number; C: number; K: number; w: Float32Array; bias: Float32Array | null; win: Float32Array }) {
      const win = a.win.length ? a.win : new Float32Array(1);
      return out(await run("conv1d", a.T * a.C, a.K, a.x, win, a.w, a.bias ?? new Float32Array(a.C), a.C, a.K));
    },
    async dtSoftplus(a: { dt: Float32Array; T: number; H: number; bias: Float32Array; lo: number; hi: number }) {
      return out(await run("dtSoftplus", a.T * a.H, 1, a.dt, a.bias, a.H, a.lo, Math.min(a.hi, 3.4e38)));
    },
    async siluGate(a: { y: Float32Array; z: Float32Array }) {
      return out(await run("siluGate", a.y.length, 1, a.y, a.z));
    },
    async add(a: { a: Float32Array; b: Float32Array }) {
      return out(await run("add", a.a.length, 1, a.a, a.b));
    },
    async ssdScan(a: { T: number; H: number; P: number; G: number; N: number; x: Float32Array; dt: Float32Array; A: Float32Array; B: Float32Array; C: Float32Array; D: Float32Array; state: Float32Array; Q: number }) {
      const { T, H, P, G, N } = a;
      const Q = Math.min(a.Q, T);
      const nc = Math.ceil(T / Q);
      const HPN = H * P * N;
      const Acs = await run("ssdCumsum", H * T, Q, a.dt, a.A, T, H, Q);
      const CB = await run("ssdCB", G * T * Q, N, a.B, a.C, T, G, N, Q);
      const S = await run("ssdChunkState", nc * HPN, Q, a.x, a.dt, Acs, a.B, T, H, P, G, N, Q);
      const Hin = await run("ssdPass", (nc + 1) * HPN, nc, Acs, S, a.state, T, H, P, N, Q, nc);
      const y = await run("ssdOut", T * H * P, Math.max(Q, N), a.x, a.dt, Acs, CB, Hin, a.C, a.D, T, H, P, G, N, Q);
      const state = Hin.slice(nc * HPN);
      return { result: { y, state }, transfer: [y.buffer as ArrayBuffer, state.buffer as ArrayBuffer] };
    },
    async selectiveScan(a: { T: number; D: number; N: number; x: Float32Array; dt: Float32Array; A: Float32Array; B: Float32Array; C: Float32Array; Dskip: Float32Array; state: Float32Array }) {
      const { T, D, N } = a;
      const y = await run("selOut", T * D, Math.max(T, N), a.x, a.dt, a.A, a.B, a.C, a.Dskip, a.state, T, D, N);
      const state = await run("selState", D * N, T, a.x, a.dt, a.A, a.B, a.state, T, D, N);
      return { result: { y, state }, transfer: [y.buffer as ArrayBuffer, state.buffer as ArrayBuffer] };
    },
  };

  const engine: Engine = {
    run(op, args) {
      const f = ops[op];
      if (!f) throw new Error(`unknown op ${op}`);
      return f(args);
    },
    close() {
      for (const m of matrices.values()) (m.handle as { delete?: () => void }).delete?.();
      matrices.clear();
    },
  };
  const desc = [info.vendor, info.architecture, info.description || info.device].filter(Boolean).join(" ");
  return { engine, detail: `gpu.js webgpu mode (WGSL via Dawn) on ${desc}` };
}
