// The calling-thread side shared by the gpu (gpu.js) and webgpu (WGSL) backends: every Backend op is
// one synchronous call into the GPU worker (host.ts). Weights are uploaded once by matrix() and stay
// resident in GPU buffers (rounded to their dtype's values, stored as float32); activations and the
// recurrent state travel per op (see docs/gpu.md for the resident-state / batched-decode design).
import { BackendError } from "../../core/errors.ts";
import type { Backend, Matrix, WeightDType } from "../backend.ts";
import { roundWeights } from "../quant.ts";
import { hostDeltaRule } from "./delta-rule.ts";
import { GpuHost, type HostOptions } from "./host.ts";

interface GpuMatrix extends Matrix {
  id: number;
  owner: object;
}

export interface GpuBackend extends Backend {
  readonly name: "gpu" | "webgpu";
  /** The adapter the worker's device runs on (vendor, architecture, description). */
  readonly adapter: { vendor: string; architecture: string; device: string; description: string };
  /** Frees one matrix's GPU buffer now. */
  release(m: Matrix): void;
  /** The worker-side id of a matrix of this backend (for engine-specific ops that read it). */
  matrixId(m: Matrix): number;
  /** Runs an engine-specific op in the worker (resident-state decode, test hooks: kernels/webgpu). */
  call<T>(op: string, args: unknown, transfer?: ArrayBuffer[]): T;
}

const f32 = (a: Float32Array) => a.slice(); // a copy the worker may own (the caller's array stays intact)

export async function createHostBackend(opts: HostOptions): Promise<GpuBackend> {
  const host = await GpuHost.start(opts);
  const name = opts.engine;
  const owner = {};
  const matrices = new Set<GpuMatrix>();
  const asMatrix = (m: Matrix): GpuMatrix => {
    const g = m as GpuMatrix;
    if (g.owner !== owner || !matrices.has(g)) throw new BackendError("matrix was not uploaded by this backend (or was released)", name);
    return g;
  };
  const put = (out: Float32Array | undefined, r: Float32Array, what: string): Float32Array => {
    if (!out) return r;
    if (out.length < r.length) throw new BackendError(`${what}: out has ${out.length} values, needs ${r.length}`, name);
    out.set(r);
    return out;
  };

  const backend: GpuBackend = {
    name,
    adapter: host.init.adapter,
    get detail(): string {
      const dts = [...new Set([...matrices].map((m) => m.dtype))].sort();
      return host.init.detail + (dts.length ? `, ${dts.join("+")} weights held as float32` : "");
    },
    matrix(w: Float32Array, rows: number, cols: number, dtype: WeightDType = "f32"): Matrix {
      if (w.length !== rows * cols) throw new RangeError(`matrix: ${w.length} values for [${rows}, ${cols}]`);
      const data = roundWeights(w, rows, cols, dtype);
      const id = host.call<number>("matrix", { data, rows, cols }, [data.buffer as ArrayBuffer]);
      const m: GpuMatrix = { rows, cols, dtype, id, owner };
      matrices.add(m);
      return m;
    },
    release(m: Matrix): void {
      const g = asMatrix(m);
      host.call("release", { id: g.id });
      matrices.delete(g);
    },
    matrixId: (m) => asMatrix(m).id,
    call: (op, args, transfer) => host.call(op, args, transfer),
    matmul(x, T, w, out) {
      const m = asMatrix(w);
      if (T === 0) return out ?? new Float32Array(0);
      const xs = f32(x.subarray(0, T * m.cols));
      return put(out, host.call<Float32Array>("matmul", { x: xs, T, id: m.id }, [xs.buffer as ArrayBuffer]), "matmul");
    },
    embed(ids, w, out) {
      const m = asMatrix(w);
      const u = new Uint32Array(ids.length);
      for (let t = 0; t < ids.length; t++) {
        const id = ids[t];
        if (!Number.isInteger(id) || id < 0 || id >= m.rows) throw new RangeError(`token id ${id} outside the embedding's ${m.rows} rows`);
        u[t] = id;
      }
      if (u.length === 0) return out ?? new Float32Array(0);
      return put(out, host.call<Float32Array>("embed", { ids: u, id: m.id }, [u.buffer as ArrayBuffer]), "embed");
    },
    rmsnorm(x, T, D, weight, eps, out) {
      if (T === 0) return out ?? new Float32Array(0);
      const xs = f32(x.subarray(0, T * D));
      return put(out, host.call<Float32Array>("rmsnorm", { x: xs, T, D, w: f32(weight), eps }, [xs.buffer as ArrayBuffer]), "rmsnorm");
    },
    gatedRmsnorm(y, z, T, D, gs, weight, eps, nbg, out) {
      if (T === 0) return out ?? new Float32Array(0);
      if (D % gs !== 0) throw new BackendError(`gatedRmsnorm: D = ${D} is not a multiple of groupSize ${gs}`, name);
      return put(out, host.call<Float32Array>("gatedRmsnorm", { y: f32(y.subarray(0, T * D)), z: f32(z.subarray(0, T * D)), T, D, gs, w: f32(weight), eps, nbg }), "gatedRmsnorm");
    },
    conv1d(x, T, C, K, weight, bias, window, out) {
      if (T === 0) return out ?? new Float32Array(0);
      const W = K - 1;
      const r = host.call<Float32Array>("conv1d", { x: f32(x.subarray(0, T * C)), T, C, K, w: f32(weight), bias: bias && f32(bias), win: f32(window) });
      // the carried window = the last K-1 inputs of [window | x] (data movement, done here)
      const next = new Float32Array(C * W);
      for (let c = 0; c < C; c++)
        for (let j = 0; j < W; j++) {
          const s = T - W + j;
          next[c * W + j] = s >= 0 ? x[s * C + c] : window[c * W + W + s];
        }
      window.set(next);
      return put(out, r, "conv1d");
    },
    ssdScan(a) {
      const { T, H, P, G, N } = a;
      if (H % G !== 0) throw new BackendError(`ssdScan: nheads ${H} is not a multiple of ngroups ${G}`, name);
      if (T === 0) return a.out ?? new Float32Array(0);
      const r = host.call<{ y: Float32Array; state: Float32Array }>("ssdScan", {
        T, H, P, G, N, Q: a.chunkSize,
        x: f32(a.x.subarray(0, T * H * P)), dt: f32(a.dt.subarray(0, T * H)), A: f32(a.A), D: f32(a.D),
        B: f32(a.B.subarray(0, T * G * N)), C: f32(a.C.subarray(0, T * G * N)), state: f32(a.state),
      });
      a.state.set(r.state);
      return put(a.out, r.y, "ssdScan");
    },
    selectiveScan(a) {
      const { T, D, N } = a;
      if (T === 0) return a.out ?? new Float32Array(0);
      const r = host.call<{ y: Float32Array; state: Float32Array }>("selectiveScan", {
        T, D, N, x: f32(a.x.subarray(0, T * D)), dt: f32(a.dt.subarray(0, T * D)), A: f32(a.A), Dskip: f32(a.Dskip),
        B: f32(a.B.subarray(0, T * N)), C: f32(a.C.subarray(0, T * N)), state: f32(a.state),
      });
      a.state.set(r.state);
      return put(a.out, r.y, "selectiveScan");
    },
    dtSoftplus(dt, T, H, bias, lo, hi) {
      if (T === 0) return dt;
      dt.set(host.call<Float32Array>("dtSoftplus", { dt: f32(dt.subarray(0, T * H)), T, H, bias: f32(bias), lo, hi }));
      return dt;
    },
    siluGate(y, z) {
      if (y.length === 0) return y;
      y.set(host.call<Float32Array>("siluGate", { y: f32(y), z: f32(z.subarray(0, y.length)) }));
      return y;
    },
    add(a, b) {
      if (a.length === 0) return a;
      a.set(host.call<Float32Array>("add", { a: f32(a), b: f32(b.subarray(0, a.length)) }));
      return a;
    },
    deltaRule: hostDeltaRule((op, args, transfer) => host.call(op, args, transfer), name),
    dispose(): void {
      matrices.clear();
      host.dispose();
    },
  };
  return backend;
}
