// Fuzzing the checkpoint loaders with fast-check: take real files (the golden safetensors, torch.save
// .bin fixtures, config.json files), mutate them (flipped bytes, truncation, huge lengths written
// into headers, safetensors header surgery, ZIP record corruption, deep / oversized pickle ops,
// config field surgery) and load them. The only acceptable outcomes are a successful load or a
// typed ScanstreamError; anything else (TypeError, RangeError, stack overflow) is a failure reported
// with fast-check's seed and path. Every buffer a loader allocates is observed (observeAllocations)
// and must not exceed the file's size; float32 conversions must not exceed twice the file size.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import * as fc from "fast-check";
import { ScanstreamError } from "../../core/errors.ts";
import { MemoryBytes, observeAllocations } from "../../core/formats/bytes.ts";
import { resolveConfig } from "../../core/formats/config.ts";
import { toFloat32 } from "../../core/formats/dtype.ts";
import { parseConfigJson } from "../../core/formats/json.ts";
import { SafetensorsFile } from "../../core/formats/safetensors.ts";
import type { TensorSource } from "../../core/formats/tensor.ts";
import { TorchBinFile } from "../../core/formats/torchbin.ts";
import { ZipArchive } from "../../core/formats/zip.ts";
import { concat, f32Safetensors, P, safetensorsBytes, torchBinBytes, zipBytes } from "./builders.ts";
import { FIXTURES, GOLDEN } from "../helpers/golden.ts";

type Kind = "safetensors" | "bin" | "config";
interface Base {
  kind: Kind;
  label: string;
  bytes: Uint8Array;
}

function loadBases(): Base[] {
  const read = (p: string) => new Uint8Array(fs.readFileSync(p));
  const F = path.join(FIXTURES, "formats");
  const f32 = (...v: number[]) => new Uint8Array(new Float32Array(v).buffer);
  return [
    { kind: "safetensors", label: "golden m2_ss f32", bytes: read(path.join(GOLDEN, "m2_ss_v256_g1_tied_f32/model.safetensors")) },
    { kind: "safetensors", label: "m1_st_f16", bytes: read(path.join(F, "m1_st_f16/model.safetensors")) },
    { kind: "safetensors", label: "m2_st_bf16", bytes: read(path.join(F, "m2_st_bf16/model.safetensors")) },
    { kind: "safetensors", label: "small", bytes: f32Safetensors({ a: { shape: [2, 3], values: [1, 2, 3, 4, 5, 6] }, b: { shape: [3], values: [7, 8, 9] } }) },
    { kind: "bin", label: "views.bin (torch.save)", bytes: read(path.join(F, "views.bin")) },
    { kind: "bin", label: "views big-endian zip64", bytes: read(path.join(F, "views_bigendian_zip64.bin")) },
    { kind: "bin", label: "m1_bin_f16 (torch.save)", bytes: read(path.join(F, "m1_bin_f16/pytorch_model.bin")) },
    {
      kind: "bin",
      label: "small hand-made",
      bytes: torchBinBytes([{ name: "a", key: "0", shape: [2, 2] }, { name: "t", key: "0", shape: [2, 2], stride: [1, 2] }], { "0": f32(1, 2, 3, 4) }),
    },
    { kind: "config", label: "m2_ss config", bytes: read(path.join(GOLDEN, "m2_ss_v256_g1_tied_f32/config.json")) },
    { kind: "config", label: "m2_hf config", bytes: read(path.join(GOLDEN, "m2_hf_v1000_g2_untied_f32/config.json")) },
    { kind: "config", label: "m1_hf config", bytes: read(path.join(GOLDEN, "m1_hf_v1000_untied_f32/config.json")) },
  ];
}

// ---- mutations ------------------------------------------------------------------------------

const HUGE = [0n, 1n, 0x7fn, 0xffn, 0xffffn, 0x7fffffffn, 0xffffffffn, 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n];
const bigValue = fc.oneof(fc.constantFrom(...HUGE), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }));
const frac = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true });
const weird = fc.oneof(
  fc.constantFrom<unknown>(-1, 0, 1.5, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 60, 1e300, "x", "F32", "BF16", null, [], {}, true, [1], [-1, 2], [0, 2 ** 62]),
  fc.integer(),
  fc.array(fc.integer({ min: -2, max: 2 ** 40 }), { maxLength: 5 }),
);

type Mutation =
  | { kind: "flip"; flips: [number, number][] }
  | { kind: "truncate"; at: number }
  | { kind: "huge"; at: number; width: 2 | 4 | 8; value: bigint }
  | { kind: "splice"; at: number; bytes: Uint8Array }
  | { kind: "stheader"; entry: number; field: string; value: unknown }
  | { kind: "stlength"; value: bigint }
  | { kind: "zip"; record: number; field: number; width: 2 | 4 | 8; value: bigint }
  | { kind: "pickle"; op: "nest" | "lists" | "hugelen" | "opcode" | "global" | "splice"; at: number; n: number; bytes: Uint8Array }
  | { kind: "config"; key: number; value: unknown; remove: boolean };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), flips: fc.array(fc.tuple(frac, fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant("truncate" as const), at: frac }),
  fc.record({ kind: fc.constant("huge" as const), at: frac, width: fc.constantFrom(2 as const, 4 as const, 8 as const), value: bigValue }),
  fc.record({ kind: fc.constant("splice" as const), at: frac, bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
  fc.record({ kind: fc.constant("stheader" as const), entry: fc.nat(), field: fc.constantFrom("shape", "dtype", "data_offsets", "entry", "name"), value: weird }),
  fc.record({ kind: fc.constant("stlength" as const), value: fc.oneof(bigValue, fc.bigInt({ min: 0n, max: 2000n })) }),
  fc.record({ kind: fc.constant("zip" as const), record: fc.nat(), field: fc.nat({ max: 60 }), width: fc.constantFrom(2 as const, 4 as const, 8 as const), value: bigValue }),
  fc.record({
    kind: fc.constant("pickle" as const),
    op: fc.constantFrom("nest" as const, "lists" as const, "hugelen" as const, "opcode" as const, "global" as const, "splice" as const),
    at: frac,
    n: fc.oneof(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 1000, max: 300000 })),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
  }),
  fc.record({ kind: fc.constant("config" as const), key: fc.nat(), value: weird, remove: fc.boolean() }),
);

function writeUint(b: Uint8Array, at: number, width: 2 | 4 | 8, v: bigint): void {
  for (let i = 0; i < width && at + i < b.length; i++) b[at + i] = Number((v >> BigInt(8 * i)) & 0xffn);
}

/** Offsets of every ZIP record (EOCD, ZIP64 records, central and local headers) in a well-formed base. */
function zipRecords(bytes: Uint8Array): number[] {
  const at: number[] = [];
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i + 4 <= bytes.length; i++) {
    const s = v.getUint32(i, true);
    if (s === 0x06054b50 || s === 0x06064b50 || s === 0x07064b50 || s === 0x02014b50 || s === 0x04034b50) at.push(i);
  }
  return at;
}

function zipEntries(bytes: Uint8Array): [string, Uint8Array][] {
  const z = new ZipArchive(new MemoryBytes(bytes, "base"));
  return [...z.entries.values()].map((e) => [e.name, z.read(e)]);
}

/** Applies `m` to a copy of `base` (mutations that do not fit the file kind fall back to a byte flip). */
function mutate(base: Base, m: Mutation): Uint8Array {
  const b = base.bytes;
  const pos = (f: number) => Math.floor(f * b.length);
  switch (m.kind) {
    case "flip": {
      const out = b.slice();
      for (const [f, v] of m.flips) out[pos(f)] = v;
      return out;
    }
    case "truncate":
      return b.slice(0, pos(m.at));
    case "huge": {
      const out = b.slice();
      writeUint(out, pos(m.at), m.width, m.value);
      return out;
    }
    case "splice":
      return concat([b.subarray(0, pos(m.at)), m.bytes, b.subarray(pos(m.at))]);
    case "stheader":
    case "stlength": {
      if (base.kind !== "safetensors") return mutate(base, { kind: "flip", flips: [[0.5, 0xff]] });
      const n = Number(new DataView(b.buffer, b.byteOffset).getBigUint64(0, true));
      const data = b.subarray(8 + n);
      const header = JSON.parse(new TextDecoder().decode(b.subarray(8, 8 + n)));
      if (m.kind === "stlength") return safetensorsBytes(header, data, m.value);
      const names = Object.keys(header);
      const name = names[m.entry % names.length];
      if (m.field === "entry") header[name] = m.value;
      else if (m.field === "name") header[String(m.value)] = header[name];
      else if (typeof header[name] === "object") header[name][m.field] = m.value;
      return safetensorsBytes(header, data);
    }
    case "zip": {
      if (base.kind !== "bin") return mutate(base, { kind: "huge", at: 0.01, width: m.width, value: m.value });
      const recs = zipRecords(b);
      const out = b.slice();
      writeUint(out, recs[m.record % recs.length] + m.field, m.width, m.value);
      return out;
    }
    case "pickle": {
      if (base.kind !== "bin") return mutate(base, { kind: "splice", at: m.at, bytes: m.bytes });
      const entries = zipEntries(b);
      const i = entries.findIndex(([n]) => n.endsWith("data.pkl"));
      const pkl = entries[i][1];
      const at = 2 + Math.floor(m.at * (pkl.length - 2)); // after PROTO
      let insert: Uint8Array;
      switch (m.op) {
        case "nest": insert = new Uint8Array(m.n).fill(0x28); break; // MARK MARK MARK ...
        case "lists": insert = concat([new Uint8Array(m.n).fill(0x5d), new Uint8Array(m.n - 1).fill(0x61)]); break; // [[[...]]]
        case "hugelen": insert = P.bytes(0x58, 0xff, 0xff, 0xff, m.bytes[0] & 0x7f); break; // BINUNICODE of ~2 GB
        case "opcode": insert = m.bytes; break;
        case "global": insert = P.global(["os", "builtins", "torch", "subprocess", "collections"][m.n % 5], ["system", "eval", "load", "Popen", "defaultdict"][m.bytes[0] % 5]); break;
        case "splice": insert = concat([P.int(m.n), m.bytes]); break;
      }
      entries[i] = [entries[i][0], concat([pkl.subarray(0, at), insert, pkl.subarray(at)])];
      return zipBytes(entries);
    }
    case "config": {
      if (base.kind !== "config") return mutate(base, { kind: "flip", flips: [[0.3, 0x00]] });
      const j = parseConfigJson(new TextDecoder().decode(b), "base");
      const holders: Record<string, unknown>[] = [j];
      if (j.ssm_cfg && typeof j.ssm_cfg === "object") holders.push(j.ssm_cfg);
      const keys = holders.flatMap((h) => Object.keys(h).map((k) => [h, k] as const));
      const [h, k] = keys[m.key % keys.length];
      if (m.remove) delete h[k];
      else h[k] = m.value;
      const text = JSON.stringify(j, (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? `@@${v}@@` : v)).replace(/"@@(-?Infinity|NaN)@@"/g, "$1");
      return new TextEncoder().encode(text);
    }
  }
}

// ---- running the loaders ----------------------------------------------------------------------

function exercise(source: TensorSource, size: number, conv: { max: number }): void {
  for (const name of source.names()) {
    source.info?.(name);
    const t = source.get(name);
    if (t && (t.dtype === "F32" || t.dtype === "F16" || t.dtype === "BF16" || t.dtype === "F64")) {
      const f = toFloat32(t);
      conv.max = Math.max(conv.max, f.byteLength / Math.max(size, 1));
    }
  }
}

export interface FuzzReport {
  cases: number;
  seed: number;
  durationMs: number;
  outcomes: Record<string, number>;
  byBase: Record<string, number>;
  maxAllocRatio: number;
  maxFloatRatio: number;
  slowestMs: number;
  failure?: { seed: number; path?: string; message: string; counterexample: string };
}

export function runFuzz(opts: { cases: number; seed?: number; path?: string; onProgress?: (done: number) => void }): FuzzReport {
  const bases = loadBases();
  const goldenDir = path.join(GOLDEN, "m2_ss_v256_g1_tied_f32");
  const goldenTensors: Record<string, SafetensorsFile> = {
    "m2_ss config": SafetensorsFile.open(path.join(goldenDir, "model.safetensors")),
    "m2_hf config": SafetensorsFile.open(path.join(GOLDEN, "m2_hf_v1000_g2_untied_f32/model.safetensors")),
    "m1_hf config": SafetensorsFile.open(path.join(GOLDEN, "m1_hf_v1000_untied_f32/model.safetensors")),
  };
  const goldenConfig = parseConfigJson(fs.readFileSync(path.join(goldenDir, "config.json"), "utf8"), "config.json");
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "scanstream-fuzz-"));
  const report: FuzzReport = { cases: 0, seed: opts.seed ?? Date.now() % 2 ** 31, durationMs: 0, outcomes: {}, byBase: {}, maxAllocRatio: 0, maxFloatRatio: 0, slowestMs: 0 };
  const started = performance.now();

  const property = fc.property(fc.nat({ max: bases.length - 1 }), mutationArb, fc.boolean(), (bi, m, viaFile) => {
    const base = bases[bi];
    const bytes = mutate(base, m);
    const name = `${base.label.replace(/\W+/g, "_")}.${base.kind === "bin" ? "bin" : base.kind === "config" ? "json" : "safetensors"}`;
    let maxAlloc = 0;
    observeAllocations((n) => (maxAlloc = Math.max(maxAlloc, n)));
    const conv = { max: 0 };
    const t0 = performance.now();
    let outcome = "loaded";
    try {
      if (base.kind === "config") {
        const json = parseConfigJson(new TextDecoder().decode(bytes), name);
        resolveConfig(json, name, goldenTensors[base.label]);
      } else {
        // a few cases go through a real file descriptor, the rest through memory (same reader code)
        let src;
        if (viaFile && report.cases % 20 === 0) {
          const p = path.join(tmp, name);
          fs.writeFileSync(p, bytes);
          src = base.kind === "bin" ? TorchBinFile.open(p) : SafetensorsFile.open(p);
        } else {
          const mem = new MemoryBytes(bytes, name);
          src = base.kind === "bin" ? new TorchBinFile(mem) : new SafetensorsFile(mem);
        }
        try {
          exercise(src, bytes.length, conv);
          if (base.kind === "safetensors") resolveConfig(goldenConfig, "config.json", src);
        } finally {
          src.close();
        }
      }
    } catch (e) {
      if (!(e instanceof ScanstreamError)) throw e; // the failure fast-check reports (with seed and path)
      outcome = e.name;
    } finally {
      observeAllocations(undefined);
    }
    const ms = performance.now() - t0;
    report.cases++;
    report.outcomes[outcome] = (report.outcomes[outcome] ?? 0) + 1;
    report.byBase[base.label] = (report.byBase[base.label] ?? 0) + 1;
    report.slowestMs = Math.max(report.slowestMs, ms);
    const allocRatio = maxAlloc / Math.max(bytes.length, 1);
    report.maxAllocRatio = Math.max(report.maxAllocRatio, allocRatio);
    report.maxFloatRatio = Math.max(report.maxFloatRatio, conv.max);
    if (allocRatio > 1) throw new Error(`a loader allocated ${maxAlloc} bytes for a ${bytes.length}-byte file`);
    if (conv.max > 2) throw new Error(`float32 conversion produced ${conv.max}x the file size`);
    if (ms > 10_000) throw new Error(`one case took ${ms.toFixed(0)} ms (hang?)`);
    if (report.cases % 500 === 0) opts.onProgress?.(report.cases);
  });

  const result = fc.check(property, { numRuns: opts.cases, seed: report.seed, path: opts.path, endOnFailure: true });
  report.durationMs = performance.now() - started;
  if (result.failed) {
    report.failure = {
      seed: result.seed,
      path: result.counterexamplePath ?? undefined,
      message: String((result.errorInstance as Error)?.stack ?? result.errorInstance),
      counterexample: fc.stringify(result.counterexample).slice(0, 2000),
    };
  }
  for (const s of Object.values(goldenTensors)) s.close();
  fs.rmSync(tmp, { recursive: true, force: true });
  return report;
}
