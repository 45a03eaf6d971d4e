// y: [T, rows] = x: [T, cols] · Wᵀ, W: [rows, cols]. Plain loops, float64 accumulation.
export function matmul(x: Float32Array, T: number, w: Float32Array, rows: number, cols: number, out: Float32Array): Float32Array {
  for (let t = 0; t < T; t++) {
    const xo = t * cols;
    for (let r = 0; r < rows; r++) {
      const wo = r * cols;
      let s = 0;
      for (let c = 0; c < cols; c++) s += x[xo + c] * w[wo + c];
      out[t * rows + r] = s;
    }
  }
  return out;
}

/** out: [T, cols] = W[ids[t], :]. */
export function embed(ids: ArrayLike<number>, w: Float32Array, rows: number, cols: number, out: Float32Array): Float32Array {
  for (let t = 0; t < ids.length; t++) {
    const id = ids[t];
    if (!Number.isInteger(id) || id < 0 || id >= rows) throw new RangeError(`token id ${id} outside the embedding's ${rows} rows`);
    out.set(w.subarray(id * cols, (id + 1) * cols), t * cols);
  }
  return out;
}
