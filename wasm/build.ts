// Builds the scanstream-wasm crate and generates wasm/pkg/ (committed, so `npm install` needs no Rust):
//   scanstream_wasm.wasm      single-threaded build (simd128)
//   scanstream_wasm_mt.wasm   threaded build (simd128 + atomics, imports a shared memory)
//   bindings.ts               TypeScript types + signature table, generated from the crate's
//                             `#[no_mangle] pub extern "C" fn` items and checked against the wasm
//                             type/export sections
//   manifest.json             name, version, sha256 and size of each wasm, toolchain, flags
//
// Usage: tsx wasm/build.ts [--out DIR] [--clean] [--quiet]
// Toolchain (no crates.io, no wasm-pack): Debian rustc-web + rust-web-src + lld; `core` is built
// from source with -Zbuild-std=core (RUSTC_BOOTSTRAP=1) against the vendored library sources.
// Environment overrides: CARGO, RUSTC, WASM_LD, RUST_SRC_VENDOR.
//
// Reproducible: custom sections (names, producers) are stripped, source paths are remapped, and
// the generated text is sorted, so a rebuild with the same toolchain gives the same bytes
// (wasm/check-fresh.ts relies on this).
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const crate = here;
const args = process.argv.slice(2);
const outDir = resolve(args.includes("--out") ? args[args.indexOf("--out") + 1] : join(here, "pkg"));
const quiet = args.includes("--quiet");
const log = (s: string) => quiet || console.error(s);

function which(names: string[]): string | undefined {
  for (const n of names) {
    if (n.includes("/")) {
      if (existsSync(n)) return n;
      continue;
    }
    for (const d of (process.env.PATH ?? "").split(":")) if (d && existsSync(join(d, n))) return join(d, n);
  }
  return undefined;
}

const cargo = process.env.CARGO ?? which(["/usr/bin/cargo", "cargo"]);
const rustc = process.env.RUSTC ?? which(["/usr/bin/rustc", "rustc"]);
const linker = process.env.WASM_LD ?? which(["wasm-ld-22", "wasm-ld-21", "wasm-ld-20", "wasm-ld-19", "wasm-ld", "rust-lld"]);
const vendor = process.env.RUST_SRC_VENDOR ?? "/usr/lib/rustlib/src/rust/library/vendor";
if (!cargo || !rustc) throw new Error("cargo/rustc not found: apt-get install rustc-web cargo-web rust-web-src (see DEVELOPERS.md)");
if (!linker) throw new Error("wasm-ld not found: apt-get install lld (wasm-ld-NN)");
if (!existsSync(vendor)) throw new Error(`${vendor} missing: apt-get install rust-web-src (library sources for -Zbuild-std)`);

const rustcVersion = execFileSync(rustc, ["--version"], { encoding: "utf8" }).trim();
const sysrootSrc = resolve(vendor, "..", "..");

interface Variant {
  key: "single" | "threads";
  file: string;
  features: string;
  linkArgs: string[];
}
const base = "+simd128,+bulk-memory,+mutable-globals,+nontrapping-fptoint,+sign-ext";
const variants: Variant[] = [
  { key: "single", file: "scanstream_wasm.wasm", features: base, linkArgs: [] },
  {
    key: "threads",
    file: "scanstream_wasm_mt.wasm",
    features: base + ",+atomics",
    linkArgs: ["--shared-memory", "--import-memory", "--max-memory=4294967296", "--export=__stack_pointer"],
  },
];

/** CARGO_ENCODED_RUSTFLAGS (0x1f-separated, so paths may contain spaces). */
function rustflags(v: Variant): string {
  return [
    `-Ctarget-feature=${v.features}`,
    `-Clinker=${linker}`,
    ...v.linkArgs.map((a) => `-Clink-arg=${a}`),
    `--remap-path-prefix=${crate}=/scanstream/wasm`,
    `--remap-path-prefix=${sysrootSrc}=/rust`,
  ].join("\x1f");
}

function cargoBuild(v: Variant): Uint8Array {
  const targetDir = join(crate, "target", v.key);
  if (args.includes("--clean")) rmSync(targetDir, { recursive: true, force: true });
  log(`building ${v.key} (${v.features})`);
  execFileSync(
    cargo!,
    [
      "build", "--offline", "--release", "--target", "wasm32-unknown-unknown", "-Zbuild-std=core",
      "--config", 'source.crates-io.replace-with="rust-src-vendor"',
      "--config", `source.rust-src-vendor.directory="${vendor}"`,
      "--target-dir", targetDir,
    ],
    {
      cwd: crate,
      stdio: ["ignore", quiet ? "ignore" : "inherit", "inherit"],
      env: {
        ...process.env,
        RUSTC: rustc,
        RUSTC_BOOTSTRAP: "1",
        RUSTFLAGS: undefined,
        CARGO_ENCODED_RUSTFLAGS: rustflags(v),
        SOURCE_DATE_EPOCH: "0",
      },
    },
  );
  return readFileSync(join(targetDir, "wasm32-unknown-unknown", "release", "scanstream_wasm.wasm"));
}

// ---- wasm binary reading --------------------------------------------------------------------

type ValType = "i32" | "i64" | "f32" | "f64" | "v128";
const VALTYPES: Record<number, ValType> = { 0x7f: "i32", 0x7e: "i64", 0x7d: "f32", 0x7c: "f64", 0x7b: "v128" };

class Reader {
  constructor(
    readonly b: Uint8Array,
    public p = 0,
  ) {}
  u8() {
    return this.b[this.p++];
  }
  u32() {
    let r = 0, s = 0, x: number;
    do {
      x = this.b[this.p++];
      r |= (x & 0x7f) << s;
      s += 7;
    } while (x & 0x80);
    return r >>> 0;
  }
  u64(): bigint {
    let r = 0n, s = 0n, x: number;
    do {
      x = this.b[this.p++];
      r |= BigInt(x & 0x7f) << s;
      s += 7n;
    } while (x & 0x80);
    return r;
  }
  name() {
    const n = this.u32();
    const s = new TextDecoder().decode(this.b.subarray(this.p, this.p + n));
    this.p += n;
    return s;
  }
  limits() {
    const flags = this.u8();
    const min = this.u32();
    const max = flags & 1 ? Number(this.u64()) : undefined;
    return { min, max, shared: (flags & 2) !== 0 };
  }
}

interface WasmInfo {
  stripped: Uint8Array;
  exports: Map<string, { kind: number; index: number }>;
  funcType: (fnIndex: number) => { params: ValType[]; results: ValType[] };
  memory: { min: number; max?: number; shared: boolean; imported: boolean };
  stackUsers: number;
}

function readWasm(bytes: Uint8Array): WasmInfo {
  const r = new Reader(bytes, 8);
  const keep: Uint8Array[] = [bytes.subarray(0, 8)];
  const types: { params: ValType[]; results: ValType[] }[] = [];
  const funcs: number[] = [];
  let importedFuncs = 0;
  let memory: WasmInfo["memory"] | undefined;
  const exports = new Map<string, { kind: number; index: number }>();
  let stackUsers = 0;
  while (r.p < bytes.length) {
    const start = r.p;
    const id = r.u8();
    const size = r.u32();
    const body = r.p;
    const end = body + size;
    if (id !== 0) keep.push(bytes.subarray(start, end));
    const s = new Reader(bytes, body);
    if (id === 1) {
      for (let n = s.u32(); n > 0; n--) {
        if (s.u8() !== 0x60) throw new Error("unexpected type form");
        const params = Array.from({ length: s.u32() }, () => VALTYPES[s.u8()]);
        const results = Array.from({ length: s.u32() }, () => VALTYPES[s.u8()]);
        types.push({ params, results });
      }
    } else if (id === 2) {
      for (let n = s.u32(); n > 0; n--) {
        s.name();
        s.name();
        const kind = s.u8();
        if (kind === 0) {
          s.u32();
          importedFuncs++;
        } else if (kind === 2) memory = { ...s.limits(), imported: true };
        else if (kind === 1) {
          s.u8();
          s.limits();
        } else if (kind === 3) {
          s.u8();
          s.u8();
        }
      }
    } else if (id === 3) {
      for (let n = s.u32(); n > 0; n--) funcs.push(s.u32());
    } else if (id === 5) {
      if (s.u32() > 0) memory = { ...s.limits(), imported: false };
    } else if (id === 7) {
      for (let n = s.u32(); n > 0; n--) {
        const name = s.name();
        const kind = s.u8();
        exports.set(name, { kind, index: s.u32() });
      }
    } else if (id === 10) {
      // count functions whose body reads global 0 (__stack_pointer): they use the shadow stack
      for (let n = s.u32(); n > 0; n--) {
        const len = s.u32();
        const fb = bytes.subarray(s.p, s.p + len);
        for (let i = 0; i + 1 < fb.length; i++)
          if (fb[i] === 0x23 && fb[i + 1] === 0x00) {
            stackUsers++;
            break;
          }
        s.p += len;
      }
    }
    r.p = end;
  }
  if (!memory) throw new Error("module has no memory");
  const total = keep.reduce((a, k) => a + k.length, 0);
  const stripped = new Uint8Array(total);
  let o = 0;
  for (const k of keep) {
    stripped.set(k, o);
    o += k.length;
  }
  return {
    stripped,
    exports,
    memory,
    stackUsers,
    funcType: (fi) => {
      if (fi < importedFuncs) throw new Error("exported function is an import");
      return types[funcs[fi - importedFuncs]];
    },
  };
}

// ---- Rust signatures --------------------------------------------------------------------------

interface Param {
  name: string;
  rust: string;
}
interface Sig {
  name: string;
  file: string;
  doc: string[];
  params: Param[];
  ret: string | null;
}

function wasmTypeOf(rust: string): ValType {
  const t = rust.replace(/\s+/g, " ").trim();
  if (t.startsWith("*")) return "i32";
  if (/^(usize|isize|u32|i32|u16|i16|u8|i8|bool)$/.test(t)) return "i32";
  if (/^(u64|i64)$/.test(t)) return "i64";
  if (t === "f32") return "f32";
  if (t === "f64") return "f64";
  throw new Error(`unsupported extern "C" type ${rust}`);
}

function tsTypeOf(rust: string): string {
  const t = wasmTypeOf(rust);
  if (rust.trim().startsWith("*")) return "Ptr";
  return t === "i64" ? "bigint" : "number";
}

function parseSignatures(): Sig[] {
  const sigs: Sig[] = [];
  const src = join(crate, "src");
  for (const f of readdirSync(src).filter((f) => f.endsWith(".rs")).sort()) {
    const text = readFileSync(join(src, f), "utf8");
    const re = /((?:[ \t]*\/\/\/[^\n]*\n)*)[ \t]*#\[no_mangle\]\s*\n[ \t]*pub\s+(?:unsafe\s+)?extern\s+"C"\s+fn\s+(\w+)\s*\(([^)]*)\)\s*(?:->\s*([^{]+?))?\s*\{/g;
    for (let m; (m = re.exec(text)); ) {
      const doc = m[1].split("\n").map((l) => l.replace(/^\s*\/\/\/ ?/, "")).filter((l, i, a) => l || i < a.length - 1);
      const params = m[3]
        .split(",")
        .map((p) => p.trim())
        .filter(Boolean)
        .map((p) => {
          const i = p.indexOf(":");
          return { name: p.slice(0, i).trim(), rust: p.slice(i + 1).trim() };
        });
      sigs.push({ name: m[2], file: `src/${f}`, doc: doc.filter((l) => l.trim() !== ""), params, ret: m[4]?.trim() ?? null });
    }
  }
  sigs.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return sigs;
}

function camel(s: string) {
  return s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

// ---- generation ---------------------------------------------------------------------------------

function sha256(b: Uint8Array) {
  return createHash("sha256").update(b).digest("hex");
}

function main() {
  const cargoToml = readFileSync(join(crate, "Cargo.toml"), "utf8");
  const version = /^version\s*=\s*"([^"]+)"/m.exec(cargoToml)![1];
  const sigs = parseSignatures();
  if (sigs.length === 0) throw new Error("no #[no_mangle] pub extern \"C\" fn found");
  mkdirSync(outDir, { recursive: true });

  const built: Record<string, { file: string; bytes: number; sha256: string; memory: WasmInfo["memory"]; stackUsers: number }> = {};
  for (const v of variants) {
    const info = readWasm(cargoBuild(v));
    // every Rust export must be in the wasm with the same types, and vice versa
    const fnExports = [...info.exports].filter(([, e]) => e.kind === 0).map(([n]) => n);
    for (const s of sigs) {
      const e = info.exports.get(s.name);
      if (!e || e.kind !== 0) throw new Error(`${v.key}: ${s.name} (${s.file}) is not exported by the wasm`);
      const t = info.funcType(e.index);
      const want = s.params.map((p) => wasmTypeOf(p.rust));
      const wantRet = s.ret ? [wasmTypeOf(s.ret)] : [];
      if (t.params.join() !== want.join() || t.results.join() !== wantRet.join())
        throw new Error(`${v.key}: ${s.name}: wasm type (${t.params}) -> (${t.results}) differs from Rust (${want}) -> (${wantRet})`);
    }
    const extra = fnExports.filter((n) => !sigs.some((s) => s.name === n));
    if (extra.length) throw new Error(`${v.key}: wasm exports functions with no parsed signature: ${extra.join(", ")}`);
    if (v.key === "threads" && !(info.memory.shared && info.memory.imported)) throw new Error("threaded build must import a shared memory");
    if (v.key === "threads" && !info.exports.has("__stack_pointer")) throw new Error("threaded build must export __stack_pointer");
    writeFileSync(join(outDir, v.file), info.stripped);
    built[v.key] = { file: v.file, bytes: info.stripped.length, sha256: sha256(info.stripped), memory: info.memory, stackUsers: info.stackUsers };
    log(`  ${v.file}: ${info.stripped.length} bytes, ${sigs.length} kernels, ${info.stackUsers} functions use the shadow stack`);
  }

  const L: string[] = [];
  L.push("// GENERATED by wasm/build.ts from the `#[no_mangle] pub extern \"C\" fn` items of wasm/src/*.rs");
  L.push("// (checked against the wasm type and export sections). Do not edit; run `npm run build:wasm`.");
  L.push("/* eslint-disable */");
  L.push("");
  L.push(`export const CRATE_VERSION = ${JSON.stringify(version)};`);
  L.push("/** A byte offset into the module's linear memory. */");
  L.push("export type Ptr = number;");
  L.push("");
  L.push("/** The kernels exported by both builds. */");
  L.push("export interface Kernels {");
  for (const s of sigs) {
    L.push("  /**");
    for (const d of s.doc) L.push(`   * ${d.replace(/\*\//g, "*\\/")}`);
    L.push(`   * (${s.file})`);
    L.push("   */");
    const ps = s.params.map((p) => `${camel(p.name)}: ${tsTypeOf(p.rust)}`).join(", ");
    L.push(`  ${s.name}(${ps}): ${s.ret ? tsTypeOf(s.ret) : "void"};`);
  }
  L.push("}");
  L.push("");
  L.push("export type KernelName = keyof Kernels;");
  L.push("");
  L.push("/** Parameter names and wasm value types of every kernel, in export order. */");
  L.push("export const SIGNATURES: { readonly [K in KernelName]: { readonly params: readonly (readonly [string, \"i32\" | \"i64\" | \"f32\" | \"f64\"])[]; readonly result: \"i32\" | \"i64\" | \"f32\" | \"f64\" | null } } = {");
  for (const s of sigs) {
    const ps = s.params.map((p) => `[${JSON.stringify(camel(p.name))}, ${JSON.stringify(wasmTypeOf(p.rust))}]`).join(", ");
    L.push(`  ${s.name}: { params: [${ps}], result: ${s.ret ? JSON.stringify(wasmTypeOf(s.ret)) : "null"} },`);
  }
  L.push("};");
  L.push("");
  L.push("export const KERNEL_NAMES = Object.keys(SIGNATURES) as KernelName[];");
  L.push("");
  L.push("export interface BuildInfo {");
  L.push("  readonly file: string;");
  L.push("  readonly bytes: number;");
  L.push("  readonly sha256: string;");
  L.push("  /** Linear memory: declared minimum pages; the threaded build imports a shared memory. */");
  L.push("  readonly memory: { readonly min: number; readonly max?: number; readonly shared: boolean; readonly imported: boolean };");
  L.push("}");
  L.push("");
  L.push("export const BUILDS: { readonly single: BuildInfo; readonly threads: BuildInfo } = {");
  for (const v of variants) {
    const b = built[v.key];
    L.push(`  ${v.key}: { file: ${JSON.stringify(b.file)}, bytes: ${b.bytes}, sha256: ${JSON.stringify(b.sha256)}, memory: ${JSON.stringify(b.memory)} },`);
  }
  L.push("};");
  L.push("");
  L.push("export type BuildName = keyof typeof BUILDS;");
  L.push("");
  L.push("/** Compiles one of the two builds, reading the .wasm next to this file (Node) or fetching it. */");
  L.push("export async function compileBuild(build: BuildName): Promise<WebAssembly.Module> {");
  L.push("  const url = new URL(`./${BUILDS[build].file}`, import.meta.url);");
  L.push("  let bytes: ArrayBuffer | Uint8Array;");
  L.push("  if (url.protocol === \"file:\") {");
  L.push("    // a variable specifier, so that browser bundlers do not try to resolve a Node module");
  L.push("    const spec = \"node:fs/promises\";");
  L.push("    const fs: typeof import(\"node:fs/promises\") = await import(/* @vite-ignore */ spec);");
  L.push("    bytes = await fs.readFile(url);");
  L.push("  } else {");
  L.push("    const res = await fetch(url);");
  L.push("    if (!res.ok) throw new Error(`cannot fetch ${url}: ${res.status}`);");
  L.push("    bytes = await res.arrayBuffer();");
  L.push("  }");
  L.push("  return WebAssembly.compile(bytes as BufferSource);");
  L.push("}");
  L.push("");
  L.push("/** Checks that an instance exports every kernel with the expected arity. */");
  L.push("export function checkKernels(exports: WebAssembly.Exports): Kernels {");
  L.push("  for (const name of KERNEL_NAMES) {");
  L.push("    const f = exports[name];");
  L.push("    if (typeof f !== \"function\" || f.length !== SIGNATURES[name].params.length)");
  L.push("      throw new Error(`wasm module lacks kernel ${name}/${SIGNATURES[name].params.length}`);");
  L.push("  }");
  L.push("  return exports as unknown as Kernels;");
  L.push("}");
  L.push("");
  writeFileSync(join(outDir, "bindings.ts"), L.join("\n"));

  const manifest = {
    name: "scanstream-wasm",
    version,
    description: "SIMD128 kernels for the scanstream wasm backend (generated by wasm/build.ts; do not edit)",
    toolchain: { rustc: rustcVersion, linker: linker!.split("/").pop(), buildStd: "core" },
    files: Object.fromEntries(
      variants.map((v) => [
        built[v.key].file,
        { build: v.key, bytes: built[v.key].bytes, sha256: built[v.key].sha256, targetFeatures: v.features, linkArgs: v.linkArgs },
      ]),
    ),
    bindings: { file: "bindings.ts", kernels: sigs.length, sha256: sha256(readFileSync(join(outDir, "bindings.ts"))) },
  };
  writeFileSync(join(outDir, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
  log(`wrote ${outDir}: ${variants.map((v) => v.file).join(", ")}, bindings.ts (${sigs.length} kernels), manifest.json`);
}

main();
