// Runs every test/**/*.test.ts with uvu (in one process, through tsx) and ends with the plain
// totals line "N passed, N failed" so that a run that executed no test is visible.
// Usage: npm test [-- <filename pattern>]
import { spawn } from "node:child_process";

const pattern = process.argv[2] ?? "\\.test\\.ts$";
const child = spawn(
  process.execPath,
  ["--import", "tsx", "node_modules/uvu/bin.js", "test", pattern],
  { stdio: ["ignore", "pipe", "inherit"] },
);
let out = "";
child.stdout.on("data", (d: Buffer) => {
  process.stdout.write(d);
  out += d.toString();
});
child.on("close", (code) => {
  // uvu prints "  Total:     N" / "  Passed:    N" / "  Skipped:   N"
  const num = (label: string) => Number(/\s*(\d+)/.exec(out.split(label + ":")[1] ?? "")?.[1] ?? 0);
  const total = num("Total");
  const passed = num("Passed");
  const skipped = num("Skipped");
  const failed = total - passed - skipped;
  console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
  process.exit(code !== 0 || failed > 0 || total === 0 ? 1 : 0);
});
