// The wasm package and runtime: wasm/pkg matches its manifest, both builds export every kernel of the
// generated bindings, the vector math / allocator / gemm kernels behave, the backend reports
// what runs, rejects bad input with typed errors, and a decode loop allocates no wasm memory.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import * as fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { BackendError, OptionError } from "../core/errors.ts";
import { createCpuBackend } from "../kernels/cpu/index.ts";
import { createWasmBackend, KERNEL_ABI } from "../kernels/wasm/index.ts";
import { BUILDS, checkKernels, compileBuild, KERNEL_NAMES, SIGNATURES, type Kernels } from "../wasm/pkg/bindings.ts";
import { rejects } from "./helpers/assert.ts";

const pkg = new URL("../wasm/pkg/", import.meta.url);
const single = await compileBuild("single");
const inst = await WebAssembly.instantiate(single, {});
const k: Kernels = checkKernels(inst.exports);
const mem = inst.exports.memory as WebAssembly.Memory;
const f32 = () => new Float32Array(mem.buffer);

test("wasm/pkg matches manifest.json and the generated bindings", () => {
  const manifest = JSON.parse(readFileSync(new URL("manifest.json", pkg), "utf8"));
  for (const b of Object.values(BUILDS)) {
    const bytes = readFileSync(new URL(b.file, pkg));
    const sha = createHash("sha256").update(bytes).digest("hex");
    assert.is(sha, b.sha256, `${b.file}: sha256 in bindings.ts`);
    assert.is(sha, manifest.files[b.file].sha256, `${b.file}: sha256 in manifest.json`);
    assert.is(bytes.length, manifest.files[b.file].bytes);
  }
  const bindings = readFileSync(new URL("bindings.ts", pkg));
  assert.is(createHash("sha256").update(bindings).digest("hex"), manifest.bindings.sha256, "bindings.ts sha256");
  assert.is(manifest.bindings.kernels, KERNEL_NAMES.length);
});

test("both builds export every kernel with the generated signature; the threaded one imports a shared memory", async () => {
  const mt = await compileBuild("threads");
  const imports = WebAssembly.Module.imports(mt);
  assert.equal(imports.map((i) => `${i.module}.${i.name}:${i.kind}`), ["env.memory:memory"]);
  const memory = new WebAssembly.Memory({ initial: BUILDS.threads.memory.min, maximum: 1024, shared: true });
  assert.ok(memory.buffer instanceof SharedArrayBuffer);
  const i2 = await WebAssembly.instantiate(mt, { env: { memory } });
  for (const exports of [inst.exports, i2.exports]) {
    checkKernels(exports);
    for (const name of KERNEL_NAMES) assert.is((exports[name] as (...a: unknown[]) => unknown).length, SIGNATURES[name].params.length, name);
  }
  assert.ok(i2.exports.__stack_pointer instanceof WebAssembly.Global, "threaded build exports __stack_pointer");
  assert.is(k.ss_abi_version(), KERNEL_ABI);
});

test("vector exp / log / softplus / silu match Math within 4 ulp-ish (relative 5e-7); exp flushes below -63", () => {
  const n = 4099;
  const x = k.ss_alloc(n * 4), y = k.ss_alloc(n * 4);
  const check = (name: string, fn: (x: number, y: number, n: number) => void, lo: number, hi: number, ref: (v: number) => number, rel: number, abs = 0) => {
    const xs = f32().subarray(x >> 2, (x >> 2) + n);
    for (let i = 0; i < n; i++) xs[i] = lo + ((hi - lo) * i) / (n - 1);
    fn(x, y, n);
    const ys = f32().subarray(y >> 2, (y >> 2) + n);
    for (let i = 0; i < n; i++) {
      const want = ref(xs[i]);
      const d = Math.abs(ys[i] - want);
      if (!(d <= rel * Math.abs(want) + abs)) assert.unreachable(`${name}(${xs[i]}) = ${ys[i]}, expected ${want}`);
    }
  };
  check("exp", k.ss_vexp, -63, 88, Math.exp, 5e-7);
  check("exp", k.ss_vexp, -200, -63.001, () => 0, 0);
  check("log", k.ss_vlog, 1e-30, 1e30, Math.log, 2e-7, 1e-7);
  check("log", k.ss_vlog, 0.5, 2, Math.log, 2e-7, 1e-7);
  check("softplus", k.ss_vsoftplus, -60, 40, (v) => (v > 20 ? v : Math.log1p(Math.exp(v))), 5e-7);
  check("softplus", k.ss_vsoftplus, -100, -64, () => 0, 0, 1e-27);
  check("silu", k.ss_vsilu, -90, 90, (v) => v / (1 + Math.exp(-v)), 5e-7, 1e-30);
  k.ss_free(x);
  k.ss_free(y);
});

test("allocator: 64-byte aligned, disjoint, and frees back to the same footprint", () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.integer({ min: 1, max: 200_000 }), fc.boolean()), { minLength: 1, maxLength: 40 }), (ops) => {
      const before = k.ss_heap_in_use();
      const live: { p: number; n: number; tag: number }[] = [];
      let tag = 1;
      for (const [n, freeOne] of ops) {
        const p = k.ss_alloc(n);
        assert.ok(p > 0 && p % 64 === 0, `alloc(${n}) = ${p}`);
        new Uint8Array(mem.buffer, p, n).fill(tag & 0xff);
        live.push({ p, n, tag: tag++ & 0xff });
        if (freeOne && live.length > 1) {
          const i = live.length >> 1;
          k.ss_free(live[i].p);
          live.splice(i, 1);
        }
      }
      for (const a of live) {
        const b = new Uint8Array(mem.buffer, a.p, a.n);
        assert.ok(b[0] === a.tag && b[a.n - 1] === a.tag, "block contents survive other allocations");
      }
      for (const a of live) k.ss_free(a.p);
      assert.is(k.ss_heap_in_use(), before);
    }),
    { numRuns: 30 },
  );
});

test("gemm (the scans' matrix product) equals a float64 product for odd sizes, with and without accumulate", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 19 }), fc.integer({ min: 1, max: 21 }), fc.integer({ min: 1, max: 17 }), fc.boolean(), (m, n, kk, acc) => {
      const lda = kk + 3, ldb = n + 1, ldc = n + 2;
      const a = k.ss_alloc(m * lda * 4), b = k.ss_alloc(kk * ldb * 4), c = k.ss_alloc(m * ldc * 4);
      const A = f32().subarray(a >> 2, (a >> 2) + m * lda), B = f32().subarray(b >> 2, (b >> 2) + kk * ldb), C = f32().subarray(c >> 2, (c >> 2) + m * ldc);
      A.forEach((_, i) => (A[i] = Math.sin(i * 1.3)));
      B.forEach((_, i) => (B[i] = Math.cos(i * 0.7)));
      C.forEach((_, i) => (C[i] = i % 5));
      const C0 = C.slice();
      k.ss_gemm(m, n, kk, a, lda, b, ldb, c, ldc, acc ? 1 : 0);
      for (let i = 0; i < m; i++)
        for (let j = 0; j < ldc; j++) {
          if (j >= n) {
            assert.is(C[i * ldc + j], C0[i * ldc + j], "padding untouched");
            continue;
          }
          let s = acc ? C0[i * ldc + j] : 0;
          for (let q = 0; q < kk; q++) s += A[i * lda + q] * B[q * ldb + j];
          assert.ok(Math.abs(C[i * ldc + j] - s) <= 1e-5 * (1 + Math.abs(s)), `C[${i},${j}] = ${C[i * ldc + j]}, expected ${s}`);
        }
      k.ss_free(a);
      k.ss_free(b);
      k.ss_free(c);
    }),
    { numRuns: 40 },
  );
});

test("detail says what runs; threads option is validated; the default warm-up runs", async () => {
  const b1 = await createWasmBackend({ threads: 1 });
  assert.is(b1.detail, "wasm simd128, 1 thread");
  b1.matrix(new Float32Array(12), 3, 4, "int8");
  b1.matrix(new Float32Array(12), 3, 4);
  assert.is(b1.detail, "wasm simd128, 1 thread, f32+int8 weights");
  assert.is(b1.build, "threads", "shared-memory build wherever SharedArrayBuffer exists");
  b1.dispose();
  const bs = await createWasmBackend({ threads: 2, shared: false, warmUp: false });
  assert.is(bs.build, "single");
  assert.is(bs.threads, 1);
  assert.match(bs.detail, "1 thread (2 requested; no SharedArrayBuffer: single-threaded build)");
  assert.ok(!(bs.alloc(4).buffer instanceof SharedArrayBuffer), "alloc() gives an ordinary array without shared memory");
  bs.dispose();
  const b2 = await createWasmBackend({ threads: 2, warmUp: false });
  assert.is(b2.threads, 2);
  assert.is(b2.build, "threads");
  assert.match(b2.detail, /^wasm simd128, 2 threads$/);
  b2.dispose();
  for (const threads of [0, -1, 1.5, NaN]) await rejects(() => createWasmBackend({ threads }), (e) => e instanceof OptionError, `threads ${threads}`);
});

test("bad input gives BackendError, not a trap or a RangeError", async () => {
  const b = await createWasmBackend({ threads: 1, warmUp: false });
  const cpu = createCpuBackend();
  const m = b.matrix(new Float32Array(6), 2, 3);
  const isBE = (f: () => unknown, what: string) => assert.throws(f, (e: unknown) => e instanceof BackendError, what);
  isBE(() => b.matmul(new Float32Array(3), 1, cpu.matrix(new Float32Array(6), 2, 3)), "foreign matrix");
  isBE(() => b.matmul(new Float32Array(5), 2, m), "x too short");
  isBE(() => b.matrix(new Float32Array(5), 2, 3), "weights too short");
  isBE(() => b.matrix(new Float32Array(6), 2, 3, "f8" as never), "unknown dtype");
  isBE(() => b.embed([0, 2], m), "id out of range");
  isBE(() => b.embed([0.5], m), "non-integer id");
  isBE(() => b.conv1d(new Float32Array(4), 2, 2, 3, new Float32Array(6), null, new Float32Array(3)), "window too short");
  isBE(() => b.gatedRmsnorm(new Float32Array(6), new Float32Array(6), 1, 6, 4, new Float32Array(6), 1e-5, false), "group size");
  isBE(() => b.ssdScan({ T: 1, H: 3, P: 1, G: 2, N: 1, x: new Float32Array(3), dt: new Float32Array(3), A: new Float32Array(3), B: new Float32Array(2), C: new Float32Array(2), D: new Float32Array(3), state: new Float32Array(3), chunkSize: 4 }), "H % G");
  b.release(m);
  isBE(() => b.matmul(new Float32Array(3), 1, m), "released matrix");
  b.dispose();
  isBE(() => b.matrix(new Float32Array(6), 2, 3), "disposed backend");
});

test("a decode loop allocates no wasm memory after the first token (scratch slots are reused)", async () => {
  const b = await createWasmBackend({ threads: 2, warmUp: false });
  const D = 64, E = 2 * D, H = 2, P = E / H, N = 16, K = 4, V = 50;
  const R = 2 * E + 2 * N + H;
  const wIn = b.matrix(new Float32Array(R * D).map((_, i) => Math.sin(i) * 0.1), R, D, "int8");
  const wOut = b.matrix(new Float32Array(D * E).map((_, i) => Math.cos(i) * 0.1), D, E, "f16");
  const emb = b.matrix(new Float32Array(V * D).map((_, i) => Math.sin(i * 0.1)), V, D);
  // the recurrent state lives in wasm memory (alloc): scanned in place, never copied
  const state = b.alloc(H * P * N), win = b.alloc((E + 2 * N) * (K - 1));
  assert.ok(state.buffer instanceof SharedArrayBuffer);
  const convW = new Float32Array((E + 2 * N) * K).fill(0.1), normW = new Float32Array(D).fill(1);
  const out = { x: new Float32Array(D), zx: new Float32Array(2 * E + 2 * N + H), xc: new Float32Array(E + 2 * N), y: new Float32Array(E), o: new Float32Array(D), l: new Float32Array(V) };
  const step = (id: number) => {
    b.embed([id], emb, out.x);
    b.rmsnorm(out.x, 1, D, normW, 1e-5, out.o);
    b.matmul(out.o, 1, wIn, out.zx);
    b.conv1d(out.zx.subarray(E, 2 * E + 2 * N), 1, E + 2 * N, K, convW, null, win, out.xc);
    const dt = out.zx.subarray(2 * E + 2 * N);
    b.dtSoftplus(dt, 1, H, new Float32Array(H), 0, Infinity);
    b.ssdScan({ T: 1, H, P, G: 1, N, x: out.xc.subarray(0, E), dt, A: new Float32Array(H).fill(-1), B: out.xc.subarray(E, E + N), C: out.xc.subarray(E + N), D: new Float32Array(H), state, chunkSize: 64, out: out.y });
    b.gatedRmsnorm(out.y, out.zx.subarray(0, E), 1, E, E, new Float32Array(E).fill(1), 1e-5, false, out.y);
    b.matmul(out.y, 1, wOut, out.o);
    b.add(out.x, out.o);
    b.matmul(out.x, 1, emb, out.l);
  };
  step(1);
  const used = b.memoryInUse();
  for (let t = 0; t < 50; t++) step(t % V);
  assert.is(b.memoryInUse(), used, "wasm heap unchanged over 50 decode steps");
  assert.ok(out.l.every(Number.isFinite));
  b.dispose();
});

test("a worker that exits holding a chunk: a typed error naming it (no hang), then the backend runs on the calling thread", async () => {
  const cpu = createCpuBackend();
  const rows = 96, cols = 64, T = 40;
  const w = Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i));
  const x = Float32Array.from({ length: T * cols }, (_, i) => Math.cos(i));
  const want = cpu.matmul(x, T, cpu.matrix(w, rows, cols));
  const b = await createWasmBackend({ threads: 2, grain: "fine", warmUp: false, exitOnClaim: 1, stallMs: 10_000 });
  try {
    const m = b.matrix(w, rows, cols);
    const t0 = Date.now();
    let err: unknown;
    // the worker exits on the first chunk it claims; the caller may take every chunk of a call first
    for (let i = 0; i < 200 && !err; i++) {
      try {
        b.matmul(x, T, m);
      } catch (e) {
        err = e;
      }
    }
    assert.ok(err instanceof BackendError, `expected a BackendError, got ${err}`);
    assert.match((err as Error).message, /worker 1 exited while running chunk \d+ of \d+/);
    assert.ok(Date.now() - t0 < 5_000, "detected through the worker's exit, not the stall timeout");
    assert.is(b.threads, 1);
    assert.match(b.detail, /a worker was lost/);
    const got = b.matmul(x, T, m);
    for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) <= 1e-4 * (1 + Math.abs(want[i])), `after the loss, element ${i}`);
  } finally {
    b.dispose();
  }
});

test.run();
