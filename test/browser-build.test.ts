// The browser build without a browser: the bundle is self-contained (no Node built-in reaches it, and
// one that tries fails the build naming its importer), and the browser loading path (bytes through
// the same parsers) gives the model that load() gives from the folder, with the same hash.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import * as esbuild from "esbuild";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { loadFromBytes } from "../core/browser.ts";
import { CheckpointError } from "../core/errors.ts";
import { SafetensorsFile } from "../core/formats/safetensors.ts";
import { MemoryBytes } from "../core/formats/bytes.ts";
import { load } from "../core/index.ts";
import { browserOnly, buildLibrary, DIST } from "../web/build.ts";

const CKPT = path.resolve("checkpoints/mamba2-text");
const file = (name: string) => ({ name, bytes: new Uint8Array(readFileSync(path.join(CKPT, name))) });

test("the library bundle builds with no Node built-in and no external import", async () => {
  const sizes = await buildLibrary();
  assert.ok(sizes["scanstream.js"] > 10_000, "bundle written");
  const js = readFileSync(path.join(DIST, "scanstream.js"), "utf8");
  // (pool.ts carries the Node worker's source as a string, so a text search for require() would be wrong;
  // buildLibrary() already checked esbuild's metafile for external imports)
  assert.not.match(js, /\bfrom\s*"node:/);
  assert.not.match(js, /\bimport\(\s*"node:/);
  for (const f of ["scanstream_wasm.wasm", "scanstream_wasm_mt.wasm"]) assert.ok(readFileSync(path.join(DIST, f)).equals(readFileSync(path.join("wasm/pkg", f))), f);
});

test("a static import of a Node built-in fails the browser build, naming the importer", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "ss-build-"));
  const entry = path.join(dir, "sneaky.ts");
  writeFileSync(entry, `import { readFileSync } from "node:fs";\nexport const x = readFileSync;\n`);
  const err = await esbuild
    .build({ entryPoints: [entry], bundle: true, write: false, format: "esm", platform: "browser", logLevel: "silent", plugins: [browserOnly] })
    .then(() => null, (e: Error) => e);
  assert.ok(err, "build must fail");
  assert.match(err!.message, /node:fs/);
  assert.match(err!.message, /sneaky\.ts/);
  // a dynamic import (a Node-only branch) is allowed and becomes a stub that rejects
  writeFileSync(entry, `export const f = () => import("node:fs");\n`);
  const ok = await esbuild.build({ entryPoints: [entry], bundle: true, write: false, format: "esm", platform: "browser", logLevel: "silent", plugins: [browserOnly] });
  assert.match(ok.outputFiles[0].text, /not available in a browser/);
});

test("loadFromBytes = load(folder): same config, hash and logits (cpu)", async () => {
  const viaBytes = await loadFromBytes({ config: file("config.json"), weights: file("model.safetensors"), tokenizer: file("tokenizer.json") }, { backend: "cpu" });
  const viaFs = await load(CKPT, { backend: "cpu" });
  assert.equal({ ...viaBytes.config, source: null }, { ...viaFs.config, source: null }, "same config (source names differ: config.json vs its path)");
  assert.is(viaBytes.hash(), viaFs.hash());
  const a = viaBytes.session(), b = viaFs.session();
  await a.feed("In the beginning God created");
  await b.feed("In the beginning God created");
  assert.equal(a.lastLogits(), b.lastLogits());
  assert.equal(viaBytes.tokenizer.encode("héllo"), viaFs.tokenizer.encode("héllo"));
  // a snapshot from one restores on the other (same hash)
  viaFs.session().restore(a.snapshot());
});

test("the in-memory parser is the file parser: same tensors; bad bytes are typed errors naming the file", async () => {
  const bytes = readFileSync(path.join(CKPT, "model.safetensors"));
  const mem = new SafetensorsFile(new MemoryBytes(new Uint8Array(bytes), "model.safetensors"));
  const disk = SafetensorsFile.open(path.join(CKPT, "model.safetensors"));
  assert.equal(mem.names(), disk.names());
  const n = mem.names()[0];
  assert.equal(mem.get(n)!.data, disk.get(n)!.data);
  await loadFromBytes({ config: file("config.json"), weights: { name: "model.safetensors", bytes: new Uint8Array(bytes.subarray(0, 1000)) } }).then(
    () => assert.unreachable("truncated weights must fail"),
    (e: unknown) => assert.ok(e instanceof CheckpointError && /model\.safetensors/.test((e as Error).message), String(e)),
  );
  await loadFromBytes({ config: file("config.json"), weights: { name: "model.gguf", bytes: new Uint8Array(8) } }).then(
    () => assert.unreachable("unknown weight type must fail"),
    (e: unknown) => assert.ok(e instanceof CheckpointError && /model\.gguf/.test((e as Error).message), String(e)),
  );
});

test.run();
