// Activation buffers a model reuses from call to call, so that a decode step allocates no arrays
// (and, on the wasm backend's shared-memory build, the buffers live in wasm memory, so ops neither
// copy them in nor out; the single-threaded build without SharedArrayBuffer still copies).
import type { Backend } from "../../kernels/backend.ts";
import { stateArray } from "./model.ts";

export class Scratch {
  private readonly bufs = new Map<string, { buf: Float32Array; view: Float32Array }>();
  constructor(private readonly backend: Backend) {}

  /**
   * n floats for `key`: the same array for the same key and length, grown when n is larger. Its
   * contents hold until the next get of that key, so a key names one use inside one forward call
   * (layers run one after another and may share keys).
   */
  get(key: string, n: number): Float32Array {
    let e = this.bufs.get(key);
    if (!e || e.buf.length < n) {
      const buf = stateArray(this.backend, n);
      e = { buf, view: buf };
      this.bufs.set(key, e);
    }
    if (e.view.length !== n) e.view = e.buf.subarray(0, n);
    return e.view;
  }
}
