// The gpu backend: gpu.js kernels (kernels.ts) in gpu.js's webgpu mode, run by a worker that owns the
// device (host.ts). A gpu.js fallback to its cpu / webasm modes, or a loop longer than a kernel's
// loopMaxIterations, is a BackendError (engine.ts). See docs/gpu.md.
import { createHostBackend, type GpuBackend } from "./backend.ts";
import { hostS4Ops } from "./s4.ts";

export type { GpuBackend } from "./backend.ts";

export interface GpuBackendOptions {
  /** Longest wait for one op before the device is declared lost (ms). */
  timeoutMs?: number;
  /** Extra Dawn toggles for `create()`. */
  dawnFlags?: string[];
}

export function createGpuBackend(opts: GpuBackendOptions = {}): Promise<GpuBackend> {
  return createHostBackend({ engine: "gpu", ...opts }).then((b) => Object.assign(b, { s4: hostS4Ops(b) }));
}
