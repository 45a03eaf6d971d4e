// The cpu reference of the S4 ops (kernels/backend.ts S4Ops), one file per op family:
// fft.ts (FFT convolution), s4-kernel.ts (Vandermonde / Cauchy kernels), s4-scan.ts (recurrences),
// s4-pointwise.ts (LayerNorm, activations, GLU).
import type { S4Ops } from "../backend.ts";
import { fftConv } from "./fft.ts";
import { cauchyKernel, vandermondeKernel } from "./s4-kernel.ts";
import { activation, glu, layerNorm } from "./s4-pointwise.ts";
import { diagScan, dplrScan } from "./s4-scan.ts";

export const cpuS4Ops: S4Ops = { vandermondeKernel, cauchyKernel, fftConv, diagScan, dplrScan, layerNorm, activation, glu };
