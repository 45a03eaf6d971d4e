// Accuracy of the wasm fftConv (float32 FFT) against the cpu reference (float64), as the worst
// per-element error in units of u·log2 n·‖u‖₂·‖k‖₂ (u = 2^-24) over random single-channel cases with
// short kernels (1-3 taps, T 1-70): the case where the norms of u and k differ most.
//   npx tsx bench/fft-conv-accuracy.ts [--cases 3000]
import { cpuS4Ops } from "../kernels/cpu/s4.ts";
import { createWasmBackend } from "../kernels/wasm/index.ts";
import { mulberry32 } from "../core/models/random.ts";

const argv = process.argv.slice(2);
const cases = Number(argv.includes("--cases") ? argv[argv.indexOf("--cases") + 1] : 3000);
const b = await createWasmBackend({ threads: 1, shared: false });
const r = mulberry32(12345);
let worst = 0;
let at = "";
for (let c = 0; c < cases; c++) {
  const T = 1 + Math.floor(r() * 70), Lk = 1 + Math.floor(r() * 3);
  const u = Float32Array.from({ length: T }, () => -2 + 4 * r());
  const k = Float32Array.from({ length: Lk }, () => -1 + 2 * r());
  const want = cpuS4Ops.fftConv({ T, H: 1, Cc: 1, Lk, u, k });
  const got = b.s4!.fftConv({ T, H: 1, Cc: 1, Lk, u, k });
  const taps = Math.min(Lk, T);
  const n = 2 ** Math.ceil(Math.log2(Math.max(1, T + taps - 1)));
  let nu = 0, nk = 0;
  for (const x of u) nu += x * x;
  for (let j = 0; j < taps; j++) nk += k[j] ** 2;
  for (let i = 0; i < T; i++) {
    const e = Math.abs(got[i] - want[i]) / (2 ** -24 * Math.sqrt(nu * nk) * Math.max(1, Math.log2(n)));
    if (e > worst) [worst, at] = [e, `T ${T}, ${Lk} taps, n ${n}`];
  }
}
b.dispose();
console.log(`${cases} cases: worst |Δ| = ${worst.toFixed(2)} u·log2 n·‖u‖‖k‖ (${at})`);
