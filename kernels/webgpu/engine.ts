// Worker side of the webgpu backend: resident weight buffers and the WGSL shaders of shaders.ts.
// Each op uploads its activations, records its passes into one command encoder, submits once and
// reads the outputs back (activations round-trip per op; docs/gpu.md gives the resident design).
import type { Adapter, Engine } from "../gpu/worker.ts";
import { SHADERS, matmulDispatch, type ShaderName } from "./shaders.ts";
import { createFaults, type FaultSpec } from "./faults.ts";
import { createMamba2Decode } from "./mamba2-decode.ts";
import { wgslDeltaRuleOps } from "./delta-rule.ts";
import { wgslS4Ops } from "./s4.ts";
import { runPasses, type Pass } from "./passes.ts";

const S = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

export async function createWgslEngine(device: GPUDevice, info: Adapter): Promise<{ engine: Engine; detail: string }> {
  const pipelines = new Map<ShaderName, GPUComputePipeline>();
  const pipeline = (name: ShaderName): GPUComputePipeline => {
    let pl = pipelines.get(name);
    if (!pl) {
      const module = device.createShaderModule({ code: SHADERS[name] });
      pl = device.createComputePipeline({ layout: "auto", compute: { module, entryPoint: "main" } });
      pipelines.set(name, pl);
    }
    return pl;
  };
  // compile every shader now so that a WGSL error is a start-up failure
  device.pushErrorScope("validation");
  for (const name of Object.keys(SHADERS) as ShaderName[]) pipeline(name);
  const err = await device.popErrorScope();
  if (err) throw new Error(`WGSL compilation failed: ${err.message}`);

  const matrices = new Map<number, { buf: GPUBuffer; rows: number; cols: number }>();
  let nextId = 1;

  const upload = (a: Float32Array | Uint32Array, temps: GPUBuffer[]): GPUBuffer => {
    const buf = device.createBuffer({ size: Math.max(16, Math.ceil(a.byteLength / 4) * 4), usage: S });
    if (a.byteLength) device.queue.writeBuffer(buf, 0, a.buffer, a.byteOffset, a.byteLength);
    temps.push(buf);
    return buf;
  };
  const scratch = (floats: number, temps: GPUBuffer[]): GPUBuffer => {
    const buf = device.createBuffer({ size: Math.max(16, floats * 4), usage: S });
    temps.push(buf);
    return buf;
  };

  /** Runs the passes (passes.ts runPasses), then destroys `temps`. */
  async function run(passes: Pass<ShaderName>[], outs: [GPUBuffer, number][], temps: GPUBuffer[]): Promise<Float32Array[]> {
    const res = await runPasses(device, pipeline, passes, outs, temps);
    for (const b of temps) b.destroy();
    return res;
  }

  const mat = (id: number) => {
    const m = matrices.get(id);
    if (!m) throw new Error(`matrix ${id} is not resident (released or from another backend)`);
    return m;
  };
  // batched Mamba-2 decode with resident state (mamba2-decode.ts), on the matrices above
  const m2 = createMamba2Decode(device, (id) => mat(id).buf);

  const ops: Record<string, (a: any) => Promise<{ result: unknown; transfer?: ArrayBuffer[] }> | { result: unknown }> = {
    ...m2.ops,
    ...wgslDeltaRuleOps(device),
    ...wgslS4Ops(device),
    matrix(a: { data: Float32Array; rows: number; cols: number }) {
      const buf = device.createBuffer({ size: Math.max(16, a.data.byteLength), usage: S });
      device.queue.writeBuffer(buf, 0, a.data.buffer, a.data.byteOffset, a.data.byteLength);
      const id = nextId++;
      matrices.set(id, { buf, rows: a.rows, cols: a.cols });
      return { result: id };
    },
    release(a: { id: number }) {
      matrices.get(a.id)?.buf.destroy();
      matrices.delete(a.id);
      return { result: null };
    },
    async matmul(a: { x: Float32Array; T: number; id: number }) {
      const m = mat(a.id);
      const t: GPUBuffer[] = [];
      const y = scratch(a.T * m.rows, t);
      const [out] = await run([{ ...matmulDispatch(a.T, m.rows), params: [a.T, m.rows, m.cols], buffers: [upload(a.x, t), m.buf, y] }], [[y, a.T * m.rows]], t);
      return { result: out, transfer: [out.buffer as ArrayBuffer] };
    },
    /** Device bench (bench/gpu-device.ts): the per-output and the tiled matmul shader on resident
     *  matrix `id`, each as `reps` dispatches in one pass, timed from submit to onSubmittedWorkDone
     *  after one warm-up (no timestamp queries: the submit latency is in it, so reps should make a
     *  set run for milliseconds). Returns ms per dispatch and the largest |Δ| between the outputs. */
    async benchMatmul(a: { x: Float32Array; T: number; id: number; reps: number }) {
      const m = mat(a.id);
      const t: GPUBuffer[] = [];
      const x = upload(a.x, t);
      const ms: number[] = [];
      const outs: Float32Array[] = [];
      for (const tiled of [false, true]) {
        const y = scratch(a.T * m.rows, t);
        const d = matmulDispatch(a.T, m.rows, tiled);
        const pass: Pass<ShaderName> = { ...d, params: [a.T, m.rows, m.cols], buffers: [x, m.buf, y] };
        outs.push((await runPasses(device, pipeline, [pass], [[y, a.T * m.rows]], t))[0]);
        const params = upload(new Uint32Array([a.T, m.rows, m.cols, 0]), t);
        const pl = pipeline(d.shader);
        const bind = device.createBindGroup({ layout: pl.getBindGroupLayout(0), entries: [params, x, m.buf, y].map((buffer, binding) => ({ binding, resource: { buffer } })) });
        const groups = d.perWorkgroup ? d.count : Math.ceil(d.count / 64);   // as passes.ts dispatches
        const gx = Math.min(groups, 65535);
        const enc = device.createCommandEncoder();
        const cp = enc.beginComputePass();
        cp.setPipeline(pl);
        cp.setBindGroup(0, bind);
        for (let r = 0; r < a.reps; r++) cp.dispatchWorkgroups(gx, Math.ceil(groups / gx));
        cp.end();
        const cmd = enc.finish();
        await device.queue.onSubmittedWorkDone();
        const t0 = performance.now();
        device.queue.submit([cmd]);
        await device.queue.onSubmittedWorkDone();
        ms.push((performance.now() - t0) / a.reps);
      }
      let diff = 0;
      for (let i = 0; i < outs[0].length; i++) diff = Math.max(diff, Math.abs(outs[0][i] - outs[1][i]));
      for (const b of t) b.destroy();
      return { result: { perOutputMs: ms[0], tiledMs: ms[1], maxDiff: diff } };
    },
    async embed(a: { ids: Uint32Array; id: number }) {
      const m = mat(a.id);
      const t: GPUBuffer[] = [];
      const n = a.ids.length * m.cols;
      const out = scratch(n, t);
      const [r] = await run([{ shader: "embed", params: [n, m.cols], buffers: [upload(a.ids, t), m.buf, out], count: n }], [[out, n]], t);
      return { result: r, transfer: [r.buffer as ArrayBuffer] };
    },
    async rmsnorm(a: { x: Float32Array; T: number; D: number; w: Float32Array; eps: number }) {
      const t: GPUBuffer[] = [];
      const out = scratch(a.T * a.D, t);
      const [r] = await run([{ shader: "rmsnorm", params: [a.T, a.D, a.eps], floats: [2], buffers: [upload(a.x, t), upload(a.w, t), out], count: a.T, perWorkgroup: true }], [[out, a.T * a.D]], t);
      return { result: r, transfer: [r.buffer as ArrayBuffer] };
    },
    async gatedRmsnorm(a: { y: Float32Array; z: Float32Array; T: number; D: number; gs: number; w: Float32Array; eps: number; nbg: boolean }) {
      const t: GPUBuffer[] = [];
      const out = scratch(a.T * a.D, t);
      const [r] = await run(
        [{ shader: "gatedRmsnorm", params: [a.T, a.D, a.gs, a.eps, a.nbg ? 1 : 0], floats: [3], buffers: [upload(a.y, t), upload(a.z, t), upload(a.w, t), out], count: (a.T * a.D) / a.gs, perWorkgroup: true }],
        [[out, a.T * a.D]], t,
      );
      return { result: r, transfer: [r.buffer as ArrayBuffer] };
    },
    async conv1d(a: { x: Float32Array; T: number; C: number; K: number; w: Float32Array; bias: Float32Array | null; win: Float32Array }) {
      const t: GPUBuffer[] = [];
      const out = scratch(a.T * a.C, t);
      const bias = a.bias ?? new Float32Array(1);
      const [r] = await run(
        [{ shader: "conv1d", params: [a.T, a.C, a.K, a.bias ? 1 : 0, 0, a.C, 0], buffers: [upload(a.x, t), upload(a.win, t), upload(a.w, t), upload(bias, t), out], count: a.T * a.C }],
        [[out, a.T * a.C]], t,
      );
      return { result: r, transfer: [r.buffer as ArrayBuffer] };
    },
    async ssdScan(a: { T: number; H: number; P: number; G: number; N: number; x: Float32Array; dt: Float32Array; A: Float32Array; B: Float32Array; C: Float32Array; D: Float32Array; state: Float32Array; Q: number }) {
      const { T, H, P, G, N } = a;
      const t: GPUBuffer[] = [];
      const HPN = H * P * N;
      const state = upload(a.state, t);
      const y = scratch(T * H * P, t);
      const [x, dt, B, C] = [a.x, a.dt, a.B, a.C].map((v) => upload(v, t));
      const fl = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);
      let passes: Pass<ShaderName>[];
      if (T === 1) {
        passes = [{ shader: "ssdStep", params: [H, P, G, N, ...a.A, ...a.D], floats: fl(4, 2 * H), buffers: [x, dt, B, C, state, y], count: H * P, perWorkgroup: true }];
      } else {
        const Q = Math.min(a.Q, T);
        const nc = Math.ceil(T / Q);
        const Acs = scratch(H * T, t);
        const CB = scratch(G * T * Q, t);
        const Sc = scratch(nc * HPN, t);
        const Hin = scratch(nc * HPN, t);
        passes = [
          { shader: "ssdCumsum", params: [T, H, Q, ...a.A], floats: fl(3, H), buffers: [dt, Acs], count: H * nc },
          { shader: "ssdCB", params: [T, G, N, Q], buffers: [B, C, CB], count: G * T * Q },
          { shader: "ssdChunkState", params: [T, H, P, G, N, Q], buffers: [x, dt, Acs, B, Sc], count: nc * HPN },
          { shader: "ssdPass", params: [T, H, P, N, Q, 0], buffers: [Acs, Sc, Hin, state], count: HPN },
          { shader: "ssdOut", params: [T, H, P, G, N, Q, ...a.D], floats: fl(6, H), buffers: [x, dt, Acs, CB, Hin, C, y], count: T * H * P },
        ];
      }
      const [yo, so] = await run(passes, [[y, T * H * P], [state, HPN]], t);
      return { result: { y: yo, state: so }, transfer: [yo.buffer as ArrayBuffer, so.buffer as ArrayBuffer] };
    },
    async selectiveScan(a: { T: number; D: number; N: number; x: Float32Array; dt: Float32Array; A: Float32Array; B: Float32Array; C: Float32Array; Dskip: Float32Array; state: Float32Array }) {
      const { T, D, N } = a;
      const t: GPUBuffer[] = [];
      const state = upload(a.state, t);
      const y = scratch(T * D, t);
      const [yo, so] = await run(
        [{ shader: "selectiveScan", params: [T, D, N, ...a.Dskip], floats: Array.from({ length: D }, (_, i) => 3 + i), buffers: [upload(a.x, t), upload(a.dt, t), upload(a.A, t), upload(a.B, t), upload(a.C, t), state, y], count: D }],
        [[y, T * D], [state, D * N]], t,
      );
      return { result: { y: yo, state: so }, transfer: [yo.buffer as ArrayBuffer, so.buffer as ArrayBuffer] };
    },
    async dtSoftplus(a: { dt: Float32Array; T: number; H: number; bias: Float32Array; lo: number; hi: number }) {
      const t: GPUBuffer[] = [];
      const dt = upload(a.dt, t);
      const [r] = await run([{ shader: "dtSoftplus", params: [a.T, a.H, a.lo, a.hi], floats: [2, 3], buffers: [dt, upload(a.bias, t)], count: a.T * a.H }], [[dt, a.T * a.H]], t);
      return { result: r, transfer: [r.buffer as ArrayBuffer] };
    },
    async siluGate(a: { y: Float32Array; z: Float32Array }) {
      const t: GPUBuffer[] = [];
      const y = upload(a.y, t);
      const [r] = await run([{ shader: "siluGate", params: [a.y.length], buffers: [y, upload(a.z, t)], count: a.y.length }], [[y, a.y.length]], t);
      return { result: r, transfer: [r.buffer as ArrayBuffer] };
    },
    async add(a: { a: Float32Array; b: Float32Array }) {
      const t: GPUBuffer[] = [];
      const x = upload(a.a, t);
      const [r] = await run([{ shader: "add", params: [a.a.length], buffers: [x, upload(a.b, t)], count: a.a.length }], [[x, a.a.length]], t);
      return { result: r, transfer: [r.buffer as ArrayBuffer] };
    },
  };

  const faults = createFaults();
  const engine: Engine = {
    run(op, args) {
      if (op === "injectFault") {
        faults.arm(args as FaultSpec);
        return { result: null };
      }
      faults.check(op);
      const f = ops[op];
      if (!f) throw new Error(`unknown op ${op}`);
      return f(args);
    },
    close() {
      m2.close();
      for (const m of matrices.values()) m.buf.destroy();
      matrices.clear();
    },
  };
  return { engine, detail: `WGSL compute shaders (webgpu via Dawn) on ${describe(info)}` };
}

export function describe(i: Adapter): string {
  return [i.vendor, i.architecture, i.description || i.device].filter(Boolean).join(" ");
}
