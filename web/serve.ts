// The demo's static server (node:http). Every response carries the headers that make the page
// cross-origin isolated, which browsers require before they expose SharedArrayBuffer (the wasm
// threads and the GPU bridge need it):
//   Cross-Origin-Opener-Policy: same-origin     Cross-Origin-Embedder-Policy: require-corp
// (`--no-isolation` leaves them out, to see the single-threaded fallback.) Only three folders are
// served, each under its own prefix; anything else is 404.
//
//   /demo/*         dist/demo          (the page, its script, the runtime worker)
//   /browser/*      dist/browser       (the library bundle, the wasm builds, the GPU worker)
//   /checkpoints/*  checkpoints        (the bundled models)
//
// Usage: tsx web/serve.ts [--port 8080] [--host 127.0.0.1] [--no-isolation]
import { createReadStream, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const MOUNTS: Record<string, string> = {
  demo: path.join(ROOT, "dist/demo"),
  browser: path.join(ROOT, "dist/browser"),
  checkpoints: path.join(ROOT, "checkpoints"),
};
const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".wasm": "application/wasm",
  ".json": "application/json", ".md": "text/markdown; charset=utf-8", ".txt": "text/plain; charset=utf-8", ".png": "image/png",
};

export interface ServeOptions {
  port?: number;
  host?: string;
  /** Send COOP/COEP (default true). */
  isolation?: boolean;
}

export function serve(opts: ServeOptions = {}): Promise<{ server: Server; url: string }> {
  const isolation = opts.isolation ?? true;
  const server = createServer((req, res) => {
    const headers: Record<string, string> = { "Cache-Control": "no-store", "Cross-Origin-Resource-Policy": "same-origin" };
    if (isolation) Object.assign(headers, { "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp" });
    const url = new URL(req.url ?? "/", "http://x");
    if (url.pathname === "/" || url.pathname === "/demo") {
      res.writeHead(302, { ...headers, Location: `/demo/${url.search}` });
      res.end();
      return;
    }
    const file = resolve(decodeURIComponent(url.pathname));
    let size = -1;
    try {
      const st = file ? statSync(file) : null;
      if (st?.isFile()) size = st.size;
    } catch {
      // not there
    }
    if (!file || size < 0 || (req.method !== "GET" && req.method !== "HEAD")) {
      res.writeHead(404, { ...headers, "Content-Type": "text/plain" });
      res.end("not found\n");
      return;
    }
    res.writeHead(200, { ...headers, "Content-Type": TYPES[path.extname(file)] ?? "application/octet-stream", "Content-Length": String(size) });
    if (req.method === "HEAD") res.end();
    else createReadStream(file).pipe(res);
  });
  return new Promise((resolvePromise, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 8080, opts.host ?? "127.0.0.1", () => {
      const a = server.address();
      const port = typeof a === "object" && a ? a.port : opts.port;
      resolvePromise({ server, url: `http://${opts.host ?? "127.0.0.1"}:${port}/demo/` });
    });
  });
}

/** The file for a URL path inside one of the mounts, or null (no traversal out of a mount). */
function resolve(pathname: string): string | null {
  const [, mount, ...rest] = pathname.split("/");
  const base = MOUNTS[mount];
  if (!base) return null;
  const file = path.resolve(base, rest.join("/") || "index.html");
  return file.startsWith(base + path.sep) ? file : null;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const flag = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const { url } = await serve({ port: Number(flag("--port") ?? process.env.PORT ?? 8080), host: flag("--host"), isolation: !args.includes("--no-isolation") });
  console.log(`scanstream demo: ${url}  (Ctrl-C to stop)`);
}
