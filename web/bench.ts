// Speed of the demo page per backend in headless Chromium, next to Node on the same machine in the
// same run: decode tokens/s (after the first token) and read (prefill) tokens/s of a 16 KiB document.
// Usage: tsx web/bench.ts [--backends wasm,wasm-single,cpu,webgpu,gpu] [--tokens 64]
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";
import { load } from "../core/index.ts";
import { buildDemo, buildLibrary } from "./build.ts";
import { CHROMIUM_ARGS, chromiumPath } from "./chromium.ts";
import { serve } from "./serve.ts";

const args = process.argv.slice(2);
const opt = (n: string, d: string) => (args.includes(n) ? args[args.indexOf(n) + 1] : d);
const backends = opt("--backends", "wasm,wasm-single,cpu,webgpu,gpu").split(",");
const N = Number(opt("--tokens", "64"));
const DOC = "And the waters prevailed exceedingly upon the earth; and all the high mountains were covered.\n".repeat(180);
const PROMPT = "In the beginning";

await buildLibrary();
await buildDemo();
const isolated = await serve({ port: 0 });
const plain = await serve({ port: 0, isolation: false });
const browser = await chromium.launch({ executablePath: chromiumPath(), headless: true, args: CHROMIUM_ARGS });
const rows: string[][] = [];
for (const b of backends) {
  const backend = b === "wasm-single" ? "wasm" : b;
  const page = await browser.newPage();
  console.error(`[bench] ${b}: loading`);
  await page.goto(`${b === "wasm-single" ? plain.url : isolated.url}?backend=${backend}`);
  await page.waitForSelector("body[data-state=ready], body[data-state=error]", { timeout: 300_000 });
  const demo = () => page.evaluate(() => (window as any).scanstreamDemo);
  const loaded = (await demo()).loaded;
  if (!loaded) {
    rows.push([`browser ${b}`, `failed: ${(await demo()).error?.message}`, "", ""]);
    continue;
  }
  await page.fill("#prompt", PROMPT);
  await page.fill("#max-tokens", String(N));
  await page.click("#generate");
  await page.waitForSelector("body[data-state=ready]", { timeout: 600_000 });
  const g = (await demo()).generated;
  console.error(`[bench] ${b}: generated`);
  let read = "-";
  if (b !== "webgpu" && b !== "gpu") {
    await page.fill("#doc", DOC);
    await page.selectOption("#mitigation", "none");
    await page.selectOption("#jrt", "1");
    await page.click("#ask");
    await page.waitForSelector("body[data-state=ready]", { timeout: 600_000 });
    const a = (await demo()).answer;
    read = a ? (a.readTokens / (a.ms / 1000)).toFixed(0) : "-";
  }
  rows.push([`Chromium ${b}`, loaded.detail, g ? g.tokensPerSecond.toFixed(1) : "-", read]);
  await page.close();
}
await browser.close();
isolated.server.close();
plain.server.close();
for (const threads of [2, 1]) {
  const m = await load(path.resolve("checkpoints/mamba2-text"), { backend: "wasm", threads });
  const s = m.session();
  let first = 0, n = 0;
  for await (const p of s.generate(PROMPT, { maxTokens: N, temperature: 0.8, seed: 1 })) if (p.token >= 0 && n++ === 0) first = performance.now();
  const dec = ((n - 1) * 1000) / (performance.now() - first);
  const t0 = performance.now();
  const r = m.session();
  await r.read(DOC);
  const rd = (r.position * 1000) / (performance.now() - t0);
  rows.push([`Node wasm`, m.backend.detail, dec.toFixed(1), rd.toFixed(0)]);
  m.dispose();
}
console.log(`${os.cpus()[0].model}, ${os.cpus().length} cores, load average ${os.loadavg().map((x) => x.toFixed(1)).join(" ")}; checkpoints/mamba2-text, ${N} tokens, read ${DOC.length} bytes`);
console.log("| where | backend (detail) | decode tok/s | read tok/s |\n| --- | --- | --- | --- |");
for (const r of rows) console.log(`| ${r.join(" | ")} |`);
process.exit(0);
