// The cpu backend: the readable reference every other backend is tested against.
// Plain loops with float64 accumulation; weights kept as float32 (rounded to the requested dtype).
import type { Backend, Matrix, WeightDType } from "../backend.ts";
import { roundWeights } from "../quant.ts";
import { conv1d } from "./conv1d.ts";
import { cpuDeltaRule } from "./delta-rule.ts";
import { add, dtSoftplus, siluGate } from "./elementwise.ts";
import { embed, matmul } from "./matmul.ts";
import { gatedRmsnorm, rmsnorm } from "./norm.ts";
import { cpuS4Ops } from "./s4.ts";
import { selectiveScan } from "./selective-scan.ts";
import { ssdScan } from "./ssd.ts";

interface CpuMatrix extends Matrix {
  data: Float32Array;
}

export function createCpuBackend(): Backend {
  return {
    name: "cpu",
    detail: "cpu (TypeScript reference, float64 accumulation)",
    matrix(w, rows, cols, dtype: WeightDType = "f32"): Matrix {
      if (w.length !== rows * cols) throw new RangeError(`matrix: ${w.length} values for [${rows}, ${cols}]`);
      const m: CpuMatrix = { rows, cols, dtype, data: roundWeights(w, rows, cols, dtype) };
      return m;
    },
    matmul: (x, T, w, out) => matmul(x, T, (w as CpuMatrix).data, w.rows, w.cols, out ?? new Float32Array(T * w.rows)),
    embed: (ids, w, out) => embed(ids, (w as CpuMatrix).data, w.rows, w.cols, out ?? new Float32Array(ids.length * w.cols)),
    rmsnorm: (x, T, D, weight, eps, out) => rmsnorm(x, T, D, weight, eps, out ?? new Float32Array(T * D)),
    gatedRmsnorm: (y, z, T, D, gs, weight, eps, nbg, out) =>
      gatedRmsnorm(y, z, T, D, gs, weight, eps, nbg, out ?? new Float32Array(T * D)),
    conv1d: (x, T, C, K, weight, bias, window, out) => conv1d(x, T, C, K, weight, bias, window, out ?? new Float32Array(T * C)),
    ssdScan,
    selectiveScan,
    dtSoftplus,
    siluGate,
    add,
    s4: cpuS4Ops,
    deltaRule: cpuDeltaRule,
    dispose() {},
  };
}
