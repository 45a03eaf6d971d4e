// Headless Chromium for the browser test and web/bench.ts: Debian's `chromium` (apt), driven by
// playwright-core with executablePath (no browser download). CHROMIUM=/path picks another binary.
import { existsSync } from "node:fs";

/** WebGPU without a GPU: Chromium's bundled SwiftShader (software Vulkan). */
export const CHROMIUM_ARGS = [
  "--enable-unsafe-webgpu", "--enable-features=Vulkan", "--use-vulkan=swiftshader", "--use-angle=swiftshader",
  "--use-webgpu-adapter=swiftshader", "--disable-vulkan-surface", "--ignore-gpu-blocklist",
];

export function chromiumPath(): string {
  const found = [process.env.CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => p && existsSync(p));
  if (!found) throw new Error("Chromium not found: apt-get install chromium (or set CHROMIUM=/path/to/chrome)");
  return found;
}
