// Mode guards of the gpu (gpu.js) backend. gpu.js silently falls back to its cpu / webasm kernels,
// and silently cuts loops whose bound is not a constant at `loopMaxIterations` (default 1000): both
// must be errors, never a slow or wrong pass. These tests show the hazards on real gpu.js objects
// (webgpu mode on Dawn, cpu mode) and that checkMode / checkLoop refuse them.
import "./helpers/gpu.ts";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { checkLoop, checkMode, ModeError } from "../kernels/gpu/engine.ts";

const { create, globals } = (await import("webgpu")) as unknown as { create: (f: string[]) => GPU; globals: object };
Object.assign(globalThis, globals);
const nav = globalThis as { navigator?: { gpu?: GPU } };
if (!nav.navigator) Object.defineProperty(globalThis, "navigator", { value: { gpu: create([]) }, configurable: true, writable: true });
else if (!nav.navigator.gpu) Object.defineProperty(nav.navigator, "gpu", { value: create([]), configurable: true });
const { GPU: GpuJs } = (await import("gpu.js")) as unknown as { GPU: new (s: object) => { mode?: string; createKernel(f: unknown, s: object): any; destroy(): void } };

function sum(this: unknown, a: number[], n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += a[i];
  return s;
}

test("gpu.js webgpu mode runs here, and a loop longer than loopMaxIterations is cut silently (the hazard)", async () => {
  const gpu = new GpuJs({ mode: "webgpu" });
  const k = gpu.createKernel(sum, { output: [1], loopMaxIterations: 4 });
  const r = await k(new Float32Array(10).fill(1), 10);
  checkMode(gpu, k, "sum"); // a real webgpu kernel passes the mode guard
  assert.is(r[0], 4, "gpu.js summed only loopMaxIterations terms");
  assert.throws(() => checkLoop(k, 10, "sum"), (e: Error) => e instanceof ModeError && /exceeds loopMaxIterations 4/.test(e.message));
  checkLoop(k, 4, "sum");
  gpu.destroy();
});

test("a gpu.js kernel that is not a webgpu kernel (cpu fallback) fails the mode guard", async () => {
  const gpu = new GpuJs({ mode: "cpu" });
  const k = gpu.createKernel(sum, { output: [1], loopMaxIterations: 16 });
  k(new Float32Array(3).fill(1), 3);
  assert.throws(() => checkMode(gpu, k, "sum"), (e: Error) => e instanceof ModeError && /did not run in webgpu mode/.test(e.message));
  // a webgpu kernel that recorded a fallback reason fails too
  const fake = Object.assign(() => Promise.resolve(), { kernel: { constructor: { mode: "webgpu", name: "WebGPUKernel" } }, fallbackReason: "device lost" });
  assert.throws(() => checkMode({ mode: "webgpu" }, fake, "fake"), /fallback: device lost/);
});

test("the gpu backend refuses a call whose loop bound exceeds the compiled one (engine guard)", async () => {
  const { createGpuBackend } = await import("../kernels/gpu/index.ts");
  const b = await createGpuBackend();
  try {
    // the gpu backend reports the mode that really ran
    assert.match(b.detail, /^gpu\.js webgpu mode \(WGSL via Dawn\) on /);
    // kernels are compiled per loop bound (next power of two), so a real call never truncates:
    // a 1500-column matmul (> the default 1000) equals the plain sum
    const cols = 1500;
    const m = b.matrix(new Float32Array(cols).fill(1), 1, cols);
    const y = b.matmul(new Float32Array(cols).fill(1), 1, m);
    assert.is(y[0], cols);
  } finally {
    b.dispose();
  }
});

test.run();
