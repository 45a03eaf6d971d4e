// The demo's runtime worker: loads the model and runs every session here, off the page's main thread
// (the wasm pool and the GPU bridge block in Atomics.wait, which the main thread may not; the page
// stays responsive). One request runs at a time; "stop" aborts it through its AbortSignal.
import { AbortError, fromBlob, loadFromUrl, type LoadedModel, type MitigationChoice } from "../core/browser.ts";
import type { Reply, Request } from "./protocol.ts";

const scope = self as unknown as { postMessage(m: Reply): void; onmessage: ((e: MessageEvent<Request>) => void) | null };
const post = (m: Reply) => scope.postMessage(m);

let model: LoadedModel | null = null;
let running: AbortController | null = null;
let queue = Promise.resolve();

scope.onmessage = (e) => {
  const req = e.data;
  if (req.type === "stop") {
    running?.abort();
    return;
  }
  // requests run one after another; each reports its own errors
  queue = queue.then(() => handle(req)).catch(() => {});
};

async function handle(req: Exclude<Request, { type: "stop" }>): Promise<void> {
  const ctl = (running = new AbortController());
  try {
    if (req.type === "load") await load(req);
    else if (req.type === "generate") await generate(req, ctl.signal);
    else if (req.type === "ask") await ask(req, ctl.signal);
  } catch (err) {
    const e = err as Error;
    post({ type: "error", id: req.id, name: e instanceof AbortError ? "AbortError" : e.name ?? "Error", message: e.message ?? String(e) });
  } finally {
    if (running === ctl) running = null;
  }
}

async function load(req: Extract<Request, { type: "load" }>): Promise<void> {
  model?.dispose();
  model = null;
  const t0 = performance.now();
  model = await loadFromUrl(req.url, {
    backend: req.backend,
    threads: req.threads,
    onProgress: (p) => post({ type: "download", id: req.id, file: p.file, loaded: p.loaded, total: p.total }),
  });
  const c = model.config;
  post({
    type: "loaded",
    id: req.id,
    info: {
      backend: model.backend.name,
      detail: model.backend.detail,
      crossOriginIsolated: (self as unknown as { crossOriginIsolated?: boolean }).crossOriginIsolated === true,
      config: { family: c.family, layers: c.n_layer, dModel: c.d_model, vocab: c.vocab_size },
      loadMs: performance.now() - t0,
    },
  });
}

function need(): LoadedModel {
  if (!model) throw new Error("no model loaded yet");
  return model;
}

async function generate(req: Extract<Request, { type: "generate" }>, signal: AbortSignal): Promise<void> {
  // a fresh session per request: the same prompt and seed give the same text
  const chat = need().session();
  const ids: number[] = [];
  let text = "";
  const t0 = performance.now();
  let first = 0;
  for await (const p of chat.generate(req.prompt, { maxTokens: req.maxTokens, temperature: req.temperature, seed: req.seed, signal })) {
    if (ids.length === 0) first = performance.now();
    if (p.token >= 0) ids.push(p.token);
    text += p.text;
    if (p.text || p.token >= 0) post({ type: "piece", id: req.id, text: p.text, token: p.token });
  }
  const now = performance.now();
  // decode speed: tokens after the first (the first one includes the prompt's prefill)
  const tokensPerSecond = ids.length > 1 ? ((ids.length - 1) * 1000) / (now - first) : 0;
  post({ type: "generated", id: req.id, ids, text, ms: now - t0, tokensPerSecond });
}

async function ask(req: Extract<Request, { type: "ask" }>, signal: AbortSignal): Promise<void> {
  const m = need();
  const session = m.session({ mitigation: req.mitigation as MitigationChoice });
  // a File is streamed from disk in chunks each time it is (re-)read, never held as one string
  const source = typeof req.doc === "string" ? req.doc : fromBlob(req.doc);
  const t0 = performance.now();
  // ask() reads the first copy (through read()) and the JRT re-reads in two calls, each counting
  // its own tokens from 0
  let first = 0, rest = 0;
  const answer = await session.ask(req.question, {
    source,
    jrt: req.jrt,
    maxTokens: req.maxTokens,
    signal,
    onProgress: (p) => {
      if (p.copy === 1) first = p.tokens;
      else rest = p.tokens;
      post({
        type: "progress", id: req.id, bytes: p.bytes, totalBytes: p.totalBytes ?? (typeof req.doc === "string" ? undefined : req.doc.size),
        tokens: first + rest, copy: p.copy, copies: req.jrt, tokensPerSecond: p.tokensPerSecond, warnings: p.warnings.map((w) => w.message),
      });
    },
  });
  const readTokens = first + rest;
  post({
    type: "answer", id: req.id, text: answer.text, tokens: answer.tokens, promptTokens: answer.promptTokens, readTokens,
    ms: performance.now() - t0, mitigation: session.stats().mitigation,
  });
}
