// End to end in headless Chromium (Debian's `chromium`, driven by playwright-core; no browser
// download): the demo page loads the bundled checkpoint in its runtime worker, streams generated
// text, reads a document with a progress bar and answers with JRT, and the tokens equal Node's for
// the same seed and backend. A missing Chromium is a failure, never a skip (CI installs it).
// Alone: npm run test:browser. CHROMIUM=/path/to/chrome picks another binary.
import { mkdirSync } from "node:fs";
import type { Server } from "node:http";
import path from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { load, type LoadedModel } from "../core/index.ts";
import { buildDemo, buildLibrary } from "../web/build.ts";
import { CHROMIUM_ARGS, chromiumPath } from "../web/chromium.ts";
import { serve } from "../web/serve.ts";
import type { Loaded, Reply } from "../web/protocol.ts";

const CKPT = path.resolve("checkpoints/mamba2-text");
const SHOTS = path.resolve("tmp/browser");
interface Demo {
  loaded: Loaded | null;
  generated: Extract<Reply, { type: "generated" }> | null;
  answer: Extract<Reply, { type: "answer" }> | null;
  error: Extract<Reply, { type: "error" }> | null;
}

let browser: Browser;
let isolated: { server: Server; url: string };
let plain: { server: Server; url: string };
let node: LoadedModel;
const THREADS = 2;

test.before(async () => {
  await buildLibrary();
  await buildDemo();
  isolated = await serve({ port: 0 });
  plain = await serve({ port: 0, isolation: false });
  browser = await chromium.launch({ executablePath: chromiumPath(), headless: true, args: CHROMIUM_ARGS });
  node = await load(CKPT, { backend: "wasm", threads: THREADS });
});

test.after(async () => {
  await browser?.close();
  isolated?.server.close();
  plain?.server.close();
  node?.dispose();
});

const demo = (page: Page) => page.evaluate(() => (window as unknown as { scanstreamDemo: Demo }).scanstreamDemo);

async function open(url: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(url);
  await page.waitForSelector("body[data-state=ready], body[data-state=error]", { timeout: 120_000 });
  const d = await demo(page);
  assert.ok(d.loaded, `the model did not load: ${d.error?.name}: ${d.error?.message} ${errors.join("; ")}`);
  return { page, errors };
}

async function generateIn(page: Page, prompt: string, maxTokens: number, seed: number, temperature = 0.8): Promise<NonNullable<Demo["generated"]>> {
  await page.fill("#prompt", prompt);
  await page.fill("#max-tokens", String(maxTokens));
  await page.fill("#temperature", String(temperature));
  await page.fill("#seed", String(seed));
  await page.click("#generate");
  await page.waitForSelector("body[data-state=ready]", { timeout: 120_000 });
  const d = await demo(page);
  assert.ok(d.generated, `no generation: ${d.error?.message}`);
  return d.generated!;
}

async function generateInNode(prompt: string, maxTokens: number, seed: number): Promise<number[]> {
  const ids: number[] = [];
  for await (const p of node.session().generate(prompt, { maxTokens, temperature: 0.8, seed })) if (p.token >= 0) ids.push(p.token);
  return ids;
}

test("the page loads the default model on wasm SIMD with threads (cross-origin isolated), streams text, and Node gives the same tokens", async () => {
  const { page, errors } = await open(`${isolated.url}?backend=wasm&threads=${THREADS}`);
  const d = await demo(page);
  assert.is(d.loaded!.backend, "wasm");
  assert.ok(d.loaded!.crossOriginIsolated, "COOP/COEP make the worker cross-origin isolated");
  assert.match(d.loaded!.detail, new RegExp(`${THREADS} threads`));
  assert.match(await page.textContent("[data-testid=backend]") ?? "", /^wasm: /);

  // streaming: the output grows while generating, before the end
  const prompt = "In the beginning";
  await page.fill("#prompt", prompt);
  await page.fill("#max-tokens", "4000");
  await page.click("#generate");
  await page.waitForFunction((p) => (document.getElementById("output")!.textContent ?? "").length > p.length + 8, prompt, { timeout: 60_000 });
  assert.is(await page.getAttribute("body", "data-state"), "generating", "text appears before generation ends");
  await page.click("#stop");
  await page.waitForSelector("body[data-state=ready]", { timeout: 60_000 });
  const stopped = (await demo(page)).generated!;
  assert.ok(stopped.ids.length > 0 && stopped.ids.length < 4000, `Stop ended the generation early (${stopped.ids.length} tokens)`);

  const N = 64, seed = 7;
  const g = await generateIn(page, prompt, N, seed);
  assert.is(g.ids.length, N);
  assert.equal(g.ids, await generateInNode(prompt, N, seed), "same seed and backend: same tokens in the browser and in Node");
  assert.is(g.text, node.tokenizer.decode(g.ids));
  assert.is(await page.textContent("#output"), prompt + g.text);
  assert.ok(g.tokensPerSecond > 0);
  assert.match(await page.textContent("[data-testid=tps]") ?? "", /tok\/s/);
  assert.equal(errors, []);
  await page.close();
});

test("reads a pasted document with a progress bar and answers as Node does (mitigation auto, JRT 2); screenshot", async () => {
  const { page } = await open(`${isolated.url}?backend=wasm&threads=${THREADS}`);
  const doc = Array.from({ length: 20 }, (_, i) => `And the ${i + 1}th day the waters covered the earth, and the ark went upon the face of the waters.`).join("\n");
  const question = "And God said,";
  await page.fill("#doc", doc);
  await page.selectOption("#mitigation", "auto");
  await page.selectOption("#jrt", "2");
  await page.fill("#question", question);
  await page.click("#ask");
  await page.waitForSelector("body[data-state=ready]", { timeout: 120_000 });
  const d = await demo(page);
  assert.ok(d.answer, `no answer: ${d.error?.message}`);
  assert.is(await page.evaluate(() => (document.getElementById("read-progress") as HTMLProgressElement).value), 1);
  const s = node.session({ mitigation: "auto" });
  const want = await s.ask(question, { source: doc, jrt: 2, maxTokens: 48 });
  assert.is(d.answer!.text, want.text);
  assert.equal(d.answer!.tokens, want.tokens);
  assert.is(d.answer!.promptTokens, want.promptTokens);
  assert.ok(d.answer!.readTokens >= 2 * new TextEncoder().encode(doc).length, "both copies were read");
  assert.is(await page.textContent("[data-testid=answer]"), want.text);

  await generateIn(page, "In the beginning", 120, 1);
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, "demo.png"), fullPage: true });
  await page.close();
});

test("a dropped file is streamed from disk and re-read for JRT", async () => {
  const { page } = await open(`${isolated.url}?backend=wasm&threads=${THREADS}`);
  const doc = "The children of Israel went into the midst of the sea upon the dry ground.\n".repeat(16);
  await page.setInputFiles("#file", { name: "exodus.txt", mimeType: "text/plain", buffer: Buffer.from(doc) });
  assert.match(await page.textContent("#file-name") ?? "", /exodus\.txt/);
  await page.selectOption("#mitigation", "none");
  await page.selectOption("#jrt", "2");
  await page.fill("#question", "The children of");
  await page.click("#ask");
  await page.waitForSelector("body[data-state=ready]", { timeout: 120_000 });
  const d = await demo(page);
  assert.ok(d.answer, `no answer: ${d.error?.message}`);
  const want = await node.session({ mitigation: "none" }).ask("The children of", { source: doc, jrt: 2, maxTokens: 48 });
  assert.is(d.answer!.text, want.text);
  await page.close();
});

test("without COOP/COEP the page falls back to the single-threaded wasm build, same tokens", async () => {
  const { page } = await open(`${plain.url}?backend=wasm`);
  const d = await demo(page);
  assert.is(d.loaded!.crossOriginIsolated, false);
  assert.is(d.loaded!.backend, "wasm");
  assert.match(d.loaded!.detail, /1 thread/);
  const g = await generateIn(page, "In the beginning", 32, 3);
  assert.equal(g.ids, await generateInNode("In the beginning", 32, 3));
  await page.close();
});

test("the cpu backend runs in the page and gives the wasm tokens' text for greedy decoding", async () => {
  const { page } = await open(`${isolated.url}?backend=cpu`);
  assert.is((await demo(page)).loaded!.backend, "cpu");
  const g = await generateIn(page, "And God said", 24, 1, 0);
  const ids: number[] = [];
  for await (const p of node.session().generate("And God said", { maxTokens: 24, temperature: 0 })) if (p.token >= 0) ids.push(p.token);
  assert.equal(g.ids, ids);
  await page.close();
});

for (const backend of ["webgpu", "gpu"] as const) {
  test(`the ${backend} backend runs on the browser's WebGPU (SwiftShader here) through the worker bridge; greedy tokens equal Node's`, async () => {
    const { page } = await open(`${isolated.url}?backend=${backend}`);
    const d = await demo(page);
    assert.is(d.loaded!.backend, backend);
    assert.match(d.loaded!.detail, /swiftshader|webgpu/i);
    const g = await generateIn(page, "And God said", 8, 1, 0);
    const ids: number[] = [];
    for await (const p of node.session().generate("And God said", { maxTokens: 8, temperature: 0 })) if (p.token >= 0) ids.push(p.token);
    assert.equal(g.ids, ids);
    await page.close();
  });
}

test.run();
