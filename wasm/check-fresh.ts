// Rebuilds wasm/pkg into a temporary directory and fails if it differs from the committed one
// (the package is committed so that `npm install` needs no Rust; CI runs this to keep it honest).
// Usage: tsx wasm/check-fresh.ts [--clean]   (npm run check:wasm)
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const pkg = join(here, "pkg");
const tmp = mkdtempSync(join(tmpdir(), "scanstream-wasm-pkg-"));
try {
  const extra = process.argv.includes("--clean") ? ["--clean"] : [];
  execFileSync(process.execPath, ["--import", "tsx", join(here, "build.ts"), "--out", tmp, "--quiet", ...extra], { stdio: "inherit" });
  const committed = readdirSync(pkg).sort();
  const rebuilt = readdirSync(tmp).sort();
  const problems: string[] = [];
  for (const f of new Set([...committed, ...rebuilt])) {
    if (!committed.includes(f)) problems.push(`${f}: produced by the build but not in wasm/pkg`);
    else if (!rebuilt.includes(f)) problems.push(`${f}: in wasm/pkg but not produced by the build`);
    else if (!readFileSync(join(pkg, f)).equals(readFileSync(join(tmp, f)))) problems.push(`${f}: differs from a fresh build`);
  }
  if (problems.length) {
    console.error(`wasm/pkg is stale (run npm run build:wasm and commit wasm/pkg):\n  ${problems.join("\n  ")}`);
    process.exitCode = 1;
  } else console.log(`wasm/pkg is fresh (${committed.length} files identical to a rebuild)`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
