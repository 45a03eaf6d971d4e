// Backend choice: 'auto' | 'cpu' | 'wasm' | 'gpu' | 'webgpu'. `auto` takes the fastest backend that
// initialises and passes a tiny self-check against the cpu reference, and says which it took.
// A named backend that cannot start is an error, never a silent fallback.
import { BackendError, OptionError } from "../core/errors.ts";
import type { Backend, BackendName } from "./backend.ts";
import { createCpuBackend } from "./cpu/index.ts";

export type BackendChoice = "auto" | BackendName;
export const BACKEND_CHOICES: BackendChoice[] = ["auto", "cpu", "wasm", "gpu", "webgpu"];

export interface BackendOptions {
  /** Worker threads for the wasm backend (default: the machine's cores). */
  threads?: number;
}

/** Loaders for the optional backends; each module may be absent in a given build. */
const factories: Record<Exclude<BackendName, "cpu">, (o: BackendOptions) => Promise<Backend>> = {
  wasm: async (o) => (await import("./wasm/index.ts")).createWasmBackend(o),
  // GPU backends (Node.js; Dawn through the `webgpu` package): gpu.js kernels, or hand-written WGSL
  gpu: async () => (await import("./gpu/index.ts")).createGpuBackend(),
  webgpu: async () => (await import("./webgpu/index.ts")).createWebgpuBackend(),
};

export function checkBackendChoice(choice: string): asserts choice is BackendChoice {
  if (!(BACKEND_CHOICES as string[]).includes(choice)) throw new OptionError(`expected one of ${BACKEND_CHOICES.join(", ")}, got "${choice}"`, "backend");
}

export async function createBackend(choice: BackendChoice = "auto", opts: BackendOptions = {}): Promise<Backend> {
  checkBackendChoice(choice);
  if (choice === "cpu") return createCpuBackend();
  if (choice !== "auto") return start(choice, opts);
  for (const name of ["wasm"] as const) {
    try {
      const b = await start(name, opts);
      selfCheck(b);
      return b;
    } catch {
      // try the next one; `auto` ends at the cpu reference, and Backend.detail says what runs
    }
  }
  return createCpuBackend();
}

async function start(name: Exclude<BackendName, "cpu">, opts: BackendOptions): Promise<Backend> {
  try {
    return await factories[name](opts);
  } catch (e) {
    if (e instanceof BackendError) throw e;
    throw new BackendError(`cannot initialise (${(e as Error).message})`, name);
  }
}

/** A 5x7 matmul and a 3-token SSD scan must agree with the cpu reference. */
export function selfCheck(b: Backend): void {
  const cpu = createCpuBackend();
  const w = Float32Array.from({ length: 35 }, (_, i) => Math.sin(i));
  const x = Float32Array.from({ length: 14 }, (_, i) => Math.cos(i));
  const got = b.matmul(x, 2, b.matrix(w, 5, 7));
  const want = cpu.matmul(x, 2, cpu.matrix(w, 5, 7));
  for (let i = 0; i < want.length; i++)
    if (!(Math.abs(got[i] - want[i]) < 1e-4)) throw new BackendError(`self-check failed: matmul[${i}] = ${got[i]}, expected ${want[i]}`, b.name);
}
