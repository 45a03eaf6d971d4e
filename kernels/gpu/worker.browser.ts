// The GPU worker in a browser (bundled as dist/browser/gpu-worker.js): the browser's own WebGPU
// (navigator.gpu) instead of Dawn, and replies written into the shared buffer that web-bridge.ts
// reads while its thread sleeps in Atomics.wait. The first message carries that buffer and the flag;
// the device is then requested and the adapter reported by an ordinary message.
import { createDispatcher, requestDevice, type Request } from "./serve.ts";
import { writeReply } from "./web-bridge.ts";

const scope = self as unknown as {
  navigator: { gpu?: GPU };
  onmessage: ((e: MessageEvent) => void) | null;
  postMessage(m: unknown): void;
};

scope.onmessage = async (e: MessageEvent<{ flag: Int32Array; sab: SharedArrayBuffer }>) => {
  scope.onmessage = null;
  const { flag, sab } = e.data;
  try {
    const gpu = scope.navigator.gpu;
    if (!gpu) throw new Error("navigator.gpu is missing (WebGPU is disabled or unsupported in this browser)");
    const { device, info } = await requestDevice(gpu);
    const dispatch = createDispatcher(gpu, device, info);
    scope.onmessage = async (m: MessageEvent<Request>) => {
      const { reply } = await dispatch(m.data);
      try {
        writeReply(sab, reply);
      } catch (err) {
        writeReply(sab, { ok: false, error: `reply not delivered: ${(err as Error).message}` });
      }
      Atomics.store(flag, 0, 1);
      Atomics.notify(flag, 0);
    };
    scope.postMessage({ ok: true, result: { adapter: info } });
  } catch (err) {
    scope.postMessage({ ok: false, error: (err as Error).message ?? String(err) });
  }
};
