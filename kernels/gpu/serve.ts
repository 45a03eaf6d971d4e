// The GPU worker's job once it has a device, shared by the Node worker (worker.ts: Dawn through the
// `webgpu` package) and the browser worker (worker.browser.ts: navigator.gpu): open engine sessions
// and run their ops inside error scopes. Only how the device is obtained and how replies travel
// differ between the two (host.ts / web-bridge.ts).

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

export type Reply = { ok: true; result: unknown } | { ok: false; error: string };
export type Request = { op: string; args: { session: number; args: any } | { engine: "webgpu" | "gpu" } };

export async function requestDevice(gpu: GPU): Promise<{ adapter: GPUAdapter; device: GPUDevice; info: Adapter }> {
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter)
    throw new Error(
      "no WebGPU adapter (Dawn found no Vulkan driver: install libvulkan1 and a driver, e.g. SwiftShader from chromium-common with VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json; in a browser: WebGPU disabled or no adapter)",
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

/** Runs one request at a time against `device`; resolves to the reply and the buffers to transfer. */
export function createDispatcher(gpu: GPU, device: GPUDevice, info: Adapter): (req: Request) => Promise<{ reply: Reply; transfer?: ArrayBuffer[] }> {
  let lost: string | null = null;
  void device.lost.then((l) => (lost = `device lost: ${l.reason} ${l.message}`));
  const sessions = new Map<number, Engine>();
  let next = 1;
  return async ({ op, args: msg }) => {
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
        return { reply: { ok: true, result: { session, detail: made.detail } } };
      }
      const { session, args } = msg as { session: number; args: any };
      const engine = sessions.get(session);
      if (!engine) throw new Error(`session ${session} is closed`);
      if (op === "close") {
        await engine.close?.();
        sessions.delete(session);
        return { reply: { ok: true, result: null } };
      }
      device.pushErrorScope("validation");
      device.pushErrorScope("out-of-memory");
      const { result, transfer } = await engine.run(op, args);
      const oom = await device.popErrorScope();
      const val = await device.popErrorScope();
      if (oom || val) throw new Error((oom ?? val)!.message);
      return { reply: { ok: true, result }, transfer };
    } catch (e) {
      return { reply: { ok: false, error: lost ?? (e as Error).message ?? String(e) } };
    }
  };
}
