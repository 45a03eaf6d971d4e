// The webgpu backend: hand-written WGSL compute shaders (shaders.ts) run by a worker that owns a
// Dawn GPUDevice (the `webgpu` npm package: Vulkan on Linux, SwiftShader in CI). See docs/gpu.md.
import { createHostBackend, type GpuBackend } from "../gpu/backend.ts";

export interface WebgpuBackendOptions {
  /** Longest wait for one op before the device is declared lost (ms). */
  timeoutMs?: number;
  /** Extra Dawn toggles for `create()`, e.g. ["backend=vulkan"]. */
  dawnFlags?: string[];
}

export function createWebgpuBackend(opts: WebgpuBackendOptions = {}): Promise<GpuBackend> {
  return createHostBackend({ engine: "webgpu", ...opts });
}
