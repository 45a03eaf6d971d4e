// gatedDelta on the webgpu backend (worker side): one WGSL compute shader, float32.
// q, k: [T, H, K]; v: [T, H, V]; bg: [2, T, H] (beta, then g); state: [H, K, V] in/out; y: [T, H, V].
//
// One thread per (head h, value column j), looping over all T tokens. Column j of S evolves on its own:
//   a = S[:, j]·k_t,  b = S[:, j]·q_t  (before the decay),  u = β_t(v_t[j] − e^{g_t} a),
//   o_t[j] = scale·(e^{g_t} b + (k_t·q_t) u),  S[:, j] ← e^{g_t} S[:, j] + k_t u
// so a thread needs only its own K values of S and writes each o_t[j] as it goes: no chunked form,
// no inter-thread communication, H·V threads. Neighbouring threads read neighbouring columns, so the
// state reads of a workgroup coalesce. This is the step recurrence for every T (it computes the
// same function as the cpu reference's chunked form); a chunked form that also parallelises over
// tokens is the next step for long prefills on real GPUs (docs/mom.md).

const WG = 64;
const MAXD = 65535;

export const DELTA_RULE_SHADER = /* wgsl */ `
@group(0) @binding(0) var<storage, read> p: array<u32>;   // [T, H, K, V, scale (f32 bits)]
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> bg: array<f32>;
@group(0) @binding(5) var<storage, read_write> state: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let T = p[0]; let H = p[1]; let K = p[2]; let V = p[3]; let scale = bitcast<f32>(p[4]);
  let o = gid.x + gid.y * nw.x * ${WG}u;   // o = h * V + j
  if (o >= H * V) { return; }
  let h = o / V; let j = o % V;
  let s0 = h * K * V + j;                  // S[h, i, j] = state[s0 + i * V]
  for (var t = 0u; t < T; t++) {
    let th = t * H + h;
    let kb = th * K;
    var a = 0.0; var b = 0.0; var kq = 0.0;
    for (var i = 0u; i < K; i++) {
      let s = state[s0 + i * V];
      let ki = k[kb + i]; let qi = q[kb + i];
      a += s * ki; b += s * qi; kq += ki * qi;
    }
    let decay = exp(bg[T * H + th]);
    let u = bg[th] * (v[th * V + j] - decay * a);
    y[th * V + j] = scale * (decay * b + kq * u);
    for (var i = 0u; i < K; i++) {
      state[s0 + i * V] = decay * state[s0 + i * V] + k[kb + i] * u;
    }
  }
}`;

export interface GatedDeltaMessage {
  T: number; H: number; K: number; V: number; scale: number;
  q: Float32Array; k: Float32Array; v: Float32Array;
  /** [2, T, H]: beta then g. */
  bg: Float32Array;
  state: Float32Array;
}

type Op = (a: any) => Promise<{ result: unknown; transfer?: ArrayBuffer[] }>;

/** The worker-side op of the webgpu engine (kernels/webgpu/engine.ts registers it). The pipeline is
 *  compiled on first use, inside the worker's per-op error scopes (a WGSL error is a BackendError). */
export function wgslDeltaRuleOps(device: GPUDevice): Record<string, Op> {
  let pipeline: GPUComputePipeline | null = null;
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  return {
    async gatedDelta(a: GatedDeltaMessage) {
      const { T, H, K, V } = a;
      pipeline ??= device.createComputePipeline({ layout: "auto", compute: { module: device.createShaderModule({ code: DELTA_RULE_SHADER }), entryPoint: "main" } });
      const temps: GPUBuffer[] = [];
      const buffer = (data: Float32Array | Uint32Array | null, bytes: number, u = usage) => {
        const b = device.createBuffer({ size: Math.max(16, Math.ceil(bytes / 4) * 4), usage: u });
        if (data && data.byteLength) device.queue.writeBuffer(b, 0, data.buffer, data.byteOffset, data.byteLength);
        temps.push(b);
        return b;
      };
      try {
        const params = new Uint32Array([T, H, K, V, 0]);
        new Float32Array(params.buffer)[4] = a.scale;
        const ny = T * H * V, ns = H * K * V;
        const state = buffer(a.state, ns * 4);
        const y = buffer(null, ny * 4);
        const bind = device.createBindGroup({
          layout: pipeline.getBindGroupLayout(0),
          entries: [buffer(params, params.byteLength), buffer(a.q, a.q.byteLength), buffer(a.k, a.k.byteLength), buffer(a.v, a.v.byteLength), buffer(a.bg, a.bg.byteLength), state, y]
            .map((b, binding) => ({ binding, resource: { buffer: b } })),
        });
        const groups = Math.ceil((H * V) / WG);
        const gx = Math.min(groups, MAXD);
        const gy = Math.ceil(groups / gx);
        if (gy > MAXD) throw new Error(`gatedDelta: ${groups} workgroups exceed the dispatch limit`);
        const enc = device.createCommandEncoder();
        const pass = enc.beginComputePass();
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, bind);
        pass.dispatchWorkgroups(gx, gy);
        pass.end();
        const read = GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST;
        const sy = buffer(null, ny * 4, read), ss = buffer(null, ns * 4, read);
        enc.copyBufferToBuffer(y, 0, sy, 0, ny * 4);
        enc.copyBufferToBuffer(state, 0, ss, 0, ns * 4);
        device.queue.submit([enc.finish()]);
        const back = async (b: GPUBuffer, n: number) => {
          await b.mapAsync(GPUMapMode.READ);
          const r = new Float32Array(b.getMappedRange(0, n * 4).slice(0));
          b.unmap();
          return r;
        };
        const yo = await back(sy, ny);
        const so = await back(ss, ns);
        return { result: { y: yo, state: so }, transfer: [yo.buffer as ArrayBuffer, so.buffer as ArrayBuffer] };
      } finally {
        for (const b of temps) b.destroy();
      }
    },
  };
}
