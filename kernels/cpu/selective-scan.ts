// Mamba-1 diagonal selective scan, sequential (the reference):
//   h[d,n] <- exp(dt[t,d] A[d,n]) h[d,n] + dt[t,d] B[t,n] x[t,d];  y[t,d] = Σ_n h[d,n] C[t,n] + Dskip[d] x[t,d]
// x, dt: [T, D]; A: [D, N]; B, C: [T, N]; state: [D, N] in/out; y: [T, D].
import type { SelectiveScanArgs } from "../backend.ts";

export function selectiveScan(a: SelectiveScanArgs): Float32Array {
  const { T, D, N, x, dt, A, B, C, Dskip, state } = a;
  const y = a.out ?? new Float32Array(T * D);
  const h = Float64Array.from(state);
  for (let t = 0; t < T; t++)
    for (let d = 0; d < D; d++) {
      const dtv = dt[t * D + d];
      const xv = x[t * D + d];
      let acc = 0;
      for (let n = 0; n < N; n++) {
        const i = d * N + n;
        h[i] = Math.exp(dtv * A[i]) * h[i] + dtv * B[t * N + n] * xv;
        acc += h[i] * C[t * N + n];
      }
      y[t * D + d] = acc + Dskip[d] * xv;
    }
  state.set(h);
  return y;
}
