// The S4 / S4D ops on the webgpu backend (worker side: kernels/webgpu/engine.ts registers wgslS4Ops;
// the host side is kernels/gpu/s4.ts hostS4Ops). WGSL compute shaders, float32; the float64
// preparation shared with the gpu.js engine (kernels/gpu/s4.ts) runs on the worker's CPU.
//
//   s4Vandermonde  one thread per (c, h, l): 2·Re Σ_m w·z^l, z^l from the polar form (polarPowers: an
//                  exact phase reduction in turns, sin / cos polynomials on [−π/4, π/4])
//   s4CauchySums   one thread per (h, node k, a-row, b-row): the Cauchy sum over both members of each
//                  conjugate pair; the rank-R Woodbury solves per node then run on the worker's CPU in
//                  float64 (woodburySpectra: O(H·L·R³), next to the O(H·L·M·(Cc+R)²) sums), and
//   s4Irfft        one thread per output: the inverse real DFT as a direct sum over the L/2 + 1 nodes
//                  (the phase index k·l mod L carried exactly in u32)
//   s4Conv         one thread per output (t, c·H + h): the causal convolution as a direct sum over
//                  min(Lk, T) taps (four partial sums). O(T·taps) per channel where an FFT is
//                  O(T log T); for the chunk lengths S4 runs (T <= chunk, 256 by default) a thread does
//                  at most that many multiply-adds, with no dependent passes or transposes.
//   diagScan       s4DiagLanes: one thread per (h, m) lane, sequential over T, writing Re(dC·x_t) per mode
//                  to a [T, Cc, H, M] buffer; s4DiagOut: one thread per output sums it over m. No barriers
//                  (a workgroup per channel with a tree reduction per token ran ~20x slower on SwiftShader)
//   s4DplrScan     the modes of a channel are coupled through the rank-R term: one workgroup (64 lanes)
//                  per channel h, sequential over T, lane l owning modes l, l+64, ..; per token R tree
//                  reductions for s = 2Re(Q·x), the w update, R reductions for 2Re(W·w), the state
//                  update, then Cc reductions for y (rank R <= 64)
//   s4LayerNorm    one workgroup per row (two reductions); s4Activation, s4Glu one thread per value
import {
  cauchyOperands, polarPowers, vandermondeWeights, woodburySpectra,
  type CauchyMsg, type ConvMsg, type DiagMsg, type DplrMsg, type VandermondeMsg,
} from "../gpu/s4.ts";
import { runPasses, type Pass } from "./passes.ts";
import { REDUCE } from "./shaders.ts";

const MAX_RANK = 64;

const HEAD = /* wgsl */ `
@group(0) @binding(0) var<storage, read> p: array<u32>;
fn pf(i: u32) -> f32 { return bitcast<f32>(p[i]); }
fn flat(g: vec3u, n: vec3u) -> u32 { return g.x + g.y * n.x * 64u; }
// (cos 2πt, sin 2πt) for t in [−1/2, 1/2] turns: quadrant by rounding t·4 (exact), then polynomials on
// [−π/4, π/4] (truncation < 3e-10), rotated by the quadrant
fn cis(t: f32) -> vec2f {
  let q = floor(t * 4.0 + 0.5);
  let r = (t - q * 0.25) * 6.283185307179586;
  let r2 = r * r;
  let s = r * (1.0 + r2 * (-0.16666666666666666 + r2 * (0.008333333333333333 + r2 * (-0.0001984126984126984 + r2 * 2.7557319223985893e-6))));
  let c = 1.0 + r2 * (-0.5 + r2 * (0.041666666666666664 + r2 * (-0.001388888888888889 + r2 * 2.48015873015873e-5)));
  let qi = i32(q) & 3;
  if (qi == 1) { return vec2f(-s, c); }
  if (qi == 2) { return vec2f(-c, -s); }
  if (qi == 3) { return vec2f(s, -c); }
  return vec2f(c, s);
}
`;

const WG_MAIN = "@compute @workgroup_size(64) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nw: vec3u, @builtin(local_invocation_index) l: u32)";
const THREAD_MAIN = "@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u)";

export const S4_SHADERS = {
  // p: [rows = Cc·H, H, M, L]; w: [rows, M, 2]; zp: [H, M, 4] (ln|z|, hi, lo, 0); out: [rows, L]
  s4Vandermonde: HEAD + /* wgsl */ `
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> zp: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
${THREAD_MAIN} {
  let rows = p[0]; let H = p[1]; let M = p[2]; let L = p[3];
  let i = flat(g, nw);
  if (i >= rows * L) { return; }
  let row = i / L; let l = i % L; let h = row % H;
  let lf = f32(l);
  var acc = 0.0;
  for (var m = 0u; m < M; m++) {
    let zo = (h * M + m) * 4u;
    let mag = exp(lf * zp[zo]);
    let a = lf * zp[zo + 1u];
    var t = (a - floor(a)) + lf * zp[zo + 2u];
    t = t - floor(t + 0.5);
    let e = cis(t);
    let wo = (row * M + m) * 2u;
    acc += mag * (w[wo] * e.x - w[wo + 1u] * e.y);
  }
  out[i] = 2.0 * acc;
}`,

  // p: [H, M, L, nodes, na, nbv]; avec: [na, H, M, 2]; bvec: [nbv, H, M, 2]; lam: [H, M, 2]; dt: [H];
  // r: [H, nodes, na, nbv, 2] = Σ_n a_n·b_n·2dt/(2(1−ω) − (1+ω)·dt·λ_n), ω = exp(−2πik/L), over both halves
  s4CauchySums: HEAD + /* wgsl */ `
@group(0) @binding(1) var<storage, read> avec: array<f32>;
@group(0) @binding(2) var<storage, read> bvec: array<f32>;
@group(0) @binding(3) var<storage, read> lam: array<f32>;
@group(0) @binding(4) var<storage, read> dt: array<f32>;
@group(0) @binding(5) var<storage, read_write> r: array<f32>;
${THREAD_MAIN} {
  let H = p[0]; let M = p[1]; let L = p[2]; let nodes = p[3]; let na = p[4]; let nbv = p[5];
  let o = flat(g, nw);
  if (o >= H * nodes * na * nbv) { return; }
  let jb = o % nbv; var q = o / nbv;
  let ia = q % na; q = q / na;
  let k = q % nodes; let h = q / nodes;
  // half angle πk/L: 2(1−ω) = 4sh² + 4i·sh·ch, 1+ω = 2ch² − 2i·sh·ch (no cancellation near ω = 1)
  let e = cis(f32(k) / f32(2u * L));
  let ch = e.x; let sh = e.y;
  let a1r = 4.0 * sh * sh; let a1i = 4.0 * sh * ch;
  let pr = 2.0 * ch * ch; let pim = -2.0 * sh * ch;
  let d = dt[h];
  var sr = 0.0; var si = 0.0;
  for (var n = 0u; n < 2u * M; n++) {
    var mm = n; var cj = 1.0;
    if (n >= M) { mm = n - M; cj = -1.0; }
    let lo = (h * M + mm) * 2u;
    let lr = lam[lo]; let li = cj * lam[lo + 1u];
    let qr = a1r - d * (pr * lr - pim * li);
    let qi = a1i - d * (pr * li + pim * lr);
    let den = qr * qr + qi * qi;
    let cr = 2.0 * d * qr / den; let ci = -2.0 * d * qi / den;
    let ao = ((ia * H + h) * M + mm) * 2u; let bo = ((jb * H + h) * M + mm) * 2u;
    let ar = avec[ao]; let ai = cj * avec[ao + 1u];
    let br = bvec[bo]; let bi = cj * bvec[bo + 1u];
    let xr = ar * cr - ai * ci; let xi = ar * ci + ai * cr;
    sr += xr * br - xi * bi;
    si += xr * bi + xi * br;
  }
  r[2u * o] = sr;
  r[2u * o + 1u] = si;
}`,

  // p: [rows, L, nodes]; spec: [rows, nodes, 2]; out: [rows, L] = irfft(spec, n = L)
  s4Irfft: HEAD + /* wgsl */ `
@group(0) @binding(1) var<storage, read> spec: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
${THREAD_MAIN} {
  let rows = p[0]; let L = p[1]; let nodes = p[2];
  let i = flat(g, nw);
  if (i >= rows * L) { return; }
  let row = i / L; let l = i % L;
  let so = row * nodes * 2u;
  var acc = spec[so];
  if (L % 2u == 0u) { acc += select(1.0, -1.0, (l & 1u) == 1u) * spec[so + (nodes - 1u) * 2u]; }
  let kmax = (L - 1u) / 2u;
  var idx = 0u;  // k·l mod L, carried (no u32 overflow for any L)
  for (var k = 1u; k <= kmax; k++) {
    idx += l;
    if (idx >= L) { idx -= L; }
    var t = f32(idx) / f32(L);
    if (t > 0.5) { t -= 1.0; }
    let e = cis(t);
    acc += 2.0 * (spec[so + 2u * k] * e.x - spec[so + 2u * k + 1u] * e.y);
  }
  out[i] = acc / f32(L);
}`,

  // p: [T, H, CH, taps, hasKs]; u: [T, H]; k: [CH, taps]; ks: [CH, T]; y: [T, CH]
  s4Conv: HEAD + /* wgsl */ `
@group(0) @binding(1) var<storage, read> u: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> ks: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
${THREAD_MAIN} {
  let T = p[0]; let H = p[1]; let CH = p[2]; let taps = p[3];
  let i = flat(g, nw);
  if (i >= T * CH) { return; }
  let t = i / CH; let row = i % CH; let h = row % H;
  let jmax = min(t + 1u, taps);
  let kb = row * taps;
  var s0 = 0.0; var s1 = 0.0; var s2 = 0.0; var s3 = 0.0;
  var j = 0u;
  for (; j + 4u <= jmax; j += 4u) {
    s0 += k[kb + j] * u[(t - j) * H + h];
    s1 += k[kb + j + 1u] * u[(t - j - 1u) * H + h];
    s2 += k[kb + j + 2u] * u[(t - j - 2u) * H + h];
    s3 += k[kb + j + 3u] * u[(t - j - 3u) * H + h];
  }
  for (; j < jmax; j++) { s0 += k[kb + j] * u[(t - j) * H + h]; }
  var s = (s0 + s1) + (s2 + s3);
  if (p[4] != 0u) { s += ks[row * T + t]; }
  y[i] = s;
}`,

  // p: [T, H, M, Cc, skip]; dA, dB: [H, M, 2]; dC: [Cc, H, M, 2]; u: [T, H]; state: [H, M, 2] in/out;
  // part: [T, Cc, H, M] = Re(dC·x_t) per mode. One thread per (h, m), sequential over T.
  s4DiagLanes: HEAD + /* wgsl */ `
@group(0) @binding(1) var<storage, read> dA: array<f32>;
@group(0) @binding(2) var<storage, read> dB: array<f32>;
@group(0) @binding(3) var<storage, read> dC: array<f32>;
@group(0) @binding(4) var<storage, read> u: array<f32>;
@group(0) @binding(5) var<storage, read_write> state: array<f32>;
@group(0) @binding(6) var<storage, read_write> part: array<f32>;
${THREAD_MAIN} {
  let T = p[0]; let H = p[1]; let M = p[2]; let Cc = p[3]; let skip = p[4];
  let i = flat(g, nw);
  if (i >= H * M) { return; }
  let h = i / M; let m = i % M;
  let ar = dA[2u * i]; let ai = dA[2u * i + 1u];
  let br = dB[2u * i]; let bi = dB[2u * i + 1u];
  var xr = state[2u * i]; var xi = state[2u * i + 1u];
  for (var t = 0u; t < T; t++) {
    let uv = u[t * H + h];
    let nr = ar * xr - ai * xi + br * uv;
    xi = ar * xi + ai * xr + bi * uv;
    xr = nr;
    if (skip == 0u) {
      for (var c = 0u; c < Cc; c++) {
        let j = 2u * (c * H * M + i);
        part[((t * Cc + c) * H + h) * M + m] = dC[j] * xr - dC[j + 1u] * xi;
      }
    }
  }
  state[2u * i] = xr;
  state[2u * i + 1u] = xi;
}`,

  // p: [rows = T·Cc·H, M]; part: [rows, M]; y: [rows] = 2·Σ_m part (four partial sums)
  s4DiagOut: HEAD + /* wgsl */ `
@group(0) @binding(1) var<storage, read> part: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
${THREAD_MAIN} {
  let rows = p[0]; let M = p[1];
  let o = flat(g, nw);
  if (o >= rows) { return; }
  let b = o * M;
  var s0 = 0.0; var s1 = 0.0; var s2 = 0.0; var s3 = 0.0;
  var m = 0u;
  for (; m + 4u <= M; m += 4u) { s0 += part[b + m]; s1 += part[b + m + 1u]; s2 += part[b + m + 2u]; s3 += part[b + m + 3u]; }
  for (; m < M; m++) { s0 += part[b + m]; }
  y[o] = 2.0 * ((s0 + s1) + (s2 + s3));
}`,

  // p: [T, H, M, R, Cc, skip]; EDB: [3, H, M, 2] = E, D, B; PW: [2, R, H, M, 2] = P, W (packed: at most
  // 8 storage buffers, WebGPU's default limit); dC: [Cc, H, M, 2]; u: [T, H]; state: [H, M, 2] in/out;
  // y: [T, Cc·H]. One workgroup per channel; sv holds the R low-rank scalars.
  s4DplrScan: HEAD + REDUCE + /* wgsl */ `
@group(0) @binding(1) var<storage, read> EDB: array<f32>;
@group(0) @binding(2) var<storage, read> PW: array<f32>;
@group(0) @binding(3) var<storage, read> dC: array<f32>;
@group(0) @binding(4) var<storage, read> u: array<f32>;
@group(0) @binding(5) var<storage, read_write> state: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;
var<workgroup> sv: array<f32, ${MAX_RANK}>;
${WG_MAIN} {
  let T = p[0]; let H = p[1]; let M = p[2]; let R = p[3]; let Cc = p[4]; let skip = p[5];
  let h = wid.x + wid.y * nw.x;
  if (h >= H) { return; }
  let CH = Cc * H; let HM2 = H * M * 2u; let Do = HM2; let Bo = 2u * HM2; let Wo = R * HM2;
  for (var t = 0u; t < T; t++) {
    let u2 = 2.0 * u[t * H + h];
    // s_r = 2·Re(Q_r·x) = 2·Σ (P.re·x.re + P.im·x.im)
    for (var r = 0u; r < R; r++) {
      var acc = 0.0;
      for (var m = l; m < M; m += 64u) {
        let i = (h * M + m) * 2u; let po = r * HM2 + i;
        acc += PW[po] * state[i] + PW[po + 1u] * state[i + 1u];
      }
      let tot = reduce(l, acc);
      if (l == 0u) { sv[r] = 2.0 * tot; }
    }
    workgroupBarrier();
    // w = E⊙x + 2B·u − Σ_r P_r·s_r, in place of x
    for (var m = l; m < M; m += 64u) {
      let i = (h * M + m) * 2u;
      let xr = state[i]; let xi = state[i + 1u];
      var wr = EDB[i] * xr - EDB[i + 1u] * xi + EDB[Bo + i] * u2;
      var wi = EDB[i] * xi + EDB[i + 1u] * xr + EDB[Bo + i + 1u] * u2;
      for (var r = 0u; r < R; r++) { wr -= PW[r * HM2 + i] * sv[r]; wi -= PW[r * HM2 + i + 1u] * sv[r]; }
      state[i] = wr; state[i + 1u] = wi;
    }
    workgroupBarrier();
    // s_r = 2·Re(W_r·w)
    for (var r = 0u; r < R; r++) {
      var acc = 0.0;
      for (var m = l; m < M; m += 64u) {
        let i = (h * M + m) * 2u; let wo = Wo + r * HM2 + i;
        acc += PW[wo] * state[i] - PW[wo + 1u] * state[i + 1u];
      }
      let tot = reduce(l, acc);
      if (l == 0u) { sv[r] = 2.0 * tot; }
    }
    workgroupBarrier();
    // x = D⊙(w − Σ_r P_r·s_r)
    for (var m = l; m < M; m += 64u) {
      let i = (h * M + m) * 2u;
      var vr = state[i]; var vi = state[i + 1u];
      for (var r = 0u; r < R; r++) { vr -= PW[r * HM2 + i] * sv[r]; vi -= PW[r * HM2 + i + 1u] * sv[r]; }
      state[i] = EDB[Do + i] * vr - EDB[Do + i + 1u] * vi;
      state[i + 1u] = EDB[Do + i] * vi + EDB[Do + i + 1u] * vr;
    }
    workgroupBarrier();
    if (skip == 0u) {
      for (var c = 0u; c < Cc; c++) {
        var acc = 0.0;
        for (var m = l; m < M; m += 64u) {
          let i = (h * M + m) * 2u; let j = c * HM2 + i;
          acc += dC[j] * state[i] - dC[j + 1u] * state[i + 1u];
        }
        let tot = reduce(l, acc);
        if (l == 0u) { y[t * CH + c * H + h] = 2.0 * tot; }
      }
    }
  }
}`,

  // p: [T, D, eps]; x: [T, D]; w, b: [D]; out: [T, D]
  s4LayerNorm: HEAD + REDUCE + /* wgsl */ `
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
${WG_MAIN} {
  let T = p[0]; let D = p[1]; let eps = pf(2u);
  let t = wid.x + wid.y * nw.x;
  if (t >= T) { return; }
  var s = 0.0;
  for (var d = l; d < D; d += 64u) { s += x[t * D + d]; }
  let mean = reduce(l, s) / f32(D);
  var v = 0.0;
  for (var d = l; d < D; d += 64u) { let e = x[t * D + d] - mean; v += e * e; }
  let inv = inverseSqrt(reduce(l, v) / f32(D) + eps);
  for (var d = l; d < D; d += 64u) { out[t * D + d] = (x[t * D + d] - mean) * inv * w[d] + b[d]; }
}`,

  // p: [n, kind]; x <- act(x) (kinds as kernels/gpu/s4.ts ACTIVATION_CODES; forms as wasm/src/s4.rs)
  s4Activation: HEAD + /* wgsl */ `
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
fn erf_(z: f32) -> f32 {
  if (abs(z) >= 4.0) { return sign(z); }
  let x2 = z * z;
  var p = -2.7261423e-10 * x2 + 2.7706815e-8;
  p = p * x2 - 2.101024e-6;
  p = p * x2 - 5.6925062e-5;
  p = p * x2 - 7.3499064e-4;
  p = p * x2 - 2.9546001e-3;
  p = p * x2 - 1.6096033e-2;
  var q = -1.4566072e-5 * x2 - 2.1337405e-4;
  q = q * x2 - 1.682827e-3;
  q = q * x2 - 7.373329e-3;
  q = q * x2 - 1.4264739e-2;
  return z * p / q;
}
${THREAD_MAIN} {
  let i = flat(g, nw);
  if (i >= p[0]) { return; }
  let kind = p[1];
  let v = x[i];
  var r = v;
  switch kind {
    case 1u: { r = 0.5 * v * (1.0 + erf_(v * 0.7071067811865476)); }
    case 2u: {
      let a = abs(v);
      if (a < 0.25) {
        let x2 = v * v;
        r = v + v * x2 * (-0.3333333333333333 + x2 * (0.13333333333333333 + x2 * (-0.05396825396825397 + x2 * 0.021869488536155203)));
      } else {
        r = sign(v) * (1.0 - 2.0 / (exp(2.0 * min(a, 40.0)) + 1.0));
      }
    }
    case 3u: { r = max(v, 0.0); }
    case 4u: {
      if (v <= 0.0) {
        if (v > -0.25) { r = v + v * v * (0.5 + v * (0.16666666666666666 + v * (0.041666666666666664 + v * (0.008333333333333333 + v * 0.001388888888888889)))); }
        else { r = exp(v) - 1.0; }
      }
    }
    case 5u: { r = v / (1.0 + exp(min(-v, 80.0))); }
    case 6u: { r = 1.0 / (1.0 + exp(min(-v, 80.0))); }
    case 7u: {
      if (v <= 20.0) {
        let e = exp(v); let uu = e + 1.0;
        r = log(uu) - (uu - 1.0 - e) / uu;
      }
    }
    default: {}
  }
  x[i] = r;
}`,

  // p: [T, D]; x: [T, 2D]; y: [T, D] = a·sigmoid(b)
  s4Glu: HEAD + /* wgsl */ `
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
${THREAD_MAIN} {
  let T = p[0]; let D = p[1];
  let i = flat(g, nw);
  if (i >= T * D) { return; }
  let t = i / D; let d = i % D;
  y[i] = x[t * 2u * D + d] / (1.0 + exp(min(-x[t * 2u * D + D + d], 80.0)));
}`,
} as const;

type ShaderName = keyof typeof S4_SHADERS;
type Op = (a: any) => Promise<{ result: unknown; transfer?: ArrayBuffer[] }>;

/** The worker-side S4 ops of the WGSL engine. Pipelines compile on first use, inside the worker's
 *  per-op error scopes (a WGSL error is a BackendError of that op). */
export function wgslS4Ops(device: GPUDevice): Record<string, Op> {
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const pipelines = new Map<ShaderName, GPUComputePipeline>();
  const pipeline = (name: ShaderName) => {
    let pl = pipelines.get(name);
    if (!pl) {
      pl = device.createComputePipeline({ layout: "auto", compute: { module: device.createShaderModule({ code: S4_SHADERS[name] }), entryPoint: "main" } });
      pipelines.set(name, pl);
    }
    return pl;
  };

  /** One op: its buffers, passes and read-backs; every buffer is destroyed at the end. */
  class Job {
    readonly temps: GPUBuffer[] = [];
    up(a: Float32Array | Uint32Array | null, floats = a?.length ?? 0): GPUBuffer {
      const b = device.createBuffer({ size: Math.max(16, floats * 4), usage });
      if (a && a.byteLength) device.queue.writeBuffer(b, 0, a.buffer, a.byteOffset, a.byteLength);
      this.temps.push(b);
      return b;
    }
    run(passes: Pass<ShaderName>[], outs: [GPUBuffer, number][]): Promise<Float32Array[]> {
      return runPasses(device, pipeline, passes, outs, this.temps);
    }
    dispose(): void {
      for (const b of this.temps) b.destroy();
    }
  }
  const job = async <T>(f: (j: Job) => Promise<T>): Promise<T> => {
    const j = new Job();
    try {
      return await f(j);
    } finally {
      j.dispose();
    }
  };
  const out = (r: Float32Array) => ({ result: r, transfer: [r.buffer as ArrayBuffer] });

  return {
    "s4.vandermonde": (a: VandermondeMsg) =>
      job(async (j) => {
        const { Cc, H, M, L } = a;
        const w = vandermondeWeights(a.v, a.z, a.x0, Cc, H, M);
        const y = j.up(null, Cc * H * L);
        const [r] = await j.run([{ shader: "s4Vandermonde", params: [Cc * H, H, M, L], buffers: [j.up(w), j.up(polarPowers(a.z, H, M, L)), y], count: Cc * H * L }], [[y, Cc * H * L]]);
        return out(r);
      }),
    "s4.cauchy": (a: CauchyMsg) =>
      job(async (j) => {
        const { Cc, H, M, R, L } = a;
        const nodes = Math.floor(L / 2) + 1;
        const { avec, bvec, nb, na, nbv } = cauchyOperands(a);
        const nr = H * nodes * na * nbv;
        const rb = j.up(null, 2 * nr);
        const [sums] = await j.run(
          [{ shader: "s4CauchySums", params: [H, M, L, nodes, na, nbv], buffers: [j.up(avec), j.up(bvec), j.up(a.lambda), j.up(a.dt), rb], count: nr }],
          [[rb, 2 * nr]],
        );
        // the rank-R Woodbury solves per node, in float64 on this (the worker's) CPU
        const spec = woodburySpectra(sums, Cc, H, R, L, nb);
        const rows = nb * Cc * H;
        const y = j.up(null, rows * L);
        const [r] = await j.run([{ shader: "s4Irfft", params: [rows, L, nodes], buffers: [j.up(spec), y], count: rows * L }], [[y, rows * L]]);
        return out(r);
      }),
    "s4.conv": (a: ConvMsg) =>
      job(async (j) => {
        const { T, H, Cc, taps } = a;
        const CH = Cc * H;
        const y = j.up(null, T * CH);
        const [r] = await j.run(
          [{ shader: "s4Conv", params: [T, H, CH, taps, a.ks ? 1 : 0], buffers: [j.up(a.u), j.up(a.k), j.up(a.ks), y], count: T * CH }],
          [[y, T * CH]],
        );
        return out(r);
      }),
    "s4.diagScan": (a: DiagMsg) =>
      job(async (j) => {
        const { T, H, M, Cc } = a;
        const n = H * M * 2;
        const rows = a.skip ? 0 : T * Cc * H;
        const state = j.up(a.state);
        const part = j.up(null, rows * M);
        const y = j.up(null, rows);
        const [yo, so] = await j.run(
          [
            { shader: "s4DiagLanes", params: [T, H, M, Cc, a.skip ? 1 : 0], buffers: [j.up(a.dA), j.up(a.dB), j.up(a.dC), j.up(a.u), state, part], count: H * M },
            { shader: "s4DiagOut", params: [rows, M], buffers: [part, y], count: rows },
          ],
          [[y, rows], [state, n]],
        );
        return { result: { y: yo, state: so }, transfer: [yo.buffer as ArrayBuffer, so.buffer as ArrayBuffer] };
      }),
    "s4.dplrScan": (a: DplrMsg) =>
      job(async (j) => {
        const { T, H, M, R, Cc } = a;
        if (R > MAX_RANK) throw new Error(`dplrScan: rank ${R} exceeds the WGSL kernel's ${MAX_RANK}`);
        const n = H * M * 2;
        const EDB = new Float32Array(3 * n);
        EDB.set(a.E);
        EDB.set(a.D, n);
        EDB.set(a.B, 2 * n);
        const PW = new Float32Array(2 * R * n);
        PW.set(a.P);
        PW.set(a.W, R * n);
        const state = j.up(a.state);
        const y = j.up(null, a.skip ? 0 : T * Cc * H);
        const [yo, so] = await j.run(
          [{ shader: "s4DplrScan", params: [T, H, M, R, Cc, a.skip ? 1 : 0], buffers: [j.up(EDB), j.up(PW), j.up(a.dC), j.up(a.u), state, y], count: H, perWorkgroup: true }],
          [[y, a.skip ? 0 : T * Cc * H], [state, n]],
        );
        return { result: { y: yo, state: so }, transfer: [yo.buffer as ArrayBuffer, so.buffer as ArrayBuffer] };
      }),
    "s4.layerNorm": (a: { T: number; D: number; eps: number; x: Float32Array; w: Float32Array; b: Float32Array }) =>
      job(async (j) => {
        const y = j.up(null, a.T * a.D);
        const [r] = await j.run(
          [{ shader: "s4LayerNorm", params: [a.T, a.D, a.eps], floats: [2], buffers: [j.up(a.x), j.up(a.w), j.up(a.b), y], count: a.T, perWorkgroup: true }],
          [[y, a.T * a.D]],
        );
        return out(r);
      }),
    "s4.activation": (a: { kind: number; x: Float32Array }) =>
      job(async (j) => {
        const x = j.up(a.x);
        const [r] = await j.run([{ shader: "s4Activation", params: [a.x.length, a.kind], buffers: [x], count: a.x.length }], [[x, a.x.length]]);
        return out(r);
      }),
    "s4.glu": (a: { T: number; D: number; x: Float32Array }) =>
      job(async (j) => {
        const y = j.up(null, a.T * a.D);
        const [r] = await j.run([{ shader: "s4Glu", params: [a.T, a.D], buffers: [j.up(a.x), y], count: a.T * a.D }], [[y, a.T * a.D]]);
        return out(r);
      }),
  };
}
