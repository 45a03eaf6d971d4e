// safetensors reader and shard index: real fixtures load; every kind of broken header is a
// CheckpointError naming the file (and the tensor, where there is one).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { CheckpointError } from "../core/errors.ts";
import { toFloat32 } from "../core/formats/dtype.ts";
import { SafetensorsFile } from "../core/formats/safetensors.ts";
import { ShardedSource } from "../core/formats/sharded.ts";
import { f32Safetensors, mem, safetensorsBytes } from "./fuzz/builders.ts";
import { GOLDEN, FIXTURES } from "./helpers/golden.ts";

const FORMATS = path.join(FIXTURES, "formats");

function expectError(fn: () => unknown, ...parts: (string | RegExp)[]): CheckpointError {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof CheckpointError)) throw new Error(`expected CheckpointError, got ${(e as Error)?.stack ?? e}`);
    for (const p of parts) assert.match(e.message, p);
    return e;
  }
  throw new Error("expected a CheckpointError, nothing was thrown");
}

const open = (bytes: Uint8Array, name = "bad.safetensors") => new SafetensorsFile(mem(bytes, name));

test("golden safetensors: header parsed, bytes read on demand", () => {
  const f = SafetensorsFile.open(path.join(GOLDEN, "m2_ss_v256_g1_tied_f32/model.safetensors"));
  assert.is(f.names().length, 21);
  assert.equal(f.info("backbone.layers.0.mixer.conv1d.weight"), { dtype: "F32", shape: [160, 1, 4], file: f.file });
  assert.is(f.metadata.format, "pt");
  const t = f.get("backbone.norm_f.weight")!;
  assert.is(t.data.byteLength, 256);
  assert.is(f.get("nope"), undefined);
  f.close();
  expectError(() => f.get("backbone.norm_f.weight"), "closed");
});

test("valid hand-made file round-trips values", () => {
  const f = open(f32Safetensors({ a: { shape: [2, 2], values: [1, 2, 3, 4] }, b: { shape: [], values: [7] }, e: { shape: [0, 5], values: [] } }));
  assert.equal([...toFloat32(f.get("a")!)], [1, 2, 3, 4]);
  assert.equal([...toFloat32(f.get("b")!)], [7]);
  assert.is(f.get("e")!.data.length, 0);
});

test("truncated file: every prefix is a CheckpointError naming the file", () => {
  const good = f32Safetensors({ w: { shape: [4], values: [1, 2, 3, 4] } });
  for (let n = 0; n < good.length; n++) expectError(() => open(good.subarray(0, n), "trunc.safetensors"), "trunc.safetensors");
});

test("header length past the end / huge / tiny", () => {
  const h = { w: { dtype: "F32", shape: [1], data_offsets: [0, 4] } };
  expectError(() => open(safetensorsBytes(h, new Uint8Array(4), 10_000)), "header length 10000 runs past the end");
  expectError(() => open(safetensorsBytes(h, new Uint8Array(4), 2n ** 63n)), "impossibly large");
  expectError(() => open(safetensorsBytes(h, new Uint8Array(4), 2n ** 53n - 1n)), "runs past the end");
  expectError(() => open(safetensorsBytes(h, new Uint8Array(4), 1)), "too small");
});

test("header that is not JSON / not an object / bad UTF-8", () => {
  const bytes = safetensorsBytes({}, new Uint8Array(0));
  bytes.set(new TextEncoder().encode("{x"), 8);
  expectError(() => open(bytes), "not valid UTF-8 JSON");
  expectError(() => open(safetensorsBytes([1, 2], new Uint8Array(0))), "not a JSON object");
  const utf = safetensorsBytes({ a: 1 }, new Uint8Array(0));
  utf[10] = 0xff;
  expectError(() => open(utf), "UTF-8");
});

test("entry validation names the tensor", () => {
  const d = new Uint8Array(16);
  const cases: [unknown, RegExp | string][] = [
    [{ dtype: "F33", shape: [4], data_offsets: [0, 16] }, "unknown dtype \"F33\""],
    [{ dtype: 7, shape: [4], data_offsets: [0, 16] }, "no dtype"],
    [{ dtype: "F32", shape: [-4], data_offsets: [0, 16] }, "not a non-negative integer"],
    [{ dtype: "F32", shape: [2.5], data_offsets: [0, 16] }, "not a non-negative integer"],
    [{ dtype: "F32", shape: "4", data_offsets: [0, 16] }, "no shape"],
    [{ dtype: "F32", shape: [4], data_offsets: [0, 32] }, "past the end of the data buffer"],
    [{ dtype: "F32", shape: [4], data_offsets: [8, 4] }, "0 <= begin <= end"],
    [{ dtype: "F32", shape: [4], data_offsets: [0] }, "pair"],
    [{ dtype: "F32", shape: [3], data_offsets: [0, 16] }, "needs 12"],
    [{ dtype: "F32", shape: [2 ** 30, 2 ** 30, 2 ** 30], data_offsets: [0, 16] }, "overflows"],
    [{ dtype: "F32", shape: [2 ** 52], data_offsets: [0, 16] }, "overflows"],
    [{ dtype: "F32", shape: [4], data_offsets: [2 ** 60, 2 ** 60 + 16] }, "not integers"],
    ["x", "not an object"],
  ];
  for (const [entry, msg] of cases) expectError(() => open(safetensorsBytes({ "layers.0.w": entry }, d), "e.safetensors"), "e.safetensors", "tensor layers.0.w", msg);
});

test("overlapping tensors are refused; unsupported-but-known dtypes fail only when read", () => {
  const d = new Uint8Array(16);
  expectError(
    () => open(safetensorsBytes({ a: { dtype: "F32", shape: [4], data_offsets: [0, 16] }, b: { dtype: "F32", shape: [2], data_offsets: [8, 16] } }, d)),
    "overlap",
  );
  const f = open(safetensorsBytes({ a: { dtype: "U16", shape: [2], data_offsets: [0, 4] }, b: { dtype: "F16", shape: [2], data_offsets: [4, 8] } }, d));
  assert.is(f.info("b")!.dtype, "F16");
  expectError(() => f.get("a"), "tensor a", "U16 is not supported");
});

test("reads through a file descriptor: a file shrunk after open is an error, not garbage", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "st-"));
  const file = path.join(dir, "m.safetensors");
  fs.writeFileSync(file, f32Safetensors({ w: { shape: [1000], values: new Array(1000).fill(1) } }));
  const f = SafetensorsFile.open(file);
  fs.truncateSync(file, 100);
  expectError(() => f.get("w"), "m.safetensors", "tensor w");
  f.close();
  expectError(() => SafetensorsFile.open(path.join(dir, "missing.safetensors")), "missing.safetensors", "cannot open");
  fs.rmSync(dir, { recursive: true });
});

test("tensors beyond 4 GiB of a (sparse) file: only the requested bytes are read", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "st-big-"));
  const file = path.join(dir, "big.safetensors");
  const pad = 5 * 2 ** 30;
  const header = { pad: { dtype: "U8", shape: [pad], data_offsets: [0, pad] }, w: { dtype: "F32", shape: [2], data_offsets: [pad, pad + 8] } };
  const head = safetensorsBytes(header, new Uint8Array(0));
  const fd = fs.openSync(file, "w");
  fs.writeSync(fd, head);
  fs.writeSync(fd, new Uint8Array(new Float32Array([0.25, -8]).buffer), 0, 8, head.length + pad);
  fs.closeSync(fd);
  const f = SafetensorsFile.open(file);
  assert.equal(f.info("pad")!.shape, [pad]);
  assert.equal([...toFloat32(f.get("w")!)], [0.25, -8]);
  f.close();
  fs.rmSync(dir, { recursive: true });
});

test("sharded index: one source over two shards, identical to the single file", () => {
  const idx = ShardedSource.open(path.join(FORMATS, "m2_st_sharded/model.safetensors.index.json"), (p) => SafetensorsFile.open(p));
  const one = SafetensorsFile.open(path.join(GOLDEN, "m2_ss_v256_g1_tied_f32/model.safetensors"));
  assert.equal(idx.names().sort(), one.names().sort());
  assert.is(idx.files().length, 3);
  for (const n of one.names()) assert.equal(idx.get(n)!.data, one.get(n)!.data, n);
  assert.ok(idx.get("backbone.layers.1.norm.weight")!.file.endsWith("model-00002-of-00002.safetensors"));
  idx.close();
  one.close();
});

test("sharded index: broken indexes name the index file", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "idx-"));
  fs.writeFileSync(path.join(dir, "a.safetensors"), f32Safetensors({ w: { shape: [1], values: [1] } }));
  const idx = (o: unknown) => {
    const p = path.join(dir, "model.safetensors.index.json");
    fs.writeFileSync(p, typeof o === "string" ? o : JSON.stringify(o));
    return () => ShardedSource.open(p, (s) => SafetensorsFile.open(s));
  };
  expectError(idx("{"), "model.safetensors.index.json", "invalid JSON");
  expectError(idx({ metadata: {} }), "weight_map");
  expectError(idx({ weight_map: {} }), "empty");
  expectError(idx({ weight_map: { w: "../a.safetensors" } }), "tensor w", "not a file in");
  expectError(idx({ weight_map: { w: "/etc/passwd" } }), "not a file in");
  expectError(idx({ weight_map: { v: "a.safetensors" } }), "tensor v", "does not contain it");
  expectError(idx({ weight_map: { w: "b.safetensors" } }), "b.safetensors", "cannot open");
  const ok = idx({ weight_map: { w: "a.safetensors" } })();
  assert.equal(ok.names(), ["w"]);
  ok.close();
  fs.rmSync(dir, { recursive: true });
});

test.run();
