// torch.save .bin reader: real torch.save output (test/fixtures/formats, made by make_fixtures.py)
// loads to the same values as the f32 safetensors; strided views, dtypes, big-endian + ZIP64;
// malicious and malformed archives are CheckpointErrors naming the file, never executed, never hangs.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { CheckpointError } from "../core/errors.ts";
import { toFloat32 } from "../core/formats/dtype.ts";
import { unpickle } from "../core/formats/pickle.ts";
import { SafetensorsFile } from "../core/formats/safetensors.ts";
import { ShardedSource } from "../core/formats/sharded.ts";
import type { RawTensor } from "../core/formats/tensor.ts";
import { TorchBinFile } from "../core/formats/torchbin.ts";
import { ZipArchive } from "../core/formats/zip.ts";
import { concat, mem, P, torchBinBytes, zipBytes } from "./fuzz/builders.ts";
import { FIXTURES, GOLDEN } from "./helpers/golden.ts";

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

function values(t: RawTensor): number[] {
  const d = t.data.slice();
  switch (t.dtype) {
    case "I64": return [...new BigInt64Array(d.buffer)].map(Number);
    case "I32": return [...new Int32Array(d.buffer)];
    case "U8": case "BOOL": return [...d];
    default: return [...toFloat32(t)];
  }
}

const views = JSON.parse(fs.readFileSync(path.join(FORMATS, "views.json"), "utf8")) as Record<string, { shape: number[]; dtype: string; values: (number | boolean)[] }>;

for (const file of ["views.bin", "views_bigendian_zip64.bin"]) {
  test(`${file}: views, offsets, strides, dtypes and parameters match torch`, () => {
    const f = TorchBinFile.open(path.join(FORMATS, file));
    assert.is(f.byteorder, file.includes("big") ? "big" : "little");
    assert.equal(f.names().sort(), Object.keys(views).sort()); // not_a_tensor (an int) is skipped
    for (const [name, want] of Object.entries(views)) {
      const t = f.get(name)!;
      assert.equal(t.shape, want.shape, name);
      assert.equal(values(t), want.values.map((v) => (typeof v === "boolean" ? +v : v)), name);
    }
    assert.is(f.info("half_t")!.dtype, "F16");
    assert.is(f.info("bf16")!.dtype, "BF16");
    f.close();
  });
}

/** Tolerance of one rounding to `dtype` of a value of magnitude |x|. */
const tol = (dtype: string, x: number) => (dtype === "BF16" ? Math.abs(x) * 2 ** -8 + 1e-38 : dtype === "F16" ? Math.abs(x) * 2 ** -11 + 2 ** -25 : 0);

for (const [dir, golden] of [
  ["m2_bin_f32_tied", "m2_ss_v256_g1_tied_f32"],
  ["m2_bin_bf16", "m2_ss_v256_g1_tied_f32"],
  ["m1_bin_f16", "m1_ss_v256_tied_f32"],
]) {
  test(`${dir}/pytorch_model.bin (torch.save) equals the f32 safetensors within dtype rounding`, () => {
    const bin = TorchBinFile.open(path.join(FORMATS, dir, "pytorch_model.bin"));
    const ref = SafetensorsFile.open(path.join(GOLDEN, golden, "model.safetensors"));
    for (const name of ref.names()) {
      const a = bin.get(name)!;
      const b = ref.get(name)!;
      assert.equal(a.shape, b.shape, name);
      const x = toFloat32(a);
      const y = toFloat32(b);
      for (let i = 0; i < y.length; i++) if (!(Math.abs(x[i] - y[i]) <= tol(a.dtype, y[i]))) assert.unreachable(`${name}[${i}] ${x[i]} vs ${y[i]}`);
    }
    // tied: lm_head.weight is the same storage as the embedding, read as its own copy
    const head = bin.get("lm_head.weight")!;
    const emb = bin.get("backbone.embedding.weight")!;
    assert.equal(head.data, emb.data);
    assert.is.not(head.data.buffer, emb.data.buffer);
    bin.close();
    ref.close();
  });
}

test("sharded .bin index: same tensors as the f32 safetensors (f16 rounding)", () => {
  const idx = ShardedSource.open(path.join(FORMATS, "m1_bin_sharded/pytorch_model.bin.index.json"), (p) => TorchBinFile.open(p));
  const ref = SafetensorsFile.open(path.join(GOLDEN, "m1_ss_v256_tied_f32/model.safetensors"));
  assert.equal(idx.names().sort(), ref.names().sort());
  for (const n of ref.names()) {
    const x = toFloat32(idx.get(n)!);
    const y = toFloat32(ref.get(n)!);
    for (let i = 0; i < y.length; i++) assert.ok(Math.abs(x[i] - y[i]) <= tol("F16", y[i]), n);
  }
  idx.close();
  ref.close();
});

test("malicious pickles are refused, naming the global and the file", () => {
  expectError(() => TorchBinFile.open(path.join(FORMATS, "evil_os_system.bin")), "evil_os_system.bin", "global os.system", "not allowed");
  expectError(() => TorchBinFile.open(path.join(FORMATS, "evil_builtins_eval.bin")), "evil_builtins_eval.bin", "global builtins.eval");
  // a real torch.save file smuggling a call next to a tensor (pickled by Python as posix.system)
  expectError(() => TorchBinFile.open(path.join(FORMATS, "evil_torch_save.bin")), "evil_torch_save.bin", /global (posix|os)\.system/);
});

test("compressed entries, legacy format and non-zip files are explained", () => {
  expectError(() => TorchBinFile.open(path.join(FORMATS, "views_deflated.bin")), "views_deflated.bin", "compressed (method 8)");
  expectError(() => new TorchBinFile(mem(concat([P.proto(), P.stop()]), "old.bin")), "old.bin", "legacy");
  expectError(() => new TorchBinFile(mem(new TextEncoder().encode("hello world"), "x.bin")), "x.bin", "not a torch.save zip");
  expectError(() => new TorchBinFile(mem(new Uint8Array(0), "empty.bin")), "empty.bin");
});

const f32 = (...v: number[]) => new Uint8Array(new Float32Array(v).buffer);

test("hand-made archives: ZIP64, storage offsets, shared storage", () => {
  for (const zip64 of [false, true]) {
    const bytes = torchBinBytes(
      [
        { name: "a", key: "0", shape: [2, 2] },
        { name: "tail", key: "0", offset: 4, shape: [2] },
        { name: "colT", key: "0", shape: [2, 2], stride: [1, 2] },
      ],
      { "0": f32(1, 2, 3, 4, 5, 6) },
      { zip64 },
    );
    const f = new TorchBinFile(mem(bytes, "h.bin"));
    assert.equal([...toFloat32(f.get("a")!)], [1, 2, 3, 4]);
    assert.equal([...toFloat32(f.get("tail")!)], [5, 6]);
    assert.equal([...toFloat32(f.get("colT")!)], [1, 3, 2, 4]);
  }
});

test("ZIP64 archive lying beyond 4 GiB of a (sparse) file is read through the descriptor", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "big-"));
  const file = path.join(dir, "big.bin");
  const base = 5 * 2 ** 30;
  const bytes = torchBinBytes([{ name: "w", key: "0", shape: [3] }], { "0": f32(1.5, -2, 3) }, { zip64: true, baseOffset: base });
  const fd = fs.openSync(file, "w");
  fs.writeSync(fd, new Uint8Array([0x50, 0x4b, 3, 4]), 0, 4, 0); // the PK signature torch files start with
  fs.writeSync(fd, bytes, 0, bytes.length, base);
  fs.closeSync(fd);
  const f = TorchBinFile.open(file);
  assert.equal([...toFloat32(f.get("w")!)], [1.5, -2, 3]);
  f.close();
  fs.rmSync(dir, { recursive: true });
});

test("tensor metadata that escapes its storage is refused, naming the storage", () => {
  const st = { "0": f32(1, 2, 3, 4) };
  const bad = (t: Parameters<typeof torchBinBytes>[0][0], opts = {}) => () => new TorchBinFile(mem(torchBinBytes([t], st, opts), "m.bin"));
  expectError(bad({ name: "w", key: "0", shape: [5] }), "m.bin", "reaches past storage 0");
  expectError(bad({ name: "w", key: "0", shape: [2], offset: 3 }), "reaches past");
  expectError(bad({ name: "w", key: "0", shape: [2, 2], stride: [4, 1] }), "reaches past");
  expectError(bad({ name: "w", key: "0", shape: [8], stride: [0] }), "overlaps itself");
  expectError(bad({ name: "w", key: "0", shape: [-1] }), "not a non-negative integer");
  expectError(bad({ name: "w", key: "0", shape: [2 ** 30, 2 ** 30, 2 ** 30] }), "overflows");
  expectError(bad({ name: "w", key: "1", shape: [1] }, { numel: { "1": 1 } }), "data/1 is not in the archive");
  expectError(bad({ name: "w", key: "0", shape: [4] }, { numel: { "0": 100 } }), "should hold 100 F32 values");
  expectError(bad({ name: "w", key: "../x", shape: [1] }, { numel: { "../x": 1 } }), "not a plain name");
  expectError(bad({ name: "w", key: "0", shape: [4], storageClass: "ComplexFloatStorage" }), "global torch.ComplexFloatStorage");
});

test("truncated archives: every cut is a CheckpointError", () => {
  const good = torchBinBytes([{ name: "w", key: "0", shape: [4] }], { "0": f32(1, 2, 3, 4) });
  for (let n = 0; n < good.length; n++) {
    try {
      const f = new TorchBinFile(mem(good.subarray(0, n), "cut.bin"));
      f.get("w");
    } catch (e) {
      if (!(e instanceof CheckpointError)) throw e;
      assert.match(e.message, "cut.bin");
    }
  }
});

const pickleOpts = { file: "p.pkl", findGlobal: () => undefined, persistentLoad: () => null };

test("unpickler limits: deep nesting, huge lengths, memo abuse, truncation", () => {
  const run = (b: Uint8Array) => () => unpickle(b, pickleOpts);
  expectError(run(concat([P.proto(), new Uint8Array(100000).fill(0x28)])), "MARKs nested deeper");
  // 200k nested lists via APPEND need no MARK: built iteratively, no recursion
  const nested = concat([P.proto(), P.emptyList(), ...Array.from({ length: 200000 }, () => P.emptyList()), new Uint8Array(200000).fill(0x61), P.stop()]);
  assert.ok(Array.isArray(unpickle(nested, pickleOpts)));
  expectError(run(concat([P.proto(), P.bytes(0x58, 0xff, 0xff, 0xff, 0x7f), P.stop()])), "needs 2147483647 more bytes");
  expectError(run(concat([P.proto(), P.bytes(0x6a, 0xff, 0xff, 0xff, 0xff)])), "memo index 4294967295 was never stored");
  expectError(run(concat([P.proto(), P.bytes(0x8a, 0x09, 1, 2, 3, 4, 5, 6, 7, 8, 9)])), "out of range");
  expectError(run(concat([P.proto(), P.bytes(0x8a, 0x08, 0, 0, 0, 0, 0, 0, 0, 0x40)])), "out of range");
  expectError(run(concat([P.proto(), P.int(1)])), "without STOP");
  expectError(run(concat([P.proto(), P.stop()])), "stack underflow");
  expectError(run(concat([P.proto(), P.bytes(0x69)])), "not supported by the restricted unpickler");
  expectError(run(concat([P.proto(), P.int(3), P.emptyTuple(), P.reduce(), P.stop()])), "not callable");
  expectError(run(concat([P.proto(), P.int(3), P.int(1), P.int(2), P.bytes(0x73), P.stop()])), "not a dict");
  // memo cap: many distinct LONG_BINPUT indices
  const memoSpam = concat([P.proto(), P.int(0), ...Array.from({ length: 5000 }, (_, i) => P.bytes(0x72, i & 255, i >> 8, 0, 0)), P.stop()]);
  expectError(() => unpickle(memoSpam, { ...pickleOpts, maxMemo: 1000 }), "memo larger than 1000");
  expectError(() => unpickle(nested, { ...pickleOpts, maxObjects: 1000 }), "more than 1000 objects");
  assert.is(unpickle(concat([P.proto(), P.bytes(0x8a, 0x02, 0xff, 0x7f), P.stop()]), pickleOpts), 0x7fff);
  assert.is(unpickle(concat([P.proto(), P.bytes(0x8a, 0x01, 0xff), P.stop()]), pickleOpts), -1);
});

test("zip: directory corruption is a CheckpointError", () => {
  const good = zipBytes([["a/data.pkl", new Uint8Array(10)]]);
  const eocd = good.length - 22;
  const cases: [number, number][] = [
    [eocd + 16, 0xff], // central directory offset
    [eocd + 12, 0xff], // central directory size
    [eocd + 10, 0x50], // entry count
  ];
  for (const [at, v] of cases) {
    const b = good.slice();
    b[at] = v;
    expectError(() => new ZipArchive(mem(b, "z.bin")), "z.bin", "ZIP");
  }
  const noEocd = good.slice();
  noEocd[eocd] = 0;
  expectError(() => new ZipArchive(mem(noEocd, "z.bin")), "no end-of-central-directory");
  const z = new ZipArchive(mem(good, "z.bin"));
  assert.equal([...z.entries.keys()], ["a/data.pkl"]);
  const local = good.slice();
  local[0] = 0;
  expectError(() => new ZipArchive(mem(local, "z.bin")).read(new ZipArchive(mem(local, "z.bin")).entries.get("a/data.pkl")!), "local header");
});

test.run();
