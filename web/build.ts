// Browser build (esbuild): the library as one ES module with the wasm builds next to it, its type
// declarations, and the demo page.
//
//   dist/browser/scanstream.js               core/browser.ts and everything it reaches, minified
//   dist/browser/scanstream_wasm{,_mt}.wasm  wasm/pkg's builds (found next to the module via import.meta.url)
//   dist/browser/gpu-worker.js               the GPU device worker of the webgpu / gpu backends
//   dist/types/                              declarations of both entries (core/index.d.ts, core/browser.d.ts)
//   dist/demo/                               web/index.html, the page script and the runtime worker
//
// No Node built-in may reach the bundle: a static import of one fails the build (with the importer's
// name); node:crypto is mapped to core/browser-crypto.ts; a module with a `.browser.ts` twin (e.g.
// core/formats/node-files.ts) is replaced by the twin; a dynamic import() of a built-in, which only
// runs on Node (behind a process check), becomes a stub that rejects. The metafile is checked too:
// the bundle must have no external imports left.
//
// Usage: tsx web/build.ts [--no-types] [--no-demo]
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { builtinModules } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import * as esbuild from "esbuild";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const DIST = path.join(ROOT, "dist/browser");
export const DEMO = path.join(ROOT, "dist/demo");
const WASM_FILES = ["scanstream_wasm.wasm", "scanstream_wasm_mt.wasm"];

const BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
/** Node built-ins the browser gets a replacement for. */
const ALIASES: Record<string, string> = { crypto: path.join(ROOT, "core/browser-crypto.ts") };

const rel = (p: string) => path.relative(ROOT, p) || p;

/** Keeps Node out of the bundle (see the header). */
export const browserOnly: esbuild.Plugin = {
  name: "scanstream-browser-only",
  setup(build) {
    build.onResolve({ filter: /^(node:)?[a-z_]+(\/[a-z_]+)?$/ }, (args) => {
      if (!BUILTINS.has(args.path) && !args.path.startsWith("node:")) return undefined;
      const bare = args.path.replace(/^node:/, "");
      if (ALIASES[bare]) return { path: ALIASES[bare] };
      if (args.kind === "dynamic-import") return { path: args.path, namespace: "node-stub" };
      return {
        errors: [{ text: `Node built-in "${args.path}" is imported by ${rel(args.importer)}: not allowed in the browser bundle (move it to a Node-only module with a .browser.ts twin, or alias it in web/build.ts)` }],
      };
    });
    build.onLoad({ filter: /.*/, namespace: "node-stub" }, (args) => ({
      contents: `throw new Error(${JSON.stringify(`${args.path} is not available in a browser`)});`,
      loader: "js",
    }));
    // a module with a browser twin: node-files.ts -> node-files.browser.ts
    build.onResolve({ filter: /\.ts$/ }, (args) => {
      if (args.kind === "entry-point" || args.path.endsWith(".browser.ts")) return undefined;
      const file = path.resolve(args.resolveDir, args.path);
      const twin = file.replace(/\.ts$/, ".browser.ts");
      return existsSync(twin) ? { path: twin } : undefined;
    });
  },
};

function checkNoExternals(meta: esbuild.Metafile): void {
  for (const [out, o] of Object.entries(meta.outputs)) {
    const ext = o.imports.filter((i) => i.external && !/^\.\.?\//.test(i.path));
    if (ext.length) throw new Error(`${out} still imports ${ext.map((i) => i.path).join(", ")}: the browser bundle must be self-contained`);
  }
}

const common: esbuild.BuildOptions = {
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  // not minifySyntax: it folds `const spec = "node:os"; import(spec)` (Node-only branches that hide
  // the specifier from bundlers on purpose) into import("node:os"), which downstream bundlers would
  // then try to resolve
  minifyWhitespace: true,
  minifyIdentifiers: true,
  keepNames: true, // error classes report their names (ScanstreamError sets name = new.target.name)
  legalComments: "none",
  metafile: true,
  logLevel: "warning",
  plugins: [browserOnly],
};

/** Builds dist/browser (library + wasm + GPU worker); returns the output sizes. */
export async function buildLibrary(): Promise<Record<string, number>> {
  rmSync(DIST, { recursive: true, force: true });
  mkdirSync(DIST, { recursive: true });
  const lib = await esbuild.build({ ...common, entryPoints: { scanstream: path.join(ROOT, "core/browser.ts") }, outdir: DIST });
  checkNoExternals(lib.metafile!);
  // not minified: gpu.js translates kernel functions from their source text (kernels/gpu/kernels.ts),
  // and renamed block-scoped variables can collide once gpu.js hoists them into one WGSL scope
  const gpu = await esbuild.build({
    ...common, minifyWhitespace: false, minifyIdentifiers: false,
    entryPoints: { "gpu-worker": path.join(ROOT, "kernels/gpu/worker.browser.ts") }, outdir: DIST,
  });
  checkNoExternals(gpu.metafile!);
  for (const f of WASM_FILES) copyFileSync(path.join(ROOT, "wasm/pkg", f), path.join(DIST, f));
  const sizes: Record<string, number> = {};
  for (const f of ["scanstream.js", "gpu-worker.js", ...WASM_FILES]) sizes[f] = statSync(path.join(DIST, f)).size;
  return sizes;
}

/** Declarations for the browser entry (tsc; .ts specifiers rewritten to .js). */
export function buildTypes(): void {
  const tsc = path.join(ROOT, "node_modules/typescript/bin/tsc");
  rmSync(path.join(ROOT, "dist/types"), { recursive: true, force: true });
  execFileSync(process.execPath, [tsc, "-p", path.join(ROOT, "web/tsconfig.types.json")], { stdio: "inherit", cwd: ROOT });
  // tsc keeps the sources' ".ts" specifiers in declarations; consumers resolve "./x.js" to x.d.ts
  for (const f of readdirSync(path.join(ROOT, "dist/types"), { recursive: true, encoding: "utf8" })) {
    if (!f.endsWith(".d.ts")) continue;
    const file = path.join(ROOT, "dist/types", f);
    writeFileSync(file, readFileSync(file, "utf8").replace(/((?:from|import)\s*\(?\s*"\.{1,2}\/[^"]*?)\.ts"/g, '$1.js"'));
  }
}

/** Builds dist/demo: the page script and the runtime worker, which import the library bundle itself. */
export async function buildDemo(): Promise<void> {
  rmSync(DEMO, { recursive: true, force: true });
  mkdirSync(DEMO, { recursive: true });
  // the demo runs the published artifact: imports of core/browser.ts become ../browser/scanstream.js
  const useLibrary: esbuild.Plugin = {
    name: "scanstream-use-library",
    setup(build) {
      build.onResolve({ filter: /core\/browser\.ts$/ }, () => ({ path: "../browser/scanstream.js", external: true }));
    },
  };
  const r = await esbuild.build({
    ...common,
    minifyWhitespace: false,
    minifyIdentifiers: false,
    entryPoints: { main: path.join(ROOT, "web/main.ts"), worker: path.join(ROOT, "web/worker.ts") },
    outdir: DEMO,
    plugins: [useLibrary, browserOnly],
  });
  checkNoExternals(r.metafile!);
  copyFileSync(path.join(ROOT, "web/index.html"), path.join(DEMO, "index.html"));
}

function report(sizes: Record<string, number>): void {
  const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  for (const [f, n] of Object.entries(sizes)) {
    const gz = gzipSync(readFileSync(path.join(DIST, f))).length;
    console.log(`dist/browser/${f.padEnd(26)} ${kb(n).padStart(10)}  (gzip ${kb(gz)})`);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = new Set(process.argv.slice(2));
  const sizes = await buildLibrary();
  if (!args.has("--no-types")) buildTypes();
  if (!args.has("--no-demo")) await buildDemo();
  report(sizes);
}
