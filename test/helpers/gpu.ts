// GPU backends under test: both run on whatever WebGPU adapter Dawn finds; in CI and on machines
// without a GPU that is SwiftShader (chromium-common), selected here when VK_ICD_FILENAMES is unset.
// No adapter is a test failure (createGpuBackend / createWebgpuBackend throw), never a skip.
import fs from "node:fs";

const SWIFTSHADER = "/usr/lib/chromium/vk_swiftshader_icd.json";
if (!process.env.VK_ICD_FILENAMES && !process.env.VK_DRIVER_FILES && fs.existsSync(SWIFTSHADER)) process.env.VK_ICD_FILENAMES = SWIFTSHADER;
process.env.XDG_RUNTIME_DIR ??= "/tmp";
