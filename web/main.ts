// The demo page: UI only. The runtime runs in web/worker.ts; this file sends it requests and renders
// what comes back. `?backend=wasm&threads=2` in the URL picks the backend loaded at start.
// window.scanstreamDemo holds the latest results for the end-to-end test (test/browser.test.ts).
import type { Backend, Loaded, Mitigation, Reply, Request } from "./protocol.ts";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  backend: $<HTMLSelectElement>("backend"), load: $<HTMLButtonElement>("load"), running: $("running"), isolation: $("isolation"),
  download: $<HTMLProgressElement>("download"), loadStatus: $("load-status"),
  prompt: $<HTMLTextAreaElement>("prompt"), maxTokens: $<HTMLInputElement>("max-tokens"), temperature: $<HTMLInputElement>("temperature"),
  seed: $<HTMLInputElement>("seed"), generate: $<HTMLButtonElement>("generate"), stop: $<HTMLButtonElement>("stop"), tps: $("tps"), output: $("output"),
  doc: $<HTMLTextAreaElement>("doc"), file: $<HTMLInputElement>("file"), fileName: $("file-name"), mitigation: $<HTMLSelectElement>("mitigation"),
  jrt: $<HTMLSelectElement>("jrt"), question: $<HTMLInputElement>("question"), ask: $<HTMLButtonElement>("ask"),
  readStatus: $("read-status"), readProgress: $<HTMLProgressElement>("read-progress"), answer: $("answer"), warnings: $("warnings"),
};

interface DemoState {
  loaded: Loaded | null;
  generated: Extract<Reply, { type: "generated" }> | null;
  answer: Extract<Reply, { type: "answer" }> | null;
  error: Extract<Reply, { type: "error" }> | null;
}
const demo: DemoState = { loaded: null, generated: null, answer: null, error: null };
(window as unknown as { scanstreamDemo: DemoState }).scanstreamDemo = demo;

const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
let nextId = 1;
let busy = false;
/** A dropped or chosen file; null = use the textarea's text. */
let docFile: File | null = null;

const send = (r: Request) => worker.postMessage(r);
const setState = (s: string) => (document.body.dataset.state = s);
const kib = (n: number) => (n < 1 << 20 ? `${(n / 1024).toFixed(0)} KiB` : `${(n / (1 << 20)).toFixed(1)} MiB`);

function setBusy(b: boolean): void {
  busy = b;
  ui.generate.disabled = ui.ask.disabled = b || !demo.loaded;
  ui.load.disabled = b;
  ui.stop.disabled = !b;
}

worker.onmessage = (e: MessageEvent<Reply>) => {
  const m = e.data;
  switch (m.type) {
    case "download":
      ui.download.max = m.total ?? m.loaded;
      ui.download.value = m.loaded;
      ui.loadStatus.textContent = `downloading ${m.file}: ${kib(m.loaded)}${m.total ? ` of ${kib(m.total)}` : ""}`;
      break;
    case "loaded": {
      demo.loaded = m.info;
      const i = m.info;
      ui.running.textContent = `${i.backend}: ${i.detail}`;
      ui.download.value = ui.download.max;
      ui.loadStatus.textContent = `${i.config.family}, ${i.config.layers} layers x ${i.config.dModel}, vocabulary ${i.config.vocab}; loaded in ${(i.loadMs / 1000).toFixed(2)} s`;
      setBusy(false);
      setState("ready");
      break;
    }
    case "piece":
      ui.output.append(m.text);
      break;
    case "generated":
      demo.generated = m;
      ui.tps.textContent = `${m.tokensPerSecond.toFixed(1)} tok/s (${m.ids.length} tokens, ${(m.ms / 1000).toFixed(2)} s)`;
      setBusy(false);
      setState("ready");
      break;
    case "progress": {
      const frac = m.totalBytes ? Math.min(1, m.bytes / m.totalBytes) : 0;
      ui.readProgress.value = (m.copy - 1 + frac) / m.copies;
      ui.readStatus.textContent = `reading${m.copies > 1 ? ` (copy ${m.copy} of ${m.copies})` : ""}: ${m.tokens.toLocaleString()} tokens, ${m.tokensPerSecond.toFixed(0)} tok/s`;
      for (const w of m.warnings) ui.warnings.append(Object.assign(document.createElement("div"), { textContent: w }));
      break;
    }
    case "answer":
      demo.answer = m;
      ui.readProgress.value = 1;
      ui.answer.textContent = m.text;
      ui.readStatus.textContent = `read ${m.readTokens.toLocaleString()} tokens (mitigation ${m.mitigation}) and answered in ${(m.ms / 1000).toFixed(2)} s`;
      setBusy(false);
      setState("ready");
      break;
    case "error":
      demo.error = m;
      if (m.name === "AbortError") ui.readStatus.textContent = "stopped";
      else {
        ui.loadStatus.textContent = `${m.name}: ${m.message}`;
        ui.loadStatus.classList.add("warn");
      }
      setBusy(false);
      setState(demo.loaded ? "ready" : "error");
      break;
  }
};
worker.onerror = (e) => {
  ui.loadStatus.textContent = `worker failed: ${e.message}`;
  setState("error");
};

function load(): void {
  demo.loaded = null;
  ui.loadStatus.classList.remove("warn");
  ui.running.textContent = "loading…";
  setBusy(true);
  setState("loading");
  const params = new URLSearchParams(location.search);
  const threads = Number(params.get("threads")) || undefined;
  send({ type: "load", id: nextId++, url: new URL("../checkpoints/mamba2-text/", location.href).href, backend: ui.backend.value as Backend, threads });
}

ui.load.onclick = load;
ui.generate.onclick = () => {
  if (busy) return;
  ui.output.textContent = ui.prompt.value;
  setBusy(true);
  setState("generating");
  send({
    type: "generate", id: nextId++, prompt: ui.prompt.value, maxTokens: Number(ui.maxTokens.value),
    temperature: Number(ui.temperature.value), seed: Number(ui.seed.value),
  });
};
ui.stop.onclick = () => send({ type: "stop" });
ui.ask.onclick = () => {
  if (busy) return;
  const doc = docFile ?? ui.doc.value;
  if (!docFile && !doc) {
    ui.readStatus.textContent = "paste or drop a document first";
    return;
  }
  ui.answer.textContent = "";
  ui.warnings.textContent = "";
  ui.readProgress.value = 0;
  setBusy(true);
  setState("reading");
  send({
    type: "ask", id: nextId++, doc, mitigation: ui.mitigation.value as Mitigation, jrt: Number(ui.jrt.value),
    question: ui.question.value, maxTokens: 48,
  });
};

function useFile(f: File | null): void {
  docFile = f;
  ui.fileName.textContent = f ? `${f.name} (${kib(f.size)}), streamed from disk when read` : "";
  if (f) ui.doc.value = "";
}
ui.file.onchange = () => useFile(ui.file.files?.[0] ?? null);
ui.doc.oninput = () => useFile(null);
ui.doc.ondragover = (e) => {
  e.preventDefault();
  ui.doc.classList.add("drag");
};
ui.doc.ondragleave = () => ui.doc.classList.remove("drag");
ui.doc.ondrop = (e) => {
  e.preventDefault();
  ui.doc.classList.remove("drag");
  const f = e.dataTransfer?.files?.[0];
  if (f) useFile(f);
};

ui.isolation.textContent = crossOriginIsolated ? "cross-origin isolated: wasm threads available" : "not cross-origin isolated: wasm runs single-threaded";
if (!crossOriginIsolated) ui.isolation.classList.add("warn");
const wanted = new URLSearchParams(location.search).get("backend");
if (wanted && Array.from(ui.backend.options).some((o) => o.value === wanted)) ui.backend.value = wanted;
load();
