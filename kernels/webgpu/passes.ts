// One submission of compute passes and the read-back of their outputs, for the WGSL engine
// (engine.ts) and its S4 ops (s4.ts). Every shader reads its sizes and float parameters from
// binding 0 (`p`: u32 words, floats as bit patterns) and is dispatched as a 2-D grid of 64-thread
// workgroups (at most 65535 per dimension; the shader flattens it).

const WG = 64;
const MAXD = 65535;

export interface Pass<S extends string = string> {
  shader: S;
  params: number[];
  /** Indices of `p` words to store as float32 bit patterns. */
  floats?: number[];
  buffers: GPUBuffer[];
  /** Threads (or workgroups, for the per-workgroup shaders). */
  count: number;
  perWorkgroup?: boolean;
}

/** Records the passes (binding 0 = their params, then `buffers`) into one command encoder, copies
 *  `outs` ([buffer, floats]) to staging buffers, submits, waits and returns the outputs. The params
 *  and staging buffers it creates go to `temps`, for the caller to destroy. */
export async function runPasses<S extends string>(
  device: GPUDevice,
  pipeline: (shader: S) => GPUComputePipeline,
  passes: Pass<S>[],
  outs: [GPUBuffer, number][],
  temps: GPUBuffer[],
): Promise<Float32Array[]> {
  const enc = device.createCommandEncoder();
  for (const ps of passes) {
    if (ps.count === 0) continue;
    const words = new Uint32Array(Math.max(4, ps.params.length));
    const fv = new Float32Array(words.buffer);
    ps.params.forEach((v, i) => (ps.floats?.includes(i) ? (fv[i] = v) : (words[i] = v)));
    const pbuf = device.createBuffer({ size: Math.max(16, words.byteLength), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(pbuf, 0, words.buffer, words.byteOffset, words.byteLength);
    temps.push(pbuf);
    const pl = pipeline(ps.shader);
    const bind = device.createBindGroup({
      layout: pl.getBindGroupLayout(0),
      entries: [pbuf, ...ps.buffers].map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    const groups = ps.perWorkgroup ? ps.count : Math.ceil(ps.count / WG);
    const gx = Math.min(groups, MAXD);
    const gy = Math.ceil(groups / gx);
    if (gy > MAXD) throw new Error(`${ps.shader}: ${groups} workgroups exceed the dispatch limit`);
    const pass = enc.beginComputePass();
    pass.setPipeline(pl);
    pass.setBindGroup(0, bind);
    pass.dispatchWorkgroups(gx, gy);
    pass.end();
  }
  const staging = outs.map(([buf, n]) => {
    const st = device.createBuffer({ size: Math.max(16, n * 4), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    if (n) enc.copyBufferToBuffer(buf, 0, st, 0, n * 4);
    temps.push(st);
    return st;
  });
  device.queue.submit([enc.finish()]);
  const res: Float32Array[] = [];
  for (let i = 0; i < staging.length; i++) {
    const n = outs[i][1];
    await staging[i].mapAsync(GPUMapMode.READ);
    res.push(new Float32Array(staging[i].getMappedRange(0, Math.max(16, n * 4)).slice(0, n * 4)));
    staging[i].unmap();
  }
  return res;
}
