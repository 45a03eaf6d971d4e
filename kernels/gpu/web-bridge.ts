// Synchronous calls into the GPU worker in a browser (host.ts is the Node version). The caller, the
// runtime's own Web Worker, posts an op to the GPU worker and sleeps in Atomics.wait on a shared
// flag; it cannot receive the reply as a message (its event loop is blocked, and browsers have no
// receiveMessageOnPort), so the GPU worker writes the reply into a growable SharedArrayBuffer:
//
//   [u32 json bytes][u32 arrays] then per array [u32 kind][u32 offset][u32 bytes], the JSON of the
//   reply with each typed array replaced by {"\u0000a": index}, then the arrays (8-byte aligned).
//
// Needs cross-origin isolation (SharedArrayBuffer) and a dedicated worker (Atomics.wait).
import { BackendError } from "../../core/errors.ts";
import type { Adapter, Reply } from "./serve.ts";

const KINDS = [Float32Array, Uint32Array, Int32Array, Uint8Array, Float64Array] as const;
type Typed = InstanceType<(typeof KINDS)[number]>;
const MARK = "\u0000a";
/** Replies grow the buffer up to this (the largest activation or state an op returns). */
const MAX_REPLY = 1 << 30;

/** A growable SharedArrayBuffer (ES2024; every browser with WebGPU has it). */
export function replyBuffer(): SharedArrayBuffer {
  return new (SharedArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => SharedArrayBuffer)(1 << 16, { maxByteLength: MAX_REPLY });
}

/** Writes `value` into `sab` (growing it as needed). */
export function writeReply(sab: SharedArrayBuffer, value: unknown): void {
  const arrays: Typed[] = [];
  const json = new TextEncoder().encode(
    JSON.stringify(value, (_k, v) => {
      if (ArrayBuffer.isView(v) && KINDS.some((K) => v instanceof K)) {
        arrays.push(v as Typed);
        return { [MARK]: arrays.length - 1 };
      }
      return v;
    }) ?? "null",
  );
  const head = 8 + 12 * arrays.length;
  let at = (head + json.length + 7) & ~7;
  const places = arrays.map((a) => {
    const p = at;
    at = (at + a.byteLength + 7) & ~7;
    return p;
  });
  const g = sab as unknown as { byteLength: number; grow(n: number): void };
  if (g.byteLength < at) {
    if (at > MAX_REPLY) throw new Error(`reply of ${at} bytes exceeds ${MAX_REPLY}`);
    g.grow(at);
  }
  const u32 = new Uint32Array(sab, 0, head / 4);
  u32[0] = json.length;
  u32[1] = arrays.length;
  const bytes = new Uint8Array(sab);
  arrays.forEach((a, i) => {
    u32[2 + 3 * i] = KINDS.findIndex((K) => a instanceof K);
    u32[3 + 3 * i] = places[i];
    u32[4 + 3 * i] = a.byteLength;
    bytes.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), places[i]);
  });
  bytes.set(json, head);
}

/** Reads what writeReply wrote (copies out of the shared buffer). */
export function readReply(sab: SharedArrayBuffer): unknown {
  const u32 = new Uint32Array(sab, 0, 2);
  const [jsonBytes, n] = [u32[0], u32[1]];
  const meta = new Uint32Array(sab, 8, 3 * n);
  const head = 8 + 12 * n;
  // slice() copies into an ordinary ArrayBuffer: TextDecoder refuses shared memory
  const text = new TextDecoder().decode(new Uint8Array(sab, head, jsonBytes).slice());
  const arrays = Array.from({ length: n }, (_, i) => {
    const K = KINDS[meta[3 * i]];
    const copy = new Uint8Array(sab, meta[3 * i + 1], meta[3 * i + 2]).slice();
    return new K(copy.buffer, 0, copy.byteLength / K.BYTES_PER_ELEMENT);
  });
  return JSON.parse(text, (_k, v) => (v !== null && typeof v === "object" && MARK in v ? arrays[v[MARK]] : v));
}

/** The host side of one GPU worker in a browser; same contract as host.ts's Node connection. */
export class WebBridge {
  lastError: string | null = null;

  private constructor(
    private readonly worker: Worker,
    private readonly flag: Int32Array,
    private readonly sab: SharedArrayBuffer,
    readonly adapter: Adapter,
  ) {
    worker.addEventListener("error", (e) => (this.lastError ??= e.message || "the GPU worker failed"));
  }

  /** Starts the GPU worker (dist/browser/gpu-worker.js, next to the library bundle) and its device. */
  static async start(name: string, workerUrl?: string | URL): Promise<WebBridge> {
    if (typeof SharedArrayBuffer === "undefined" || (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === false)
      throw new BackendError("needs SharedArrayBuffer: serve the page cross-origin isolated (COOP: same-origin, COEP: require-corp)", name);
    if (typeof (globalThis as { document?: unknown }).document !== "undefined")
      throw new BackendError("blocks in Atomics.wait, which a page's main thread may not: run scanstream in a dedicated Web Worker", name);
    let worker: Worker;
    try {
      worker = new Worker(workerUrl ?? new URL("./gpu-worker.js", import.meta.url), { type: "module" });
    } catch (e) {
      throw new BackendError(`cannot start the GPU worker (${(e as Error).message})`, name);
    }
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const sab = replyBuffer();
    const first = await new Promise<Reply>((resolve) => {
      worker.onmessage = (e: MessageEvent<Reply>) => resolve(e.data);
      worker.onerror = (e) => resolve({ ok: false, error: e.message || "the GPU worker failed to load" });
      worker.postMessage({ flag, sab });
    });
    worker.onmessage = worker.onerror = null;
    if (!first.ok) {
      worker.terminate();
      throw new BackendError(first.error, name);
    }
    return new WebBridge(worker, flag, sab, (first.result as { adapter: Adapter }).adapter);
  }

  call<T>(op: string, args: unknown, transfer: ArrayBuffer[], name: string, timeoutMs: number): T {
    if (this.lastError) throw new BackendError(`the GPU worker is gone (${this.lastError})`, name);
    Atomics.store(this.flag, 0, 0);
    this.worker.postMessage({ op, args }, transfer);
    const deadline = Date.now() + timeoutMs;
    while (Atomics.load(this.flag, 0) === 0) {
      const left = deadline - Date.now();
      if (left <= 0) {
        this.lastError = `no reply to ${op} within ${timeoutMs} ms`;
        this.worker.terminate();
        throw new BackendError(this.lastError, name);
      }
      Atomics.wait(this.flag, 0, 0, Math.min(left, 1000));
    }
    const r = readReply(this.sab) as Reply;
    if (!r.ok) throw new BackendError(`${op} failed on the GPU: ${r.error}`, name);
    return r.result as T;
  }
}
