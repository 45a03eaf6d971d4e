// The GPU worker in Node: owns the GPUDevice (Dawn through the `webgpu` package) and runs one engine,
// either hand-written WGSL (kernels/webgpu/engine.ts) or gpu.js kernels (kernels/gpu/engine.ts), through
// serve.ts (shared with the browser's worker.browser.ts). Messages are handled one at a time; each
// reply is posted, then the shared flag is raised and notified (kernels/gpu/host.ts explains the protocol).
import { createRequire } from "node:module";
import { workerData, type MessagePort } from "node:worker_threads";
import { createDispatcher, requestDevice, type Request } from "./serve.ts";

export type { Adapter, Engine } from "./serve.ts";
export { requestDevice } from "./serve.ts";

/** Loads dawn.node: SCANSTREAM_DAWN_NODE names the file (the device bundle), else the `webgpu` package. */
export async function loadDawn(flags: string[]): Promise<GPU> {
  let mod: { create: (flags: string[]) => GPU; globals: Record<string, unknown> };
  const file = process.env.SCANSTREAM_DAWN_NODE;
  if (file) mod = createRequire(import.meta.url)(file);
  else mod = (await import("webgpu")) as unknown as typeof mod;
  Object.assign(globalThis, mod.globals);
  return mod.create(flags);
}

async function main(): Promise<void> {
  const { port, flag, dawnFlags } = workerData as { port: MessagePort; flag: Int32Array; dawnFlags: string[] };
  const reply = (m: unknown, transfer: ArrayBuffer[] = []) => {
    port.postMessage(m, transfer);
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
  };
  try {
    const gpu = await loadDawn(dawnFlags);
    const { device, info } = await requestDevice(gpu);
    const dispatch = createDispatcher(gpu, device, info);
    port.on("message", async (req: Request) => {
      const { reply: r, transfer } = await dispatch(req);
      reply(r, transfer);
    });
    port.postMessage({ ok: true, result: { adapter: info } });
  } catch (e) {
    port.postMessage({ ok: false, error: (e as Error).message ?? String(e) });
  }
}

void main();
