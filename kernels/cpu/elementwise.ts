// Elementwise ops. softplus follows the kernels: v > 20 ? v : log1p(exp(v)).

export const silu = (v: number) => v / (1 + Math.exp(-v));
export const softplus = (v: number) => (v > 20 ? v : Math.log1p(Math.exp(v)));

/** dt: [T, H] <- clamp(softplus(dt + bias[h]), lo, hi). */
export function dtSoftplus(dt: Float32Array, T: number, H: number, bias: Float32Array, lo: number, hi: number): Float32Array {
  for (let t = 0; t < T; t++)
    for (let h = 0; h < H; h++) {
      const i = t * H + h;
      dt[i] = Math.min(hi, Math.max(lo, softplus(dt[i] + bias[h])));
    }
  return dt;
}

export function siluGate(y: Float32Array, z: Float32Array): Float32Array {
  for (let i = 0; i < y.length; i++) y[i] = y[i] * silu(z[i]);
  return y;
}

export function add(a: Float32Array, b: Float32Array): Float32Array {
  for (let i = 0; i < a.length; i++) a[i] += b[i];
  return a;
}
