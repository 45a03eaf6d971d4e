// Batched Mamba-2 decode with resident state (worker side of the webgpu backend; the host side is
// mamba2-batch.ts). The conv windows and SSM states of S sessions ("slots") live in GPU buffers;
// one decode step of B <= S of them (any slots, in any order) is recorded into ONE command buffer:
// embedding, every layer (norm, the five in_proj blocks, conv step, dt, SSD step, gated norm,
// out_proj, residual add), norm_f and lm_head, then one copy of the logits [B, V] to a staging
// buffer, one submit, one mapAsync. Only B token ids and B slot indices go up; B logit rows come down.
// The big matrices are the model's own resident buffers (by matrix id); nothing is uploaded twice.
// m2Prefill feeds a prompt to one slot the same way: every layer of a block (chunked SSD, the conv
// over the block from the slot's window) in one command buffer, only the last logits read back.
//
// Shape letters: B sessions in the step, S slots, d d_model, E d_inner, H nheads, P headdim,
// G ngroups, N d_state, K d_conv, Cv = E + 2·G·N, V vocab rows.
//   state per layer: conv [S, Cv, K-1] (oldest first), ssm [S, H, P, N]
import { SHADERS, matmulDispatch } from "./shaders.ts";

const WG = 64;
const MAXD = 65535;
const S_USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

const HEAD = /* wgsl */ `
@group(0) @binding(0) var<storage, read> p: array<u32>;
fn pf(i: u32) -> f32 { return bitcast<f32>(p[i]); }
fn flat(g: vec3u, n: vec3u, wg: u32) -> u32 { return g.x + g.y * n.x * wg; }
fn silu(v: f32) -> f32 { return v / (1.0 + exp(-v)); }
`;

/** The shaders the batched step and the resident prefill add: the others are the per-op shaders of shaders.ts. */
export const DECODE_SHADERS = {
  // Unit (head) L2 norms of states for the long-context telemetry, into out [positions, L, H] at
  // position base[0] + c - 1. p: [H, PN, nc, layer, L, fromState, s0]. fromState 0: the states
  // entering chunks c = 1 .. nc-1 of a block (Hin [nc, H, PN]); 1: the slot's state at the block's
  // end (c = nc; src = the pool's state buffer at float offset s0). One thread per (c, h).
  headNorms: HEAD + /* wgsl */ `
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> base: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let H = p[0]; let PN = p[1]; let nc = p[2]; let layer = p[3]; let L = p[4];
  let i = flat(g, nw, 64u);
  var c: u32; var o: u32;
  if (p[5] == 0u) {
    if (i >= (nc - 1u) * H) { return; }
    c = 1u + i / H; o = (c * H + i % H) * PN;
  } else {
    if (i >= H) { return; }
    c = nc; o = p[6] + i * PN;
  }
  var ss = 0.0;
  for (var k = 0u; k < PN; k++) { let v = src[o + k]; ss += v * v; }
  out[((base[0] + c - 1u) * L + layer) * H + i % H] = sqrt(ss);
}`,

  // p: [T, C, K, c0, Cv, slot]; x: [T, C]; win: [S, Cv, K-1] in/out: the slot's window becomes the
  // last K-1 inputs of (window, x). A pass of its own, after conv1d has read the old window.
  convShift: HEAD + /* wgsl */ `
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> win: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let T = p[0]; let C = p[1]; let W = p[2] - 1u; let Cv = p[4];
  let cl = flat(g, nw, 64u);
  if (cl >= C) { return; }
  let base = (p[5] * Cv + p[3] + cl) * W;
  // ascending k reads index T + k > k of (window, x) before anything at or after it is written
  for (var k = 0u; k < W; k++) {
    let j = T + k;
    if (j < W) { win[base + k] = win[base + j]; } else { win[base + k] = x[(j - W) * C + cl]; }
  }
}`,

  // p: [B, C, K, hasBias, c0, Cv]; x: [B, C] (channels c0 .. c0+C of the conv input); slots: [B];
  // win: [S, Cv, K-1] in/out; w: [Cv, K] (tap K-1 = newest); bias: [Cv]; out: [B, C] = silu(conv)
  convStep: HEAD + /* wgsl */ `
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> slots: array<u32>;
@group(0) @binding(3) var<storage, read_write> win: array<f32>;
@group(0) @binding(4) var<storage, read> w: array<f32>;
@group(0) @binding(5) var<storage, read> bias: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let B = p[0]; let C = p[1]; let K = p[2]; let c0 = p[4]; let Cv = p[5];
  let i = flat(g, nw, 64u);
  if (i >= B * C) { return; }
  let b = i / C; let ch = c0 + i % C; let W = K - 1u;
  let base = (slots[b] * Cv + ch) * W;
  var s = 0.0;
  if (p[3] != 0u) { s = bias[ch]; }
  for (var k = 0u; k < W; k++) { s += w[ch * K + k] * win[base + k]; }
  let xv = x[i];
  s += w[ch * K + W] * xv;
  for (var k = 0u; k + 1u < W; k++) { win[base + k] = win[base + k + 1u]; }
  if (W > 0u) { win[base + W - 1u] = xv; }
  out[i] = silu(s);
}`,

  // p: [B, H, P, G, N, A[H] (f32), D[H] (f32)]; x: [B, H, P]; dt: [B, H]; Bm, Cm: [B, G, N]; slots: [B];
  // state: [S, H, P, N] in/out; y: [B, H, P]. One workgroup per (b, h, p), lanes over n.
  ssdStepBatch: HEAD + /* wgsl */ `
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dt: array<f32>;
@group(0) @binding(3) var<storage, read> Bm: array<f32>;
@group(0) @binding(4) var<storage, read> Cm: array<f32>;
@group(0) @binding(5) var<storage, read> slots: array<u32>;
@group(0) @binding(6) var<storage, read_write> state: array<f32>;
@group(0) @binding(7) var<storage, read_write> y: array<f32>;
var<workgroup> red: array<f32, 64>;
@compute @workgroup_size(64) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nw: vec3u, @builtin(local_invocation_index) l: u32) {
  let B = p[0]; let H = p[1]; let P = p[2]; let G = p[3]; let N = p[4];
  let o = wid.x + wid.y * nw.x;          // o = (b * H + h) * P + pp
  if (o >= B * H * P) { return; }
  let b = o / (H * P); let hp = o % (H * P); let h = hp / P;
  let gr = h / (H / G);
  let dtv = dt[b * H + h];
  let decay = exp(dtv * pf(5u + h));
  let xv = x[o];
  let sb = (slots[b] * H * P + hp) * N;
  let bc = (b * G + gr) * N;
  var acc = 0.0;
  for (var n = l; n < N; n += 64u) {
    let s = decay * state[sb + n] + dtv * xv * Bm[bc + n];
    state[sb + n] = s;
    acc += s * Cm[bc + n];
  }
  red[l] = acc;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s = s >> 1u) {
    if (l < s) { red[l] = red[l] + red[l + s]; }
    workgroupBarrier();
  }
  if (l == 0u) { y[o] = red[0] + pf(5u + H + h) * xv; }
}`,
} as const;

type Shader = keyof typeof DECODE_SHADERS | "embed" | "rmsnorm" | "matmul" | "matmulTiled" | "dtSoftplus" | "gatedRmsnorm" | "siluGate" | "add"
  | "conv1d" | "ssdCumsum" | "ssdCB" | "ssdChunkState" | "ssdPass" | "ssdOut";

/** What m2Create receives: sizes, the model's matrix ids, and the small per-layer vectors. */
export interface DecodeSpecMsg {
  d: number; E: number; H: number; P: number; G: number; N: number; K: number; V: number;
  /** SSD chunk length of the prefill. */
  Q: number;
  eps: number; normEps: number; groupSize: number; normBeforeGate: boolean; dtLo: number; dtHi: number;
  embedding: number; lmHead: number; normF: Float32Array;
  layers: {
    norm: Float32Array;
    /** in_proj blocks z, x, B, C, dt and out_proj (matrix ids). */
    proj: number[]; outProj: number;
    convW: Float32Array; convB: Float32Array | null; dtBias: Float32Array; A: Float32Array; D: Float32Array; normW: Float32Array | null;
  }[];
}

interface Decoder {
  spec: DecodeSpecMsg;
  normF: GPUBuffer;
  layers: { norm: GPUBuffer; convW: GPUBuffer; convB: GPUBuffer; dtBias: GPUBuffer; normW: GPUBuffer | null }[];
  own: GPUBuffer[];
}

interface Recorded {
  pipeline: GPUComputePipeline;
  bind: GPUBindGroup;
  gx: number;
  gy: number;
}

interface Pool {
  dec: Decoder;
  S: number;
  conv: GPUBuffer[];
  ssm: GPUBuffer[];
  ids: GPUBuffer;
  slots: GPUBuffer;
  logits: GPUBuffer;
  staging: GPUBuffer;
  /** Activation buffers [S, ...]. */
  a: Record<"x" | "u" | "z" | "xr" | "Br" | "Cr" | "dt" | "xc" | "Bc" | "Cc" | "y" | "g" | "o" | "h", GPUBuffer>;
  /** The recorded passes of a step of B sessions (params and bind groups), by B. */
  steps: Map<number, Recorded[]>;
  own: GPUBuffer[];
}

export function createMamba2Decode(device: GPUDevice, matrixBuffer: (id: number) => GPUBuffer) {
  const pipelines = new Map<Shader, GPUComputePipeline>();
  const pipeline = (name: Shader): GPUComputePipeline => {
    let pl = pipelines.get(name);
    if (!pl) {
      const code = name in DECODE_SHADERS ? DECODE_SHADERS[name as keyof typeof DECODE_SHADERS] : SHADERS[name as keyof typeof SHADERS];
      pl = device.createComputePipeline({ layout: "auto", compute: { module: device.createShaderModule({ code }), entryPoint: "main" } });
      pipelines.set(name, pl);
    }
    return pl;
  };
  const decoders = new Map<number, Decoder>();
  const pools = new Map<number, Pool>();
  let nextId = 1;

  const buffer = (floats: number, own: GPUBuffer[], usage = S_USAGE): GPUBuffer => {
    const b = device.createBuffer({ size: Math.max(16, Math.ceil(floats) * 4), usage });
    own.push(b);
    return b;
  };
  const upload = (a: Float32Array | Uint32Array, own: GPUBuffer[]): GPUBuffer => {
    const b = buffer(a.length, own);
    if (a.byteLength) device.queue.writeBuffer(b, 0, a.buffer, a.byteOffset, a.byteLength);
    return b;
  };
  const dec = (id: number) => {
    const d = decoders.get(id);
    if (!d) throw new Error(`mamba2 decoder ${id} is released`);
    return d;
  };
  const pool = (id: number) => {
    const p = pools.get(id);
    if (!p) throw new Error(`mamba2 state pool ${id} is released`);
    return p;
  };

  /** One dispatch: params (u32 words; `floats` indices hold float32 bit patterns), bound buffers, thread count. */
  function record(own: GPUBuffer[], shader: Shader, params: number[], floats: number[], buffers: GPUBuffer[], count: number, perWorkgroup = false): Recorded {
    const words = new Uint32Array(Math.max(4, params.length));
    const fv = new Float32Array(words.buffer);
    params.forEach((v, i) => (floats.includes(i) ? (fv[i] = v) : (words[i] = v)));
    const pl = pipeline(shader);
    const bind = device.createBindGroup({
      layout: pl.getBindGroupLayout(0),
      entries: [upload(words, own), ...buffers].map((b, binding) => ({ binding, resource: { buffer: b } })),
    });
    const groups = perWorkgroup ? count : Math.ceil(count / WG);
    const gx = Math.min(groups, MAXD);
    const gy = Math.ceil(groups / gx);
    if (gy > MAXD) throw new Error(`${shader}: ${groups} workgroups exceed the dispatch limit`);
    return { pipeline: pl, bind, gx, gy };
  }

  /** The passes of one step of B sessions: the whole model, in order. */
  function recordStep(pl: Pool, B: number): Recorded[] {
    const s = pl.dec.spec;
    const { d, E, H, P, G, N, K, V } = s;
    const GN = G * N;
    const Cv = E + 2 * GN;
    const { x, u, z, xr, Br, Cr, dt, xc, Bc, Cc, y, g, o, h } = pl.a;
    const r: Recorded[] = [];
    const own = pl.own;
    const fl = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);
    // B >= 2: the tiled shader, which reads each weight tile once for up to 16 sessions
    const matmul = (inp: GPUBuffer, id: number, rows: number, cols: number, out: GPUBuffer) => {
      const m = matmulDispatch(B, rows);
      r.push(record(own, m.shader, [B, rows, cols], [], [inp, matrixBuffer(id), out], m.count, m.perWorkgroup));
    };
    r.push(record(own, "embed", [B * d, d], [], [pl.ids, matrixBuffer(s.embedding), x], B * d));
    s.layers.forEach((L, i) => {
      const W = pl.dec.layers[i];
      r.push(record(own, "rmsnorm", [B, d, s.eps], [2], [x, W.norm, u], B, true));
      const outs = [z, xr, Br, Cr, dt];
      const rows = [E, E, GN, GN, H];
      L.proj.forEach((id, j) => matmul(u, id, rows[j], d, outs[j]));
      const conv = (inp: GPUBuffer, C: number, c0: number, out: GPUBuffer) =>
        r.push(record(own, "convStep", [B, C, K, L.convB ? 1 : 0, c0, Cv], [], [inp, pl.slots, pl.conv[i], W.convW, W.convB, out], B * C));
      conv(xr, E, 0, xc);
      conv(Br, GN, E, Bc);
      conv(Cr, GN, E + GN, Cc);
      r.push(record(own, "dtSoftplus", [B, H, s.dtLo, s.dtHi], [2, 3], [dt, W.dtBias], B * H));
      r.push(record(own, "ssdStepBatch", [B, H, P, G, N, ...L.A, ...L.D], fl(5, 2 * H), [xc, dt, Bc, Cc, pl.slots, pl.ssm[i], y], B * H * P, true));
      if (W.normW)
        r.push(record(own, "gatedRmsnorm", [B, E, s.groupSize, s.normEps, s.normBeforeGate ? 1 : 0], [3], [y, z, W.normW, g], (B * E) / s.groupSize, true));
      else r.push(record(own, "siluGate", [B * E], [], [y, z], B * E));
      matmul(W.normW ? g : y, L.outProj, d, E, o);
      r.push(record(own, "add", [B * d], [], [x, o], B * d));
    });
    r.push(record(own, "rmsnorm", [B, d, s.eps], [2], [x, pl.dec.normF, h], B, true));
    matmul(h, s.lmHead, V, d, pl.logits);
    return r;
  }

  /**
   * The passes of a T-token prefill block of one slot in chunks of Q (the chunked SSD of
   * shaders.ts), and its buffers. With `norms`, every layer also writes its head norms at the
   * block's chunk starts and end (headNorms), at the position index in `norms.base`.
   */
  function recordPrefill(
    pl: Pool, slot: number, T: number, Qc: number, own: GPUBuffer[], norms: { out: GPUBuffer; base: GPUBuffer } | null,
  ): { rec: Recorded[]; ids: GPUBuffer; x: GPUBuffer } {
    const s = pl.dec.spec;
    const { d, E, H, P, G, N, K } = s;
    const GN = G * N, HPN = H * P * N, Cv = E + 2 * GN, nL = s.layers.length;
    const Q = Math.min(Qc, T), nc = Math.ceil(T / Q);
    const act = (n: number) => buffer(T * n, own);
    const ids = buffer(T, own);
    const [x, u, o] = [act(d), act(d), act(d)];
    const [z, xr, xc, y, g] = [act(E), act(E), act(E), act(E), act(E)];
    const [Br, Cr, Bc, Cc] = [act(GN), act(GN), act(GN), act(GN)];
    const dt = act(H), Acs = act(H), CB = act(G * Q);
    const Sc = buffer(nc * HPN, own), Hin = buffer(nc * HPN, own);
    const r: Recorded[] = [];
    const fl = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);
    const matmul = (inp: GPUBuffer, id: number, rows: number, cols: number, out: GPUBuffer) => {
      const m = matmulDispatch(T, rows);
      r.push(record(own, m.shader, [T, rows, cols], [], [inp, matrixBuffer(id), out], m.count, m.perWorkgroup));
    };
    r.push(record(own, "embed", [T * d, d], [], [ids, matrixBuffer(s.embedding), x], T * d));
    s.layers.forEach((L, i) => {
      const W = pl.dec.layers[i];
      r.push(record(own, "rmsnorm", [T, d, s.eps], [2], [x, W.norm, u], T, true));
      [z, xr, Br, Cr, dt].forEach((out, j) => matmul(u, L.proj[j], [E, E, GN, GN, H][j], d, out));
      const conv = (inp: GPUBuffer, C: number, c0: number, out: GPUBuffer) => {
        r.push(record(own, "conv1d", [T, C, K, L.convB ? 1 : 0, c0, Cv, slot], [], [inp, pl.conv[i], W.convW, W.convB, out], T * C));
        r.push(record(own, "convShift", [T, C, K, c0, Cv, slot], [], [inp, pl.conv[i]], C));
      };
      conv(xr, E, 0, xc);
      conv(Br, GN, E, Bc);
      conv(Cr, GN, E + GN, Cc);
      r.push(record(own, "dtSoftplus", [T, H, s.dtLo, s.dtHi], [2, 3], [dt, W.dtBias], T * H));
      r.push(record(own, "ssdCumsum", [T, H, Q, ...L.A], fl(3, H), [dt, Acs], H * nc));
      r.push(record(own, "ssdCB", [T, G, N, Q], [], [Bc, Cc, CB], G * T * Q));
      r.push(record(own, "ssdChunkState", [T, H, P, G, N, Q], [], [xc, dt, Acs, Bc, Sc], nc * HPN));
      r.push(record(own, "ssdPass", [T, H, P, N, Q, slot * HPN], [], [Acs, Sc, Hin, pl.ssm[i]], HPN));
      if (norms) {
        if (nc > 1) r.push(record(own, "headNorms", [H, P * N, nc, i, nL, 0, 0], [], [Hin, norms.base, norms.out], (nc - 1) * H));
        r.push(record(own, "headNorms", [H, P * N, nc, i, nL, 1, slot * HPN], [], [pl.ssm[i], norms.base, norms.out], H));
      }
      r.push(record(own, "ssdOut", [T, H, P, G, N, Q, ...L.D], fl(6, H), [xc, dt, Acs, CB, Hin, Cc, y], T * H * P));
      if (W.normW)
        r.push(record(own, "gatedRmsnorm", [T, E, s.groupSize, s.normEps, s.normBeforeGate ? 1 : 0], [3], [y, z, W.normW, g], (T * E) / s.groupSize, true));
      else r.push(record(own, "siluGate", [T * E], [], [y, z], T * E));
      matmul(W.normW ? g : y, L.outProj, d, E, o);
      r.push(record(own, "add", [T * d], [], [x, o], T * d));
    });
    return { rec: r, ids, x };
  }

  function encode(enc: GPUCommandEncoder, rec: Recorded[]): void {
    const pass = enc.beginComputePass();
    for (const r of rec) {
      pass.setPipeline(r.pipeline);
      pass.setBindGroup(0, r.bind);
      pass.dispatchWorkgroups(r.gx, r.gy);
    }
    pass.end();
  }

  const ops = {
    /** Small per-layer vectors to GPU buffers; the matrices stay the model's. Returns the decoder id. */
    m2Create(a: DecodeSpecMsg) {
      const own: GPUBuffer[] = [];
      for (const id of [a.embedding, a.lmHead, ...a.layers.flatMap((l) => [...l.proj, l.outProj])]) matrixBuffer(id);
      const layers = a.layers.map((l) => ({
        norm: upload(l.norm, own),
        convW: upload(l.convW, own),
        convB: upload(l.convB ?? new Float32Array(1), own),
        dtBias: upload(l.dtBias, own),
        normW: l.normW ? upload(l.normW, own) : null,
      }));
      const id = nextId++;
      decoders.set(id, { spec: a, normF: upload(a.normF, own), layers, own });
      return { result: id };
    },
    /** Zeroed states for S sessions plus the activation buffers of a step of up to S. Returns the pool id. */
    m2Alloc(a: { dec: number; slots: number }) {
      const d = dec(a.dec);
      const { d: dm, E, H, P, G, N, K, V } = d.spec;
      const S = a.slots;
      const Cv = E + 2 * G * N;
      const own: GPUBuffer[] = [];
      const zeros = (n: number) => {
        const b = buffer(n, own);
        return b; // createBuffer zero-initialises
      };
      const act = (n: number) => buffer(S * n, own);
      const p: Pool = {
        dec: d, S,
        conv: d.spec.layers.map(() => zeros(S * Cv * (K - 1))),
        ssm: d.spec.layers.map(() => zeros(S * H * P * N)),
        ids: buffer(S, own), slots: buffer(S, own), logits: act(V),
        staging: buffer(S * V, own, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST),
        a: {
          x: act(dm), u: act(dm), z: act(E), xr: act(E), Br: act(G * N), Cr: act(G * N), dt: act(H),
          xc: act(E), Bc: act(G * N), Cc: act(G * N), y: act(E), g: act(E), o: act(dm), h: act(dm),
        },
        steps: new Map(), own,
      };
      const id = nextId++;
      pools.set(id, p);
      return { result: id };
    },
    /** Writes one slot's state: conv [L][Cv·(K-1)] and ssm [L][H·P·N], concatenated per layer. */
    m2Write(a: { pool: number; slot: number; conv: Float32Array; ssm: Float32Array }) {
      const p = pool(a.pool);
      const { E, H, P, G, N, K } = p.dec.spec;
      const nc = (E + 2 * G * N) * (K - 1);
      const ns = H * P * N;
      if (a.slot < 0 || a.slot >= p.S) throw new Error(`slot ${a.slot} outside the pool's ${p.S}`);
      p.conv.forEach((b, i) => nc && device.queue.writeBuffer(b, a.slot * nc * 4, a.conv.buffer, a.conv.byteOffset + i * nc * 4, nc * 4));
      p.ssm.forEach((b, i) => device.queue.writeBuffer(b, a.slot * ns * 4, a.ssm.buffer, a.ssm.byteOffset + i * ns * 4, ns * 4));
      return { result: null };
    },
    /** Reads one slot's state back (same layout as m2Write). */
    async m2Read(a: { pool: number; slot: number }) {
      const p = pool(a.pool);
      const { E, H, P, G, N, K } = p.dec.spec;
      const nc = (E + 2 * G * N) * (K - 1);
      const ns = H * P * N;
      const L = p.conv.length;
      if (a.slot < 0 || a.slot >= p.S) throw new Error(`slot ${a.slot} outside the pool's ${p.S}`);
      const st = device.createBuffer({ size: Math.max(16, L * (nc + ns) * 4), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      const enc = device.createCommandEncoder();
      p.conv.forEach((b, i) => nc && enc.copyBufferToBuffer(b, a.slot * nc * 4, st, i * nc * 4, nc * 4));
      p.ssm.forEach((b, i) => enc.copyBufferToBuffer(b, a.slot * ns * 4, st, (L * nc + i * ns) * 4, ns * 4));
      device.queue.submit([enc.finish()]);
      await st.mapAsync(GPUMapMode.READ);
      const all = new Float32Array(st.getMappedRange().slice(0, L * (nc + ns) * 4));
      st.unmap();
      st.destroy();
      const conv = all.slice(0, L * nc);
      const ssm = all.slice(L * nc);
      return { result: { conv, ssm }, transfer: [conv.buffer as ArrayBuffer, ssm.buffer as ArrayBuffer] };
    },
    /** One token for B sessions: ids [B], slots [B] (distinct) -> logits [B, V]; the slots' states advance. */
    async m2Step(a: { pool: number; ids: Uint32Array; slots: Uint32Array }) {
      const p = pool(a.pool);
      const B = a.ids.length;
      const V = p.dec.spec.V;
      if (B < 1 || B > p.S || a.slots.length !== B) throw new Error(`m2Step: ${B} ids and ${a.slots.length} slots for a pool of ${p.S}`);
      let rec = p.steps.get(B);
      if (!rec) p.steps.set(B, (rec = recordStep(p, B)));
      device.queue.writeBuffer(p.ids, 0, a.ids.buffer, a.ids.byteOffset, B * 4);
      device.queue.writeBuffer(p.slots, 0, a.slots.buffer, a.slots.byteOffset, B * 4);
      const enc = device.createCommandEncoder();
      encode(enc, rec);
      enc.copyBufferToBuffer(p.logits, 0, p.staging, 0, B * V * 4);
      device.queue.submit([enc.finish()]);
      await p.staging.mapAsync(GPUMapMode.READ, 0, Math.max(16, B * V * 4));
      const logits = new Float32Array(p.staging.getMappedRange(0, Math.max(16, B * V * 4)).slice(0, B * V * 4));
      p.staging.unmap();
      return { result: logits, transfer: [logits.buffer as ArrayBuffer] };
    },
    /**
     * Feeds ids [T] to one slot with the chunked scan in the given blocks ([n, q] pairs: n tokens in
     * chunks of q; one submission each; activations and state stay on the GPU). Returns the last
     * token's logits [V] and, with `norms`, the head norms [positions, L, H] of the state at every
     * chunk start after a block's first and at every block's end, in order.
     */
    async m2Prefill(a: { pool: number; slot: number; ids: Uint32Array; blocks: number[]; norms: boolean }) {
      const p = pool(a.pool);
      const { d, V, H } = p.dec.spec;
      const nL = p.dec.spec.layers.length;
      const T = a.ids.length;
      if (a.slot < 0 || a.slot >= p.S) throw new Error(`slot ${a.slot} outside the pool's ${p.S}`);
      let sum = 0, positions = 0;
      for (let k = 0; k < a.blocks.length; k += 2) {
        const [n, q] = [a.blocks[k], a.blocks[k + 1]];
        if (!(Number.isInteger(n) && n >= 1 && Number.isInteger(q) && q >= 1)) throw new Error(`m2Prefill: block of ${n} tokens in chunks of ${q}`);
        sum += n;
        positions += Math.ceil(n / Math.min(q, n));
      }
      if (T < 1 || sum !== T) throw new Error(`m2Prefill: blocks of ${sum} tokens for ${T} ids`);
      const own: GPUBuffer[] = [];
      try {
        const norms = a.norms ? { out: buffer(positions * nL * H, own), base: buffer(4, own) } : null;
        const recorded = new Map<string, ReturnType<typeof recordPrefill>>();
        const base = new Uint32Array(1);
        let t0 = 0;
        for (let k = 0; k < a.blocks.length; k += 2) {
          const [n, q] = [a.blocks[k], a.blocks[k + 1]];
          const key = `${n}/${Math.min(q, n)}`;
          let b = recorded.get(key);
          if (!b) recorded.set(key, (b = recordPrefill(p, a.slot, n, q, own, norms)));
          // queue order: these writes land after the previous block's submission and before this one
          device.queue.writeBuffer(b.ids, 0, a.ids.buffer, a.ids.byteOffset + t0 * 4, n * 4);
          if (norms) device.queue.writeBuffer(norms.base, 0, base);
          const enc = device.createCommandEncoder();
          encode(enc, b.rec);
          t0 += n;
          base[0] += Math.ceil(n / Math.min(q, n));
          if (t0 === T) {
            // the last token: norm_f and lm_head on its row only
            const h0 = buffer(d, own), h = buffer(d, own);
            enc.copyBufferToBuffer(b.x, (n - 1) * d * 4, h0, 0, d * 4);
            const m = matmulDispatch(1, V);
            encode(enc, [
              record(own, "rmsnorm", [1, d, p.dec.spec.eps], [2], [h0, p.dec.normF, h], 1, true),
              record(own, m.shader, [1, V, d], [], [h, matrixBuffer(p.dec.spec.lmHead), p.logits], m.count, m.perWorkgroup),
            ]);
            enc.copyBufferToBuffer(p.logits, 0, p.staging, 0, V * 4);
          }
          device.queue.submit([enc.finish()]);
        }
        const read = async (src: GPUBuffer, floats: number): Promise<Float32Array> => {
          const st = buffer(floats, own, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
          const enc = device.createCommandEncoder();
          enc.copyBufferToBuffer(src, 0, st, 0, floats * 4);
          device.queue.submit([enc.finish()]);
          await st.mapAsync(GPUMapMode.READ);
          return new Float32Array(st.getMappedRange().slice(0, floats * 4));
        };
        const normsOut = norms ? await read(norms.out, positions * nL * H) : null;
        await p.staging.mapAsync(GPUMapMode.READ, 0, Math.max(16, V * 4));
        const logits = new Float32Array(p.staging.getMappedRange(0, Math.max(16, V * 4)).slice(0, V * 4));
        p.staging.unmap();
        const transfer = [logits.buffer as ArrayBuffer, ...(normsOut ? [normsOut.buffer as ArrayBuffer] : [])];
        return { result: { logits, norms: normsOut }, transfer };
      } finally {
        for (const b of own) b.destroy();
      }
    },
    m2Free(a: { pool: number }) {
      freePool(a.pool);
      return { result: null };
    },
    m2Release(a: { dec: number }) {
      releaseDecoder(a.dec);
      return { result: null };
    },
  };
  function freePool(id: number): void {
    pools.get(id)?.own.forEach((b) => b.destroy());
    pools.delete(id);
  }
  function releaseDecoder(id: number): void {
    const d = decoders.get(id);
    for (const [pid, p] of pools) if (p.dec === d) freePool(pid);
    d?.own.forEach((b) => b.destroy());
    decoders.delete(id);
  }

  return {
    ops,
    close(): void {
      for (const id of [...decoders.keys()]) releaseDecoder(id);
    },
  };
}
