// Synchronous calls into a GPU worker. The Backend interface is synchronous (models call ops and use
// the result at once) while WebGPU is asynchronous (mapAsync, onSubmittedWorkDone): a worker thread
// owns the GPUDevice and runs each op; the calling thread posts the op on a MessageChannel, sleeps in
// Atomics.wait until the worker flips a flag in a SharedArrayBuffer, then takes the reply with
// receiveMessageOnPort (no event-loop turn needed). In a browser the same protocol runs between two
// Web Workers, with the reply written into shared memory (web-bridge.ts): the runtime must live in a
// dedicated worker, since a page's main thread may not Atomics.wait.
//
// Failure modes are typed: a worker that dies, an op that throws on the GPU (device lost, validation
// error) or a reply that does not come within `timeoutMs` is a BackendError naming the backend.
import { BackendError } from "../../core/errors.ts";

export type EngineKind = "webgpu" | "gpu";

export interface HostOptions {
  /** Which engine the worker runs: hand-written WGSL ("webgpu") or gpu.js kernels ("gpu"). */
  engine: EngineKind;
  /** Longest wait for one op before the backend is declared lost (default 600 s; SwiftShader is slow). */
  timeoutMs?: number;
  /** Extra Dawn toggles, e.g. ["backend=vulkan"]. */
  dawnFlags?: string[];
}

export interface InitReply {
  /** What really runs, e.g. "WGSL on vulkan nvidia (NVIDIA H100 ...)". */
  detail: string;
  adapter: { vendor: string; architecture: string; device: string; description: string };
}

type Reply = { ok: true; result: unknown } | { ok: false; error: string };

/** The worker entry point: a TypeScript file run through tsx, or a bundled .mjs (SCANSTREAM_GPU_WORKER). */
function workerSpec(): { code: string | URL; eval: boolean } {
  const env = typeof process !== "undefined" ? process.env.SCANSTREAM_GPU_WORKER : undefined;
  if (env) return { code: env, eval: false };
  // the TypeScript worker runs through tsx's loader, registered inside the worker
  const tsx = import.meta.resolve("tsx/esm/api");
  const url = new URL("./worker.ts", import.meta.url).href;
  return { code: `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(url)}); })`, eval: true };
}

/** What GpuHost needs of a connection to the GPU worker (Node: Connection below; browsers: WebBridge). */
interface Bridge {
  lastError: string | null;
  readonly adapter: InitReply["adapter"];
  call<T>(op: string, args: unknown, transfer: ArrayBuffer[], name: string, timeoutMs: number): T;
}

/** The one worker of this thread (Dawn's native module is loaded once per process: two workers that
 *  each load it crash the process), shared by every gpu / webgpu backend as separate sessions. */
class Connection implements Bridge {
  lastError: string | null = null;
  constructor(
    readonly worker: import("node:worker_threads").Worker,
    readonly port: import("node:worker_threads").MessagePort,
    readonly flag: Int32Array,
    readonly receive: typeof import("node:worker_threads").receiveMessageOnPort,
    readonly adapter: InitReply["adapter"],
  ) {
    worker.on("error", (e) => (this.lastError = e.message));
    worker.on("exit", (code) => (this.lastError ??= `worker exited with code ${code}`));
  }

  call<T>(op: string, args: unknown, transfer: ArrayBuffer[], name: string, timeoutMs: number): T {
    if (this.lastError) throw new BackendError(`the GPU worker is gone (${this.lastError})`, name);
    Atomics.store(this.flag, 0, 0);
    this.port.postMessage({ op, args }, transfer);
    const deadline = Date.now() + timeoutMs;
    while (Atomics.load(this.flag, 0) === 0) {
      const left = deadline - Date.now();
      if (left <= 0) {
        this.lastError = `no reply to ${op} within ${timeoutMs} ms`;
        void this.worker.terminate();
        throw new BackendError(this.lastError, name);
      }
      Atomics.wait(this.flag, 0, 0, Math.min(left, 1000));
      if (this.lastError) throw new BackendError(`the GPU worker is gone during ${op} (${this.lastError})`, name);
    }
    const msg = this.receive(this.port);
    if (!msg) throw new BackendError(`reply to ${op} lost`, name);
    const r = msg.message as Reply;
    if (!r.ok) throw new BackendError(`${op} failed on the GPU: ${r.error}`, name);
    return r.result as T;
  }
}

let connecting: Promise<Bridge> | null = null;

async function connect(opts: HostOptions): Promise<Bridge> {
  const name = opts.engine;
  if (typeof process === "undefined" || !process.versions?.node) return (await import("./web-bridge.ts")).WebBridge.start(name);
  const wt = await import("node:worker_threads");
  const spec = workerSpec();
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const { port1, port2 } = new wt.MessageChannel();
  let worker: import("node:worker_threads").Worker;
  try {
    worker = new wt.Worker(spec.code, { eval: spec.eval, execArgv: [], workerData: { port: port2, flag, dawnFlags: opts.dawnFlags ?? [] }, transferList: [port2] });
  } catch (e) {
    throw new BackendError(`cannot start the GPU worker (${(e as Error).message})`, name);
  }
  worker.unref();
  port1.unref();
  let startError: string | null = null;
  worker.on("error", (e) => (startError = e.message));
  const first = await new Promise<Reply>((resolve) => {
    port1.once("message", (m: Reply) => resolve(m));
    worker.once("error", (e) => resolve({ ok: false, error: e.message }));
    worker.once("exit", (code) => resolve({ ok: false, error: startError ?? `worker exited with code ${code}` }));
  });
  if (!first.ok) {
    await worker.terminate();
    throw new BackendError(first.error, name);
  }
  return new Connection(worker, port1, flag, wt.receiveMessageOnPort, (first.result as { adapter: InitReply["adapter"] }).adapter);
}

export class GpuHost {
  private closed = false;

  private constructor(
    readonly engine: EngineKind,
    private readonly conn: Bridge,
    private readonly session: number,
    private readonly timeoutMs: number,
    readonly init: InitReply,
  ) {}

  static async start(opts: HostOptions): Promise<GpuHost> {
    let conn: Bridge;
    try {
      connecting ??= connect(opts);
      conn = await connecting;
      if (conn.lastError) {
        connecting = connect(opts);
        conn = await connecting;
      }
    } catch (e) {
      connecting = null;
      if (e instanceof BackendError) throw new BackendError(e.message.replace(/^backend \w+: /, ""), opts.engine);
      throw e;
    }
    const timeoutMs = opts.timeoutMs ?? 600_000;
    const r = conn.call<{ session: number; detail: string }>("open", { engine: opts.engine }, [], opts.engine, timeoutMs);
    return new GpuHost(opts.engine, conn, r.session, timeoutMs, { detail: r.detail, adapter: conn.adapter });
  }

  /** Runs `op` in the worker and returns its result, blocking this thread until it arrives. */
  call<T>(op: string, args: unknown, transfer: ArrayBuffer[] = []): T {
    if (this.closed) throw new BackendError(`op ${op} after dispose()`, this.engine);
    return this.conn.call<T>(op, { session: this.session, args }, transfer, this.engine, this.timeoutMs);
  }

  dispose(): void {
    if (this.closed) return;
    try {
      this.call("close", null);
    } catch {
      // the worker is gone already
    }
    this.closed = true;
  }
}
