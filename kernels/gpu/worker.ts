// The GPU worker: owns the GPUDevice (Dawn through the `webgpu` package) and runs one engine, either
// hand-written WGSL (kernels/webgpu/engine.ts) or gpu.js kernels (kernels/gpu/engine.ts). Messages
// are handled one at a time; each reply is posted, then the shared flag is raised and notified
// (kernels/gpu/host.ts explains the protocol).
import { createRequire } from "node:module";
import { workerData, type MessagePort } from "node:worker_threads";

export interface Engine {
  /** Returns the op's result and the buffers to transfer with it. */
  run(op: string, args: any): Promise<{ result: unknown; transfer?: ArrayBuffer[] }> | { result: unknown; transfer?: ArrayBuffer[] };
  /** Frees the session's resident buffers. */
  close?(): void | Promise<void>;
}

export interface Adapter {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
}

/** Loads dawn.node: SCANSTREAM_DAWN_NODE names the file (the device bundle), else the `webgpu` package. */
export async function loadDawn(flags: string[]): Promise<GPU> {
  let mod: { create: (flags: string[]) => GPU; globals: Record<string, unknown> };
  const file = process.env.SCANSTREAM_DAWN_NODE;
  if (file) mod = createRequire(import.meta.url)(file);
  else mod = (await import("webgpu")) as unknown as typeof mod;
  Object.assign(globalThis, mod.globals);
  return mod.create(flags);
}

export async function requestDevice(gpu: GPU): Promise<{ adapter: GPUAdapter; device: GPUDevice; info: Adapter }> {
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter)
    throw new Error(
      "no WebGPU adapter (Dawn found no Vulkan driver: install libvulkan1 and a driver, e.g. SwiftShader from chromium-common with VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json)",
    );
  const lim = adapter.limits;
  const device = await adapter.requestDevice({
    requiredLimits: {
      maxStorageBufferBindingSize: lim.maxStorageBufferBindingSize,
      maxBufferSize: lim.maxBufferSize,
      maxStorageBuffersPerShaderStage: lim.maxStorageBuffersPerShaderStage,
      maxComputeWorkgroupStorageSize: lim.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: lim.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: lim.maxComputeWorkgroupSizeX,
    },
  });
  const i = adapter.info;
  return { adapter, device, info: { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description } };
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
    let lost: string | null = null;
    void device.lost.then((l) => (lost = `device lost: ${l.reason} ${l.message}`));
    const sessions = new Map<number, Engine>();
    let next = 1;
    port.on("message", async ({ op, args: msg }: { op: string; args: { session: number; args: any } | { engine: "webgpu" | "gpu" } }) => {
      try {
        if (lost) throw new Error(lost);
        if (op === "open") {
          const kind = (msg as { engine: "webgpu" | "gpu" }).engine;
          const made =
            kind === "webgpu"
              ? await (await import("../webgpu/engine.ts")).createWgslEngine(device, info)
              : await (await import("./engine.ts")).createGpuJsEngine(gpu, device, info);
          const session = next++;
          sessions.set(session, made.engine);
          reply({ ok: true, result: { session, detail: made.detail } });
          return;
        }
        const { session, args } = msg as { session: number; args: any };
        const engine = sessions.get(session);
        if (!engine) throw new Error(`session ${session} is closed`);
        if (op === "close") {
          await engine.close?.();
          sessions.delete(session);
          reply({ ok: true, result: null });
          return;
        }
        device.pushErrorScope("validation");
        device.pushErrorScope("out-of-memory");
        const { result, transfer } = await engine.run(op, args);
        const oom = await device.popErrorScope();
        const val = await device.popErrorScope();
        if (oom || val) throw new Error((oom ?? val)!.message);
        reply({ ok: true, result }, transfer);
      } catch (e) {
        reply({ ok: false, error: lost ?? (e as Error).message ?? String(e) });
      }
    });
    port.postMessage({ ok: true, result: { adapter: info } });
  } catch (e) {
    port.postMessage({ ok: false, error: (e as Error).message ?? String(e) });
  }
}

void main();
