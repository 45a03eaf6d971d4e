// Complex FFT of any length (float64) and the S4 FFT convolution op.
//
//   fft(re, im, inverse): X[k] = Σ_j x[j]·exp(∓2πi·jk/n), in place, unnormalised (inverse: + sign, no 1/n)
//     n a power of two: iterative radix-2 (bit reversal, then butterflies)
//     any other n:      Bluestein's chirp-z: jk = (j² + k² − (k−j)²)/2 turns the DFT into a convolution
//                       with the chirp exp(∓iπ·j²/n), done by power-of-two FFTs of length >= 2n−1
//   irfftReal(spec, L): the real sequence of length L whose DFT is the Hermitian spectrum spec[0..L/2]
//   fftConv:            u: [T, H] (*) k: [Cc, H, Lk] -> y: [T, Cc·H], causal, zero-padded to a power of
//                       two >= T + taps − 1 (so the circular convolution is the linear one); one complex
//                       FFT carries both real sequences (re = u, im = k) and is split by symmetry.
import type { FftConvArgs } from "../backend.ts";

interface Radix2Plan {
  n: number;
  rev: Uint32Array;
  cos: Float64Array;
  sin: Float64Array;
}

interface BluesteinPlan {
  n: number;
  m: number;
  /** chirp w[j] = exp(-iπ j²/n) (forward sign). */
  wr: Float64Array;
  wi: Float64Array;
  /** FFT of the conjugate chirp b[j] = conj(w[|j|]) laid out circularly over m, for each sign. */
  bfr: Float64Array;
  bfi: Float64Array;
}

const radix2Plans = new Map<number, Radix2Plan>();
const bluesteinPlans = new Map<number, BluesteinPlan>();

export const isPowerOfTwo = (n: number) => n > 0 && (n & (n - 1)) === 0;
export function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

function radix2Plan(n: number): Radix2Plan {
  let p = radix2Plans.get(n);
  if (p) return p;
  const bits = Math.log2(n);
  const rev = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    let r = 0;
    for (let b = 0, x = i; b < bits; b++, x >>= 1) r = (r << 1) | (x & 1);
    rev[i] = r;
  }
  const cos = new Float64Array(n / 2);
  const sin = new Float64Array(n / 2);
  for (let i = 0; i < n / 2; i++) {
    cos[i] = Math.cos((2 * Math.PI * i) / n);
    sin[i] = Math.sin((2 * Math.PI * i) / n);
  }
  p = { n, rev, cos, sin };
  radix2Plans.set(n, p);
  return p;
}

function fftRadix2(re: Float64Array, im: Float64Array, inverse: boolean): void {
  const n = re.length;
  if (n <= 1) return;
  const { rev, cos, sin } = radix2Plan(n);
  for (let i = 0; i < n; i++) {
    const j = rev[i];
    if (j > i) {
      let t = re[i]; re[i] = re[j]; re[j] = t;
      t = im[i]; im[i] = im[j]; im[j] = t;
    }
  }
  const sgn = inverse ? 1 : -1;
  for (let size = 2; size <= n; size *= 2) {
    const half = size / 2;
    const step = n / size;
    for (let start = 0; start < n; start += size) {
      for (let k = 0; k < half; k++) {
        const wr = cos[k * step];
        const wi = sgn * sin[k * step];
        const a = start + k;
        const b = a + half;
        const xr = re[b] * wr - im[b] * wi;
        const xi = re[b] * wi + im[b] * wr;
        re[b] = re[a] - xr; im[b] = im[a] - xi;
        re[a] += xr; im[a] += xi;
      }
    }
  }
}

function bluesteinPlan(n: number): BluesteinPlan {
  let p = bluesteinPlans.get(n);
  if (p) return p;
  const m = nextPowerOfTwo(2 * n - 1);
  const wr = new Float64Array(n);
  const wi = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    // j² mod 2n keeps the angle small (exact in float64 for any n we can allocate)
    const a = (Math.PI * ((j * j) % (2 * n))) / n;
    wr[j] = Math.cos(a);
    wi[j] = -Math.sin(a);
  }
  const bfr = new Float64Array(m);
  const bfi = new Float64Array(m);
  bfr[0] = wr[0]; bfi[0] = -wi[0];
  for (let j = 1; j < n; j++) {
    bfr[j] = bfr[m - j] = wr[j];
    bfi[j] = bfi[m - j] = -wi[j];
  }
  fftRadix2(bfr, bfi, false);
  p = { n, m, wr, wi, bfr, bfi };
  bluesteinPlans.set(n, p);
  return p;
}

function fftBluestein(re: Float64Array, im: Float64Array, inverse: boolean): void {
  const n = re.length;
  const { m, wr, wi, bfr, bfi } = bluesteinPlan(n);
  // the inverse transform is the forward one on conjugated data, conjugated back
  const s = inverse ? -1 : 1;
  const ar = new Float64Array(m);
  const ai = new Float64Array(m);
  for (let j = 0; j < n; j++) {
    const xr = re[j];
    const xi = s * im[j];
    ar[j] = xr * wr[j] - xi * wi[j];
    ai[j] = xr * wi[j] + xi * wr[j];
  }
  fftRadix2(ar, ai, false);
  for (let k = 0; k < m; k++) {
    const xr = ar[k] * bfr[k] - ai[k] * bfi[k];
    ai[k] = ar[k] * bfi[k] + ai[k] * bfr[k];
    ar[k] = xr;
  }
  fftRadix2(ar, ai, true);
  for (let k = 0; k < n; k++) {
    const yr = ar[k] / m;
    const yi = ai[k] / m;
    re[k] = yr * wr[k] - yi * wi[k];
    im[k] = s * (yr * wi[k] + yi * wr[k]);
  }
}

/** In-place complex DFT of any length (unnormalised both ways). */
export function fft(re: Float64Array, im: Float64Array, inverse = false): void {
  if (re.length !== im.length) throw new RangeError(`fft: re has ${re.length} values, im ${im.length}`);
  if (re.length <= 1) return;
  if (isPowerOfTwo(re.length)) fftRadix2(re, im, inverse);
  else fftBluestein(re, im, inverse);
}

/** The real sequence x[0..L) whose DFT is the Hermitian spectrum given at k = 0..floor(L/2) (torch.fft.irfft(spec, n=L)). */
export function irfftReal(specRe: Float64Array, specIm: Float64Array, L: number, out: Float64Array = new Float64Array(L)): Float64Array {
  const re = new Float64Array(L);
  const im = new Float64Array(L);
  const half = Math.floor(L / 2);
  for (let k = 0; k <= half; k++) {
    re[k] = specRe[k];
    im[k] = specIm[k];
  }
  im[0] = 0; // irfft ignores the imaginary part of the DC (and Nyquist) bins
  if (L % 2 === 0) im[half] = 0;
  for (let k = half + 1; k < L; k++) {
    re[k] = specRe[L - k];
    im[k] = -specIm[L - k];
  }
  fft(re, im, true);
  for (let i = 0; i < L; i++) out[i] = re[i] / L;
  return out;
}

/** y[t, c·H+h] = Σ_{j ≤ t} k[c,h,j]·u[t−j,h] (+ kState[c,h,t]). */
export function fftConv(a: FftConvArgs): Float32Array {
  const { T, H, Cc, Lk, u, k } = a;
  const CH = Cc * H;
  const y = a.out ?? new Float32Array(T * CH);
  if (u.length < T * H) throw new RangeError(`fftConv: u has ${u.length} values, expected [${T}, ${H}]`);
  if (k.length < Cc * H * Lk) throw new RangeError(`fftConv: k has ${k.length} values, expected [${Cc}, ${H}, ${Lk}]`);
  if (T === 0) return y;
  const taps = Math.min(Lk, T);
  const n = nextPowerOfTwo(T + taps - 1);
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  const pr = new Float64Array(n);
  const pi = new Float64Array(n);
  const Ls = a.Ls ?? T;
  for (let c = 0; c < Cc; c++)
    for (let h = 0; h < H; h++) {
      re.fill(0);
      im.fill(0);
      for (let t = 0; t < T; t++) re[t] = u[t * H + h];
      const kOff = (c * H + h) * Lk;
      for (let j = 0; j < taps; j++) im[j] = k[kOff + j];
      fft(re, im, false);
      // Z = U + iK with U, K the spectra of real sequences: U[f] = (Z[f] + conj Z[n−f])/2,
      // K[f] = (Z[f] − conj Z[n−f])/(2i); the product U·K goes back through one inverse FFT.
      for (let f = 0; f < n; f++) {
        const g = (n - f) & (n - 1);
        const ur = (re[f] + re[g]) / 2;
        const ui = (im[f] - im[g]) / 2;
        const kr = (im[f] + im[g]) / 2;
        const ki = -(re[f] - re[g]) / 2;
        pr[f] = ur * kr - ui * ki;
        pi[f] = ur * ki + ui * kr;
      }
      fft(pr, pi, true);
      const col = c * H + h;
      const sOff = (c * H + h) * Ls;
      for (let t = 0; t < T; t++) y[t * CH + col] = pr[t] / n + (a.kState ? a.kState[sOff + t] : 0);
    }
  return y;
}
