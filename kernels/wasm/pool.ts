// Worker pool for the threaded build: every worker instantiates the same module on the same shared
// WebAssembly.Memory (with its own shadow stack) and waits on a control word; the calling thread
// writes a job (kernel index + arguments) into each worker's slot, runs the first range itself, and
// waits until all workers have finished. Node: worker_threads; browsers: Web Workers (needs
// cross-origin isolation for SharedArrayBuffer).
//
// Control block (SharedArrayBuffer, Int32): per worker [seq, kernel, nargs, -]; then [done, error].
// Arguments: a second SharedArrayBuffer of float64 (pointers and sizes are exact up to 2^53).
// A worker spins briefly on its control word before sleeping in Atomics.wait, so that the many
// small parallel calls of a decode step do not pay a wake-up each.
import { BackendError } from "../../core/errors.ts";
import { KERNEL_NAMES, type KernelName } from "../../wasm/pkg/bindings.ts";

const SLOT = 4;
const MAXARGS = 32;
const STACK_BYTES = 256 * 1024;

/** The worker program (plain JavaScript: it runs without the TypeScript loader). */
const WORKER_MAIN = String.raw`
async function main(m, post) {
  try {
    const { module, memory, ctl: ctlBuf, args: argBuf, index, names, stackTop, spin } = m;
    const inst = await WebAssembly.instantiate(module, { env: { memory } });
    const ex = inst.exports;
    if (ex.__stack_pointer) ex.__stack_pointer.value = stackTop;
    const fns = names.map((n) => ex[n]);
    const ctl = new Int32Array(ctlBuf);
    const args = new Float64Array(argBuf);
    const base = index * ${SLOT};
    const abase = index * ${MAXARGS};
    const done = ctl.length - 2;
    const a = [];
    post({ ready: true });
    let seen = 0;
    for (;;) {
      let s = Atomics.load(ctl, base);
      for (let i = 0; i < spin && s === seen; i++) s = Atomics.load(ctl, base);
      while (s === seen) {
        Atomics.wait(ctl, base, seen);
        s = Atomics.load(ctl, base);
      }
      seen = s;
      const f = ctl[base + 1];
      if (f < 0) break;
      const n = ctl[base + 2];
      a.length = n;
      for (let i = 0; i < n; i++) a[i] = args[abase + i];
      try {
        fns[f].apply(null, a);
      } catch (e) {
        Atomics.store(ctl, done + 1, 1);
      }
      Atomics.add(ctl, done, 1);
      Atomics.notify(ctl, done);
    }
  } catch (e) {
    post({ error: String((e && e.stack) || e) });
  }
}
`;

const NODE_WORKER = `${WORKER_MAIN}
const { parentPort } = require("node:worker_threads");
parentPort.once("message", (m) => main(m, (x) => parentPort.postMessage(x)));
`;

const WEB_WORKER = `${WORKER_MAIN}
self.onmessage = (e) => { self.onmessage = null; main(e.data, (x) => self.postMessage(x)); };
`;

interface AnyWorker {
  postMessage(m: unknown): void;
  terminate(): unknown;
}

export interface PoolOptions {
  /** Total threads including the calling one (workers = threads - 1). */
  threads: number;
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  /** Allocates a worker's shadow stack in the shared memory; returns its base address. */
  allocStack: (bytes: number) => number;
  /** Iterations a waiting thread polls before sleeping (default 20000, about 50-100 µs). */
  spin?: number;
}

export class Pool {
  private readonly ctl: Int32Array;
  private readonly args: Float64Array;
  private readonly done: number;
  private readonly canWait: boolean;
  private disposed = false;

  private constructor(
    private readonly workers: AnyWorker[],
    ctl: SharedArrayBuffer,
    args: SharedArrayBuffer,
    private readonly kernels: Record<string, (...a: number[]) => unknown>,
    private readonly spin: number,
  ) {
    this.ctl = new Int32Array(ctl);
    this.args = new Float64Array(args);
    this.done = this.ctl.length - 2;
    this.canWait = canAtomicsWait();
  }

  /** Threads taking part in a call: the workers plus the calling thread. */
  get size(): number {
    return this.workers.length + 1;
  }

  static async create(o: PoolOptions, kernels: Record<string, (...a: number[]) => unknown>): Promise<Pool> {
    const n = o.threads - 1;
    const ctl = new SharedArrayBuffer((n * SLOT + 2) * 4);
    const args = new SharedArrayBuffer(Math.max(1, n) * MAXARGS * 8);
    const spin = o.spin ?? 20000;
    const workers: AnyWorker[] = [];
    const ready: Promise<void>[] = [];
    try {
      for (let i = 0; i < n; i++) {
        const stackTop = (o.allocStack(STACK_BYTES) + STACK_BYTES) & ~15;
        const { worker, ready: r } = await spawn();
        workers.push(worker);
        ready.push(r);
        worker.postMessage({ module: o.module, memory: o.memory, ctl, args, index: i, names: KERNEL_NAMES, stackTop, spin });
      }
      await Promise.all(ready);
    } catch (e) {
      for (const w of workers) void w.terminate();
      throw e;
    }
    return new Pool(workers, ctl, args, kernels, spin);
  }

  /** Runs kernel `fn` once per job: jobs[0] on this thread, jobs[i] on worker i-1; returns when all are done. */
  run(fn: KernelName, jobs: number[][]): void {
    if (this.disposed) throw new BackendError("worker pool was disposed", "wasm");
    const nw = jobs.length - 1;
    if (nw > this.workers.length) throw new BackendError(`${jobs.length} jobs for ${this.size} threads`, "wasm");
    const f = KERNEL_NAMES.indexOf(fn);
    const ctl = this.ctl;
    Atomics.store(ctl, this.done, 0);
    for (let w = 0; w < nw; w++) {
      const a = jobs[w + 1];
      if (a.length > MAXARGS) throw new BackendError(`${fn}: too many arguments`, "wasm");
      const ab = w * MAXARGS;
      for (let i = 0; i < a.length; i++) this.args[ab + i] = a[i];
      ctl[w * SLOT + 1] = f;
      ctl[w * SLOT + 2] = a.length;
      Atomics.add(ctl, w * SLOT, 1);
      Atomics.notify(ctl, w * SLOT, 1);
    }
    let err: unknown = null;
    try {
      this.kernels[fn](...jobs[0]);
    } catch (e) {
      err = e;
    }
    let d = Atomics.load(ctl, this.done);
    for (let i = 0; i < this.spin && d < nw; i++) d = Atomics.load(ctl, this.done);
    while (d < nw) {
      if (this.canWait) Atomics.wait(ctl, this.done, d, 50);
      d = Atomics.load(ctl, this.done);
    }
    if (Atomics.load(ctl, this.done + 1) !== 0) {
      Atomics.store(ctl, this.done + 1, 0);
      throw new BackendError(`${fn} trapped in a worker`, "wasm");
    }
    if (err) throw new BackendError(`${fn} trapped: ${(err as Error).message}`, "wasm");
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (let w = 0; w < this.workers.length; w++) {
      this.ctl[w * SLOT + 1] = -1;
      Atomics.add(this.ctl, w * SLOT, 1);
      Atomics.notify(this.ctl, w * SLOT, 1);
    }
    for (const w of this.workers) void w.terminate();
  }
}

function canAtomicsWait(): boolean {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

async function spawn(): Promise<{ worker: AnyWorker; ready: Promise<void> }> {
  const isNode = typeof process !== "undefined" && !!process.versions?.node;
  if (isNode) {
    const { Worker } = await import("node:worker_threads");
    const w = new Worker(NODE_WORKER, { eval: true, execArgv: [] });
    w.unref();
    const ready = new Promise<void>((resolve, reject) => {
      w.once("message", (m: { ready?: boolean; error?: string }) =>
        m.ready ? resolve() : reject(new BackendError(`worker failed to start: ${m.error}`, "wasm")),
      );
      w.once("error", (e) => reject(new BackendError(`worker failed to start: ${e.message}`, "wasm")));
    });
    return { worker: w, ready };
  }
  const url = URL.createObjectURL(new Blob([WEB_WORKER], { type: "text/javascript" }));
  const w = new Worker(url);
  const ready = new Promise<void>((resolve, reject) => {
    w.onmessage = (e: MessageEvent) => {
      w.onmessage = null;
      if (e.data?.ready) resolve();
      else reject(new BackendError(`worker failed to start: ${e.data?.error}`, "wasm"));
    };
    w.onerror = (e) => reject(new BackendError(`worker failed to start: ${e.message}`, "wasm"));
  });
  return { worker: w, ready };
}
