// The webgpu backend: hand-written WGSL compute shaders (shaders.ts) run by a worker that owns a
// Dawn GPUDevice (the `webgpu` npm package: Vulkan on Linux, SwiftShader in CI). See docs/gpu.md.
import { createHostBackend, type GpuBackend } from "../gpu/backend.ts";
import { hostS4Ops } from "../gpu/s4.ts";
import type { FaultSpec } from "./faults.ts";

export type { FaultSpec, FaultMode } from "./faults.ts";

export interface WebgpuBackend extends GpuBackend {
  /** Test hook (faults.ts): the afterOps-th op from now fails in the worker; mode "lost" fails every later op too. */
  injectFault(f: FaultSpec): void;
}

export interface WebgpuBackendOptions {
  /** Longest wait for one op before the device is declared lost (ms). */
  timeoutMs?: number;
  /** Extra Dawn toggles for `create()`, e.g. ["backend=vulkan"]. */
  dawnFlags?: string[];
}

export async function createWebgpuBackend(opts: WebgpuBackendOptions = {}): Promise<WebgpuBackend> {
  const b = await createHostBackend({ engine: "webgpu", ...opts });
  return Object.assign(b, { s4: hostS4Ops(b), injectFault: (f: FaultSpec) => void b.call("injectFault", f) });
}
