// scanstream's browser entry (bundled by web/build.ts into dist/browser/scanstream.js, with the two
// wasm builds next to it). The same runtime as core/index.ts; only loading differs: a checkpoint
// comes from URLs (fetch), File objects (drag and drop, <input type=file>) or bytes, never a path.
//
//   const model = await loadFromUrl("/checkpoints/mamba2-text/", { backend: "wasm" });
//   for await (const piece of model.session().generate("In the beginning", { maxTokens: 64, seed: 1 })) ...
//
// The GPU backends and the wasm worker pool block in Atomics.wait, which browsers allow only off the
// main thread: run this module inside a dedicated Web Worker (web/worker.ts does), on a page that is
// cross-origin isolated (COOP/COEP headers) so that SharedArrayBuffer exists. See docs/browser.md.
import { sha256 } from "./browser-crypto.ts";
import { CheckpointError, OptionError } from "./errors.ts";
import { openCheckpointBytes, utf8Text, type CheckpointBytes, type NamedBytes } from "./formats/checkpoint-bytes.ts";
import { byteTokenizer, parseTokenizerJson } from "./formats/tokenizer.ts";
import { assembleModel, type LoadedModel, type LoadOptions } from "./loaded-model.ts";

export { Session, AbortError } from "./stream/session.ts";
export type {
  GenerateOptions, Piece, FeedOptions, SessionOptions, SessionStats, ReadOptions, ReadProgress, AskOptions, Answer,
  CollapseWarning, ReadCursor,
} from "./stream/session.ts";
export { NotReReadableError, isReReadable } from "./stream/sources.ts";
export type { ReadSource, ChunkStream } from "./stream/sources.ts";
export { MITIGATIONS, DEFAULT_TRAIN_LENGTH, describePlan, resolvePlan } from "./models/long-context.ts";
export type { MitigationChoice, MitigationKind, LongContextPlan, LongContextOptions, LayerStats } from "./models/long-context.ts";
export { BACKEND_CHOICES, type BackendChoice } from "../kernels/registry.ts";
export type { LoadOptions, LoadedModel } from "./loaded-model.ts";
export type { CheckpointBytes, NamedBytes } from "./formats/checkpoint-bytes.ts";
export * from "./errors.ts";

// Session yields to the event loop with setImmediate (Node); browsers have none. A MessageChannel
// post is the macrotask that is not clamped to 4 ms like nested setTimeout.
if (typeof (globalThis as { setImmediate?: unknown }).setImmediate !== "function") {
  const channel = new MessageChannel();
  const queue: (() => void)[] = [];
  channel.port1.onmessage = () => queue.shift()?.();
  (globalThis as { setImmediate?: unknown }).setImmediate = (fn: () => void) => {
    queue.push(fn);
    channel.port2.postMessage(0);
  };
}

export interface FetchProgress {
  /** File being downloaded (its name in the checkpoint folder). */
  file: string;
  loaded: number;
  /** Content-Length when the server sent one. */
  total?: number;
}

export interface UrlLoadOptions extends LoadOptions {
  /** Download progress of each file (the weights dominate). */
  onProgress?: (p: FetchProgress) => void;
  signal?: AbortSignal;
}

/** Files tried in order, as the Node loader does (core/formats/checkpoint.ts), minus shard indexes. */
const CONFIGS = ["config.json", "params.json"];
const WEIGHTS = ["model.safetensors", "pytorch_model.bin", "consolidated.safetensors"];

/**
 * Loads the checkpoint folder served at `base` (a URL ending in "/", relative to the page or worker):
 * config.json, model.safetensors (or pytorch_model.bin) and, if present, tokenizer.json.
 */
export async function loadFromUrl(base: string | URL, opts: UrlLoadOptions = {}): Promise<LoadedModel> {
  const root = new URL(String(base).endsWith("/") ? String(base) : `${base}/`, (globalThis as { location?: { href: string } }).location?.href);
  const get = async (names: string[], required: boolean): Promise<NamedBytes | undefined> => {
    for (const name of names) {
      const url = new URL(name, root);
      let res: Response;
      try {
        res = await fetch(url, { signal: opts.signal });
      } catch (e) {
        throw new CheckpointError(`cannot fetch (${(e as Error).message})`, url.href);
      }
      if (res.status === 404) continue;
      if (!res.ok) throw new CheckpointError(`cannot fetch: HTTP ${res.status}`, url.href);
      return { name, bytes: await readBody(res, name, opts) };
    }
    if (required) throw new CheckpointError(`none of ${names.join(", ")} found`, root.href);
    return undefined;
  };
  const config = (await get(CONFIGS, true))!;
  const weights = (await get(WEIGHTS, true))!;
  const tokenizer = await get(["tokenizer.json"], false);
  return loadFromBytes({ config, weights, tokenizer }, { ...opts, source: root.href });
}

/**
 * Loads a checkpoint from File objects (a dropped folder's files, or an <input type=file multiple>),
 * picked by name as loadFromUrl does.
 */
export async function loadFromFiles(files: Iterable<File> | ArrayLike<File>, opts: LoadOptions = {}): Promise<LoadedModel> {
  const byName = new Map(Array.from(files as ArrayLike<File>, (f) => [f.name, f] as const));
  const pick = async (names: string[], required: boolean): Promise<NamedBytes | undefined> => {
    const name = names.find((n) => byName.has(n));
    if (!name) {
      if (required) throw new CheckpointError(`none of ${names.join(", ")} among the files given (${[...byName.keys()].join(", ") || "none"})`);
      return undefined;
    }
    return { name, bytes: new Uint8Array(await byName.get(name)!.arrayBuffer()) };
  };
  const config = (await pick(CONFIGS, true))!;
  const weights = (await pick(WEIGHTS, true))!;
  const tokenizer = await pick(["tokenizer.json"], false);
  return loadFromBytes({ config, weights, tokenizer }, { ...opts, source: [...byName.keys()].join(", ") });
}

/** Loads a checkpoint held in memory (the parsers are the Node loader's, over an in-memory byte source). */
export async function loadFromBytes(files: CheckpointBytes, opts: LoadOptions & { source?: string } = {}): Promise<LoadedModel> {
  const ckpt = openCheckpointBytes(files);
  try {
    const tokenizer = () => (files.tokenizer ? parseTokenizerJson(utf8Text(files.tokenizer), files.tokenizer.name) : byteTokenizer());
    return await assembleModel(opts.source ?? files.weights.name, ckpt, tokenizer, () => hashFiles(files), opts);
  } finally {
    ckpt.tensors.close();
  }
}

/** The Node loader's checkpoint hash (file name, then bytes, for config and weights in name order), so
 *  a snapshot taken in Node restores in the browser and back. */
function hashFiles(files: CheckpointBytes): string {
  const h = sha256();
  for (const f of [files.config, files.weights].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    h.update(f.name);
    h.update(f.bytes);
  }
  return h.digest("hex") as string;
}

async function readBody(res: Response, file: string, opts: UrlLoadOptions): Promise<Uint8Array> {
  const total = Number(res.headers.get("content-length")) || undefined;
  if (!res.body || !opts.onProgress) return new Uint8Array(await res.arrayBuffer());
  const parts: Uint8Array[] = [];
  let loaded = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    loaded += value.byteLength;
    opts.onProgress({ file, loaded, total });
  }
  if (total !== undefined && !res.headers.get("content-encoding") && loaded !== total) throw new CheckpointError(`download ended at ${loaded} of ${total} bytes`, file);
  const out = new Uint8Array(loaded);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** A text document as a re-readable source for Session.read / ask (JRT re-reads it): a File or Blob is
 *  streamed in chunks each time, never held whole as a string. */
export function fromBlob(blob: Blob): () => ReadableStream<Uint8Array> {
  if (typeof blob?.stream !== "function") throw new OptionError("expected a File or Blob", "source");
  return () => blob.stream();
}
