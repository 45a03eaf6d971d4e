// WGSL compute shaders of the webgpu backend, float32 throughout. Every shader reads its sizes and
// float parameters from `p` (u32 words; floats as bit patterns) and computes a flat index from a 2-D
// dispatch (at most 65535 workgroups per dimension). Shape letters as in kernels/backend.ts.
//
// Threads per output, workgroup = 64:
//   matmul        one thread per output (t, r), four partial sums over cols (T = 1: decode)
//   matmulTiled   one workgroup per 16 tokens x 32 rows, 4 x 2 outputs per thread (T >= 2)
//   embed         one thread per output value
//   rmsnorm       one workgroup per row; gatedRmsnorm one workgroup per (row, group)
//   conv1d        one thread per (t, c)
//   ssdStep       one workgroup per (h, p): lanes over n, tree reduction for y
//   ssd chunked   cumsum (h, chunk) -> CB (g, t, j) -> chunk states (c, h, p, n) -> state passing
//                 (h, p, n; sequential over chunks) -> output (t, h, p)   (mamba2.md §5, steps 1-4)
//   selectiveScan one thread per channel d, sequential over t
//   elementwise   one thread per value

const HEAD = /* wgsl */ `
@group(0) @binding(0) var<storage, read> p: array<u32>;
fn pf(i: u32) -> f32 { return bitcast<f32>(p[i]); }
fn flat(g: vec3u, n: vec3u, wg: u32) -> u32 { return g.x + g.y * n.x * wg; }
fn silu(v: f32) -> f32 { return v / (1.0 + exp(-v)); }
`;

/** Workgroup-reduction helper: lanes write `red[l]`, then tree-sum into red[0] (also in s4.ts). */
export const REDUCE = /* wgsl */ `
var<workgroup> red: array<f32, 64>;
fn reduce(l: u32, v: f32) -> f32 {
  red[l] = v;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s = s >> 1u) {
    if (l < s) { red[l] = red[l] + red[l + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}
`;

export const SHADERS = {
  // p: [T, rows, cols]; x: [T, cols]; w: [rows, cols]; y: [T, rows]. One thread per output, four
  // partial sums (a workgroup per output with a tree reduction was 100x slower on SwiftShader)
  matmul: HEAD + /* wgsl */ `
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let T = p[0]; let rows = p[1]; let cols = p[2];
  let o = flat(g, nw, 64u);
  if (o >= T * rows) { return; }
  let t = o / rows; let r = o % rows;
  let xo = t * cols; let wo = r * cols;
  var s0 = 0.0; var s1 = 0.0; var s2 = 0.0; var s3 = 0.0;
  let c4 = cols & ~3u;
  for (var c = 0u; c < c4; c += 4u) {
    s0 += x[xo + c] * w[wo + c];
    s1 += x[xo + c + 1u] * w[wo + c + 1u];
    s2 += x[xo + c + 2u] * w[wo + c + 2u];
    s3 += x[xo + c + 3u] * w[wo + c + 3u];
  }
  for (var c = c4; c < cols; c++) { s0 += x[xo + c] * w[wo + c]; }
  y[o] = (s0 + s1) + (s2 + s3);
}`,

  // p: [T, rows, cols]; x, w, y as matmul. The same product for T >= 2 token rows (prefill blocks,
  // batched decode): the per-output shader re-reads a weight row from global memory for every token
  // and its adjacent threads read rows \`cols\` floats apart. Here a 64-thread workgroup computes a
  // block of TT = 16 tokens x TR = 32 rows, stepping over cols in tiles of TC = 64: the x and w tiles
  // are loaded once into workgroup memory (lane l loads column l of each tile row, so a 32-lane warp
  // reads 128 contiguous bytes) and each w value then serves 16 tokens, each x value 32 rows.
  // Thread l accumulates tokens l/16 + 4i (acc_i) and rows l%16 + 16j (component j) in registers.
  // Why 16 x 32 x 64: the weight bytes in flight per step, rows·TC·4 over all workgroups, are what
  // keeps HBM busy for the small-T (decode) case, where out_proj has only 768 rows; a taller TR
  // would give fewer workgroups, a wider TC or TT would pass WebGPU's default 16 KiB of workgroup
  // memory (this is 12.5 KiB). Tails load zeros and skip the store; token groups i wholly past T are
  // skipped (a workgroup-uniform branch: batched decode of B = 4 would otherwise do 4x the FMAs).
  // Tile rows are PAD = 65 floats so that the 16 lanes reading one column of w hit distinct banks.
  // Dispatched per workgroup (matmulDispatch below), token blocks fastest so that concurrent
  // workgroups share a w slab in L2 when T > 16.
  matmulTiled: HEAD + /* wgsl */ `
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
const TT = 16u; const TR = 32u; const TC = 64u; const PAD = 65u;
var<workgroup> xs: array<f32, 1040>;   // TT * PAD
var<workgroup> ws: array<f32, 2080>;   // TR * PAD
fn store(t: u32, r: u32, T: u32, rows: u32, v: vec2f) {
  if (t >= T) { return; }
  if (r < rows) { y[t * rows + r] = v.x; }
  if (r + 16u < rows) { y[t * rows + r + 16u] = v.y; }
}
@compute @workgroup_size(64) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nw: vec3u, @builtin(local_invocation_index) l: u32) {
  let T = p[0]; let rows = p[1]; let cols = p[2];
  let nt = (T + TT - 1u) / TT;
  let o = wid.x + wid.y * nw.x;
  if (o >= nt * ((rows + TR - 1u) / TR)) { return; }   // uniform per workgroup: barriers stay legal
  let t0 = (o % nt) * TT; let r0 = (o / nt) * TR;
  let ng = min(4u, (T - t0 + 3u) / 4u);                 // token groups with a token below T
  let tq = l / 16u; let tr = l % 16u;                   // computing: tokens tq + 4i, rows tr + 16j
  var acc0 = vec2f(); var acc1 = vec2f(); var acc2 = vec2f(); var acc3 = vec2f();
  for (var c0 = 0u; c0 < cols; c0 += TC) {
    let c = c0 + l;
    for (var k = 0u; k < 4u * ng; k++) {               // x rows past the used groups are never read
      var v = 0.0;
      if (t0 + k < T && c < cols) { v = x[(t0 + k) * cols + c]; }
      xs[k * PAD + l] = v;
    }
    for (var k = 0u; k < TR; k++) {
      var v = 0.0;
      if (r0 + k < rows && c < cols) { v = w[(r0 + k) * cols + c]; }
      ws[k * PAD + l] = v;
    }
    workgroupBarrier();
    for (var cc = 0u; cc < min(TC, cols - c0); cc++) {
      let b = vec2f(ws[tr * PAD + cc], ws[(tr + 16u) * PAD + cc]);
      acc0 += xs[tq * PAD + cc] * b;
      if (ng > 1u) { acc1 += xs[(tq + 4u) * PAD + cc] * b; }
      if (ng > 2u) { acc2 += xs[(tq + 8u) * PAD + cc] * b; }
      if (ng > 3u) { acc3 += xs[(tq + 12u) * PAD + cc] * b; }
    }
    workgroupBarrier();   // the next tile overwrites xs / ws
  }
  store(t0 + tq, r0 + tr, T, rows, acc0);
  store(t0 + tq + 4u, r0 + tr, T, rows, acc1);
  store(t0 + tq + 8u, r0 + tr, T, rows, acc2);
  store(t0 + tq + 12u, r0 + tr, T, rows, acc3);
}`,

  // p: [n, cols]; ids: [T] (u32); w: [rows, cols]; out: [T, cols]
  embed: HEAD + /* wgsl */ `
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = flat(g, nw, 64u);
  if (i >= p[0]) { return; }
  let cols = p[1];
  out[i] = w[ids[i / cols] * cols + i % cols];
}`,

  // p: [T, D, eps]; x: [T, D]; w: [D]; out: [T, D]
  rmsnorm: HEAD + REDUCE + /* wgsl */ `
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nw: vec3u, @builtin(local_invocation_index) l: u32) {
  let T = p[0]; let D = p[1]; let eps = pf(2u);
  let t = wid.x + wid.y * nw.x;
  if (t >= T) { return; }
  var s = 0.0;
  for (var d = l; d < D; d += 64u) { let v = x[t * D + d]; s += v * v; }
  let inv = inverseSqrt(reduce(l, s) / f32(D) + eps);
  for (var d = l; d < D; d += 64u) { out[t * D + d] = x[t * D + d] * inv * w[d]; }
}`,

  // p: [T, D, gs, eps, normBeforeGate]; y, z: [T, D]; w: [D]; out: [T, D]
  gatedRmsnorm: HEAD + REDUCE + /* wgsl */ `
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> z: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nw: vec3u, @builtin(local_invocation_index) l: u32) {
  let T = p[0]; let D = p[1]; let gs = p[2]; let eps = pf(3u); let nbg = p[4] != 0u;
  let ng = D / gs;
  let o = wid.x + wid.y * nw.x;
  if (o >= T * ng) { return; }
  let base = (o / ng) * D + (o % ng) * gs;
  let g0 = (o % ng) * gs;
  var s = 0.0;
  for (var i = l; i < gs; i += 64u) {
    var v = y[base + i];
    if (!nbg) { v = v * silu(z[base + i]); }
    s += v * v;
  }
  let inv = inverseSqrt(reduce(l, s) / f32(gs) + eps);
  for (var i = l; i < gs; i += 64u) {
    var v = y[base + i];
    if (!nbg) { v = v * silu(z[base + i]); }
    var n = v * inv * w[g0 + i];
    if (nbg) { n = n * silu(z[base + i]); }
    out[base + i] = n;
  }
}`,

  // p: [T, C, K, hasBias, c0, Cv, slot]; x: [T, C] (channels c0 .. c0+C); win: [S, Cv, K-1] (read);
  // w: [Cv, K]; bias: [Cv]; out: [T, C] = silu(conv) over the slot's window followed by x.
  // The per-op op is c0 = 0, Cv = C, slot 0; the resident prefill (mamba2-decode.ts) slices a pool.
  conv1d: HEAD + /* wgsl */ `
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> win: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let T = p[0]; let C = p[1]; let K = p[2]; let c0 = p[4]; let Cv = p[5];
  let i = flat(g, nw, 64u);
  if (i >= T * C) { return; }
  let t = i / C; let cl = i % C; let ch = c0 + cl; let W = K - 1u;
  let base = (p[6] * Cv + ch) * W;
  var s = 0.0;
  if (p[3] != 0u) { s = bias[ch]; }
  for (var k = 0u; k < K; k++) {
    let src = i32(t) - i32(W) + i32(k);
    var v: f32;
    if (src >= 0) { v = x[u32(src) * C + cl]; } else { v = win[base + u32(i32(W) + src)]; }
    s += w[ch * K + k] * v;
  }
  out[i] = silu(s);
}`,

  // p: [H, P, G, N, A[H] (f32), D[H] (f32)]; x: [H, P]; dt: [H]; B, C: [G, N]; state: [H, P, N]; y: [H, P]
  ssdStep: HEAD + REDUCE + /* wgsl */ `
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dt: array<f32>;
@group(0) @binding(3) var<storage, read> B: array<f32>;
@group(0) @binding(4) var<storage, read> C: array<f32>;
@group(0) @binding(5) var<storage, read_write> state: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nw: vec3u, @builtin(local_invocation_index) l: u32) {
  let H = p[0]; let P = p[1]; let G = p[2]; let N = p[3];
  let o = wid.x + wid.y * nw.x;          // o = h * P + pp
  if (o >= H * P) { return; }
  let h = o / P;
  let gr = h / (H / G);
  let dtv = dt[h];
  let decay = exp(dtv * pf(4u + h));
  let xv = x[o];
  var acc = 0.0;
  for (var n = l; n < N; n += 64u) {
    let s = decay * state[o * N + n] + dtv * xv * B[gr * N + n];
    state[o * N + n] = s;
    acc += s * C[gr * N + n];
  }
  let tot = reduce(l, acc);
  if (l == 0u) { y[o] = tot + pf(4u + H + h) * xv; }
}`,

  // p: [T, H, Q, A[H]]; dt: [T, H]; Acs: [H, T] chunk-local cumulative dt·A
  ssdCumsum: HEAD + /* wgsl */ `
@group(0) @binding(1) var<storage, read> dt: array<f32>;
@group(0) @binding(2) var<storage, read_write> Acs: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let T = p[0]; let H = p[1]; let Q = p[2];
  let nc = (T + Q - 1u) / Q;
  let i = flat(g, nw, 64u);
  if (i >= H * nc) { return; }
  let h = i / nc; let c = i % nc;
  let a = pf(3u + h);
  var cum = 0.0;
  for (var t = c * Q; t < min(T, c * Q + Q); t++) { cum += dt[t * H + h] * a; Acs[h * T + t] = cum; }
}`,

  // p: [T, G, N, Q]; B, C: [T, G, N]; CB: [G, T, Q]: CB[g, t, j] = C_t · B_{c0+j} for j <= t - c0, else 0
  ssdCB: HEAD + /* wgsl */ `
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read> C: array<f32>;
@group(0) @binding(3) var<storage, read_write> CB: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let T = p[0]; let G = p[1]; let N = p[2]; let Q = p[3];
  let o = flat(g, nw, 64u);
  if (o >= G * T * Q) { return; }
  let j = o % Q; let t = (o / Q) % T; let gr = o / (Q * T);
  let c0 = (t / Q) * Q;
  var s = 0.0;
  if (c0 + j <= t) {
    for (var n = 0u; n < N; n++) { s += C[(t * G + gr) * N + n] * B[((c0 + j) * G + gr) * N + n]; }
  }
  CB[o] = s;
}`,

  // p: [T, H, P, G, N, Q]; x: [T, H, P]; dt: [T, H]; Acs: [H, T]; B: [T, G, N];
  // S: [nc, H, P, N] = Σ_j exp(Acs[last] - Acs[j]) dt_j x_j ⊗ B_j (the state chunk c adds on its own)
  ssdChunkState: HEAD + /* wgsl */ `
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dt: array<f32>;
@group(0) @binding(3) var<storage, read> Acs: array<f32>;
@group(0) @binding(4) var<storage, read> B: array<f32>;
@group(0) @binding(5) var<storage, read_write> S: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let T = p[0]; let H = p[1]; let P = p[2]; let G = p[3]; let N = p[4]; let Q = p[5];
  let nc = (T + Q - 1u) / Q;
  let o = flat(g, nw, 64u);
  if (o >= nc * H * P * N) { return; }
  let n = o % N; let pp = (o / N) % P; let h = (o / (N * P)) % H; let c = o / (N * P * H);
  let gr = h / (H / G);
  let t1 = min(T, c * Q + Q);
  let last = Acs[h * T + t1 - 1u];
  var s = 0.0;
  for (var t = c * Q; t < t1; t++) {
    s += exp(last - Acs[h * T + t]) * dt[t * H + h] * x[(t * H + h) * P + pp] * B[(t * G + gr) * N + n];
  }
  S[o] = s;
}`,

  // p: [T, H, P, N, Q, s0]; Acs: [H, T]; S: [nc, H, P, N] chunk states; Hin: [nc, H, P, N] state
  // entering each chunk; state: [H, P, N] in/out at float offset s0 (a slot of a resident state pool)
  ssdPass: HEAD + /* wgsl */ `
@group(0) @binding(1) var<storage, read> Acs: array<f32>;
@group(0) @binding(2) var<storage, read> S: array<f32>;
@group(0) @binding(3) var<storage, read_write> Hin: array<f32>;
@group(0) @binding(4) var<storage, read_write> state: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let T = p[0]; let H = p[1]; let P = p[2]; let N = p[3]; let Q = p[4];
  let nc = (T + Q - 1u) / Q;
  let o = flat(g, nw, 64u);        // o = (h * P + pp) * N + n
  let HPN = H * P * N;
  if (o >= HPN) { return; }
  let h = o / (P * N);
  let so = p[5] + o;
  var s = state[so];
  for (var c = 0u; c < nc; c++) {
    Hin[c * HPN + o] = s;
    let t1 = min(T, c * Q + Q);
    s = exp(Acs[h * T + t1 - 1u]) * s + S[c * HPN + o];
  }
  state[so] = s;
}`,

  // p: [T, H, P, G, N, Q, D[H] (f32)]; y[t,h,p] = Σ_{j<=i} CB exp(Acs_t - Acs_j) dt_j x_j + exp(Acs_t) (Hin_c · C_t) + D x_t
  ssdOut: HEAD + /* wgsl */ `
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dt: array<f32>;
@group(0) @binding(3) var<storage, read> Acs: array<f32>;
@group(0) @binding(4) var<storage, read> CB: array<f32>;
@group(0) @binding(5) var<storage, read> Hin: array<f32>;
@group(0) @binding(6) var<storage, read> C: array<f32>;
@group(0) @binding(7) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let T = p[0]; let H = p[1]; let P = p[2]; let G = p[3]; let N = p[4]; let Q = p[5];
  let o = flat(g, nw, 64u);        // o = (t * H + h) * P + pp
  if (o >= T * H * P) { return; }
  let pp = o % P; let h = (o / P) % H; let t = o / (P * H);
  let gr = h / (H / G);
  let c = t / Q; let c0 = c * Q;
  let at = Acs[h * T + t];
  var diag = 0.0;
  for (var j = c0; j <= t; j++) {
    diag += CB[(gr * T + t) * Q + (j - c0)] * exp(at - Acs[h * T + j]) * dt[j * H + h] * x[(j * H + h) * P + pp];
  }
  var off = 0.0;
  let hb = ((c * H + h) * P + pp) * N;
  for (var n = 0u; n < N; n++) { off += Hin[hb + n] * C[(t * G + gr) * N + n]; }
  y[o] = diag + exp(at) * off + pf(6u + h) * x[o];
}`,

  // p: [T, D, N, Dskip[D] (f32)]; x, dt: [T, D]; A: [D, N]; B, C: [T, N]; state: [D, N]; y: [T, D]
  selectiveScan: HEAD + /* wgsl */ `
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dt: array<f32>;
@group(0) @binding(3) var<storage, read> A: array<f32>;
@group(0) @binding(4) var<storage, read> B: array<f32>;
@group(0) @binding(5) var<storage, read> C: array<f32>;
@group(0) @binding(6) var<storage, read_write> state: array<f32>;
@group(0) @binding(7) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let T = p[0]; let D = p[1]; let N = p[2];
  let d = flat(g, nw, 64u);
  if (d >= D) { return; }
  let ds = pf(3u + d);
  for (var t = 0u; t < T; t++) {
    let dtv = dt[t * D + d]; let xv = x[t * D + d];
    var acc = 0.0;
    for (var n = 0u; n < N; n++) {
      let i = d * N + n;
      let h = exp(dtv * A[i]) * state[i] + dtv * B[t * N + n] * xv;
      state[i] = h;
      acc += h * C[t * N + n];
    }
    y[t * D + d] = acc + ds * xv;
  }
}`,

  // p: [T, H, lo, hi]; dt: [T, H] in/out; bias: [H]
  dtSoftplus: HEAD + /* wgsl */ `
@group(0) @binding(1) var<storage, read_write> dt: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = flat(g, nw, 64u);
  if (i >= p[0] * p[1]) { return; }
  let v = dt[i] + bias[i % p[1]];
  var s: f32;
  if (v > 20.0) { s = v; } else if (v < -15.0) { s = exp(v); } else { s = log(1.0 + exp(v)); }
  dt[i] = min(pf(3u), max(pf(2u), s));
}`,

  // p: [n]; y <- y * silu(z)
  siluGate: HEAD + /* wgsl */ `
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read> z: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = flat(g, nw, 64u);
  if (i >= p[0]) { return; }
  y[i] = y[i] * silu(z[i]);
}`,

  // p: [n]; a <- a + b
  add: HEAD + /* wgsl */ `
@group(0) @binding(1) var<storage, read_write> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = flat(g, nw, 64u);
  if (i >= p[0]) { return; }
  a[i] = a[i] + b[i];
}`,
} as const;

export type ShaderName = keyof typeof SHADERS;

/** How a [T, cols]·[rows, cols]ᵀ product is dispatched: the per-output shader for one token row
 *  (decode: there is no second token to share a weight load with, and three quarters of the tiled
 *  shader's threads would compute nothing; unmeasured on a GPU yet: bench/gpu-device.ts times
 *  both), the tiled one for T >= 2. `tiled` forces a choice (the bench). */
export function matmulDispatch(T: number, rows: number, tiled = T >= 2): { shader: "matmul" | "matmulTiled"; count: number; perWorkgroup: boolean } {
  if (!tiled) return { shader: "matmul", count: T * rows, perWorkgroup: false };
  return { shader: "matmulTiled", count: Math.ceil(T / 16) * Math.ceil(rows / 32), perWorkgroup: true };
}
