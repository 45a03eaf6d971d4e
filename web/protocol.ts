// Messages between the demo page (web/main.ts) and the runtime worker (web/worker.ts). The whole
// runtime lives in the worker: the wasm pool and the GPU bridge block in Atomics.wait, which the
// page's main thread may not, and the page stays responsive while a document is read.

export type Backend = "auto" | "cpu" | "wasm" | "gpu" | "webgpu";
export type Mitigation = "none" | "forget" | "norm" | "window" | "auto";

export type Request =
  | { type: "load"; id: number; url: string; backend: Backend; threads?: number }
  | { type: "generate"; id: number; prompt: string; maxTokens: number; temperature: number; seed: number }
  /** Reads `doc` (pasted text or a dropped File) on a new session with `mitigation`, then answers `question`. */
  | { type: "ask"; id: number; doc: string | File; mitigation: Mitigation; jrt: number; question: string; maxTokens: number }
  /** Aborts the running generate / ask (the session stays usable). */
  | { type: "stop" };

export interface Loaded {
  /** The backend that actually runs (never a silent fallback), and what it says about itself. */
  backend: string;
  detail: string;
  crossOriginIsolated: boolean;
  config: { family: string; layers: number; dModel: number; vocab: number };
  loadMs: number;
}

export type Reply =
  | { type: "download"; id: number; file: string; loaded: number; total?: number }
  | { type: "loaded"; id: number; info: Loaded }
  | { type: "piece"; id: number; text: string; token: number }
  | { type: "generated"; id: number; ids: number[]; text: string; ms: number; tokensPerSecond: number }
  | { type: "progress"; id: number; bytes: number; totalBytes?: number; tokens: number; copy: number; copies: number; tokensPerSecond: number; warnings: string[] }
  | { type: "answer"; id: number; text: string; tokens: number[]; promptTokens: number; readTokens: number; ms: number; mitigation: string }
  | { type: "error"; id: number; name: string; message: string };
