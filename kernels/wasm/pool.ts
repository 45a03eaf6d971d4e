// Worker pool for the threaded build. Every worker instantiates the same module on the same shared
// WebAssembly.Memory (with its own shadow stack). A parallel call is published as one job — a
// kernel, its arguments and the boundaries of up to 255 chunks of its work range — and every
// participant (the calling thread included) claims chunks one at a time until none are left.
// Claiming is dynamic, so a worker that is descheduled or slow to wake never stalls the call:
// the caller simply runs the remaining chunks itself. Node: worker_threads; browsers: Web Workers
// (SharedArrayBuffer needs cross-origin isolation).
//
// Control words (Int32 on a SharedArrayBuffer):
//   WAKE   job counter; idle workers poll it briefly, then sleep in Atomics.wait on it
//   CLAIM  (gen & 0xff) << 24 | nchunks << 16 | next chunk; claimed with compareExchange, so a
//          claim succeeds only while next < nchunks of the job it was read from. A claimed chunk
//          keeps its job alive (the caller waits for all chunks), so the descriptor a claimer
//          reads after a successful claim is always that job's.
//   DONE   chunks finished in the current job;  ERROR  set when a kernel trapped;  EXIT
//   BUSY + pid   1 + the chunk a participant is running (0: none)
//   ALIVE + pid  1 from a worker's start until it exits (Node sets 0 in the worker's exit handler)
// A worker that exits holding a chunk would leave DONE short forever: the caller checks BUSY /
// ALIVE while it waits, and gives up after `stallMs` without progress (browsers, or a hung kernel).
// Job descriptor (Float64): kernel, nargs, lo / hi / scratch argument positions, scratch base and
// stride (per participant), nchunks, boundaries, then the arguments.
import { BackendError } from "../../core/errors.ts";
import { KERNEL_NAMES, type KernelName } from "../../wasm/pkg/bindings.ts";

const WAKE = 0, CLAIM = 1, DONE = 2, ERROR = 3, EXIT = 4, BUSY = 8, ALIVE = BUSY + 256, CTL_WORDS = ALIVE + 256;
const MAXCHUNKS = 255;
const MAXTHREADS = 256;
const MAXARGS = 32;
const D_FN = 0, D_NARGS = 1, D_LO = 2, D_HI = 3, D_PART = 4, D_PBASE = 5, D_PSTRIDE = 6, D_NCHUNKS = 7, D_BOUNDS = 8;
const D_ARGS = D_BOUNDS + MAXCHUNKS + 1;
const DESC_WORDS = D_ARGS + MAXARGS;
const STACK_BYTES = 256 * 1024;

/**
 * Claims and runs chunks of the current job until none are left (run by workers and the caller).
 * Self-contained (its source is also the workers'), so the control indices are repeated here.
 */
function drain(
  ctl: Int32Array, desc: Float64Array, pid: number, call: (f: number, a: number[]) => void, a: number[],
): void {
  const CLAIM = 1, DONE = 2, ERROR = 3, BUSY = 8;
  const D_FN = 0, D_NARGS = 1, D_LO = 2, D_HI = 3, D_PART = 4, D_PBASE = 5, D_PSTRIDE = 6, D_BOUNDS = 8;
  const D_ARGS = D_BOUNDS + 256;
  for (;;) {
    const v = Atomics.load(ctl, CLAIM);
    const n = (v >>> 16) & 0xff;
    const i = v & 0xffff;
    if (i >= n) return;
    if (Atomics.compareExchange(ctl, CLAIM, v, v + 1) !== v) continue;
    const nargs = desc[D_NARGS];
    a.length = nargs;
    for (let k = 0; k < nargs; k++) a[k] = desc[D_ARGS + k];
    a[desc[D_LO]] = desc[D_BOUNDS + i];
    a[desc[D_HI]] = desc[D_BOUNDS + i + 1];
    if (desc[D_PART] >= 0) a[desc[D_PART]] = desc[D_PBASE] + pid * desc[D_PSTRIDE];
    Atomics.store(ctl, BUSY + pid, i + 1);
    try {
      call(desc[D_FN], a);
    } catch {
      Atomics.store(ctl, ERROR, 1);
    }
    Atomics.store(ctl, BUSY + pid, 0);
    if (Atomics.add(ctl, DONE, 1) + 1 === n) Atomics.notify(ctl, DONE);
  }
}

/** The worker program (plain JavaScript, so it runs without the TypeScript loader). */
const WORKER_MAIN = String.raw`
const WAKE = ${WAKE}, EXIT = ${EXIT}, ALIVE = ${ALIVE};
const drain = ${drain.toString()};
async function main(m, post, onExit) {
  try {
    const { module, memory, ctl: ctlBuf, desc: descBuf, pid, names, stackTop, spin, exitOnClaim } = m;
    const inst = await WebAssembly.instantiate(module, { env: { memory } });
    const ex = inst.exports;
    if (ex.__stack_pointer) ex.__stack_pointer.value = stackTop;
    const fns = names.map((n) => ex[n]);
    let claims = 0;
    const call = (f, a) => {
      if (exitOnClaim && ++claims === exitOnClaim) onExit.now(); // fault injection (tests)
      return fns[f].apply(null, a);
    };
    const ctl = new Int32Array(ctlBuf);
    const desc = new Float64Array(descBuf);
    const a = [];
    let seen = Atomics.load(ctl, WAKE);
    Atomics.store(ctl, ALIVE + pid, 1);
    if (onExit) onExit.hook(() => Atomics.store(ctl, ALIVE + pid, 0));
    post({ ready: true });
    for (;;) {
      let s = Atomics.load(ctl, WAKE);
      for (let i = 0; i < spin && s === seen; i++) s = Atomics.load(ctl, WAKE);
      while (s === seen) {
        Atomics.wait(ctl, WAKE, seen);
        s = Atomics.load(ctl, WAKE);
      }
      seen = s;
      if (Atomics.load(ctl, EXIT)) break;
      drain(ctl, desc, pid, call, a);
    }
  } catch (e) {
    post({ error: String((e && e.stack) || e) });
  }
}
`;

const NODE_WORKER = `${WORKER_MAIN}
const { parentPort } = require("node:worker_threads");
const onExit = { hook: (f) => process.on("exit", f), now: () => process.exit(70) };
parentPort.once("message", (m) => main(m, (x) => parentPort.postMessage(x), onExit));
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
  /** Iterations an idle or waiting thread polls before sleeping (default 30000, roughly 50-100 µs). */
  spin?: number;
  /** A call fails after this long with no chunk finishing (default 60000 ms): a hung or lost worker. */
  stallMs?: number;
  /** Fault injection for tests (Node): worker 1 exits when it claims its Nth chunk. */
  exitOnClaim?: number;
}

/** One parallel call: `args` with the range (and per-participant scratch) filled in per chunk. */
export interface Job {
  fn: KernelName;
  args: number[];
  lo: number;
  hi: number;
  /** Chunk boundaries: chunk i is [bounds[i], bounds[i+1]). At most 255 chunks. */
  bounds: number[];
  /** Position of the scratch argument, and its base and stride per participant (bytes). */
  part?: { index: number; base: number; stride: number };
}

export class Pool {
  private ctl: Int32Array;
  private desc: Float64Array;
  private readonly canWait: boolean;
  private readonly a: number[] = [];
  private gen = 0;
  private disposed = false;
  /** Set when a worker was lost: the workers are gone and calls run on the calling thread alone. */
  private failed = false;

  private constructor(
    private readonly workers: AnyWorker[],
    ctl: SharedArrayBuffer,
    desc: SharedArrayBuffer,
    private readonly kernels: Record<string, (...a: number[]) => unknown>,
    private readonly spin: number,
    private readonly stallMs: number,
  ) {
    this.ctl = new Int32Array(ctl);
    this.desc = new Float64Array(desc);
    this.canWait = canAtomicsWait();
  }

  /** Threads taking part in a call: the workers plus the calling thread. */
  get size(): number {
    return this.failed ? 1 : this.workers.length + 1;
  }

  static async create(o: PoolOptions, kernels: Record<string, (...a: number[]) => unknown>): Promise<Pool> {
    const n = o.threads - 1;
    if (o.threads > MAXTHREADS) throw new BackendError(`${o.threads} threads (at most ${MAXTHREADS})`, "wasm");
    const ctl = new SharedArrayBuffer(CTL_WORDS * 4);
    const desc = new SharedArrayBuffer(DESC_WORDS * 8);
    const spin = o.spin ?? 30000;
    const workers: AnyWorker[] = [];
    const ready: Promise<void>[] = [];
    try {
      for (let i = 0; i < n; i++) {
        const stackTop = (o.allocStack(STACK_BYTES) + STACK_BYTES) & ~15;
        const { worker, ready: r } = await spawn();
        workers.push(worker);
        ready.push(r);
        const exitOnClaim = i === 0 ? o.exitOnClaim : undefined;
        worker.postMessage({ module: o.module, memory: o.memory, ctl, desc, pid: i + 1, names: KERNEL_NAMES, stackTop, spin, exitOnClaim });
      }
      await Promise.all(ready);
    } catch (e) {
      for (const w of workers) void w.terminate();
      throw e;
    }
    return new Pool(workers, ctl, desc, kernels, spin, o.stallMs ?? 60_000);
  }

  /** Runs every chunk of `job` on this thread and the workers; returns when all are done. */
  run(job: Job): void {
    if (this.disposed && !this.failed) throw new BackendError("worker pool was disposed", "wasm");
    const n = job.bounds.length - 1;
    if (n < 1 || n > MAXCHUNKS) throw new BackendError(`${job.fn}: ${n} chunks (1 to ${MAXCHUNKS} allowed)`, "wasm");
    if (job.args.length > MAXARGS) throw new BackendError(`${job.fn}: too many arguments`, "wasm");
    const { ctl, desc } = this;
    desc[D_FN] = KERNEL_NAMES.indexOf(job.fn);
    desc[D_NARGS] = job.args.length;
    desc[D_LO] = job.lo;
    desc[D_HI] = job.hi;
    desc[D_PART] = job.part ? job.part.index : -1;
    desc[D_PBASE] = job.part ? job.part.base : 0;
    desc[D_PSTRIDE] = job.part ? job.part.stride : 0;
    desc[D_NCHUNKS] = n;
    for (let i = 0; i <= n; i++) desc[D_BOUNDS + i] = job.bounds[i];
    for (let i = 0; i < job.args.length; i++) desc[D_ARGS + i] = job.args[i];
    this.gen = (this.gen + 1) & 0xff;
    Atomics.store(ctl, DONE, 0);
    Atomics.store(ctl, CLAIM, (this.gen << 24) | (n << 16));
    Atomics.add(ctl, WAKE, 1);
    Atomics.notify(ctl, WAKE);
    drain(ctl, desc, 0, (f, a) => this.kernels[KERNEL_NAMES[f]](...a), this.a);
    let d = Atomics.load(ctl, DONE);
    for (let i = 0; i < this.spin && d < n; i++) d = Atomics.load(ctl, DONE);
    let since = Date.now();
    while (d < n) {
      if (this.canWait) Atomics.wait(ctl, DONE, d, 20);
      const now = Atomics.load(ctl, DONE);
      if (now !== d) since = Date.now();
      d = now;
      if (d < n) this.checkWorkers(job.fn, n, since);
    }
    if (Atomics.load(ctl, ERROR) !== 0) {
      Atomics.store(ctl, ERROR, 0);
      throw new BackendError(`${job.fn} trapped (out-of-bounds access or unreachable) in a parallel call`, "wasm");
    }
  }

  /** Throws (and closes the pool) if a worker exited holding a chunk, or nothing finished for stallMs. */
  private checkWorkers(fn: string, n: number, since: number): void {
    for (let pid = 1; pid <= this.workers.length; pid++) {
      const chunk = Atomics.load(this.ctl, BUSY + pid);
      if (chunk && !Atomics.load(this.ctl, ALIVE + pid)) {
        this.fail();
        throw new BackendError(`${fn}: wasm worker ${pid} exited while running chunk ${chunk} of ${n}; this call's output is incomplete; the wasm backend goes on with the calling thread alone`, "wasm");
      }
    }
    if (Date.now() - since > this.stallMs) {
      this.fail();
      throw new BackendError(`${fn}: no chunk finished for ${this.stallMs} ms (a wasm worker hung or was lost); this call's output is incomplete; the wasm backend goes on with the calling thread alone`, "wasm");
    }
  }

  /** Closes the workers after a loss; later calls run on fresh control words with the caller alone
   *  (a hung worker still holds the old ones). */
  private fail(): void {
    this.dispose();
    this.failed = true;
    this.ctl = new Int32Array(new SharedArrayBuffer(CTL_WORDS * 4));
    this.desc = new Float64Array(new SharedArrayBuffer(DESC_WORDS * 8));
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    Atomics.store(this.ctl, EXIT, 1);
    Atomics.add(this.ctl, WAKE, 1);
    Atomics.notify(this.ctl, WAKE);
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
    const spec = "node:worker_threads"; // not resolved by browser bundlers
    const { Worker }: typeof import("node:worker_threads") = await import(/* @vite-ignore */ spec);
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
