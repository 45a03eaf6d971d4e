#!/usr/bin/env bash
# The GPU check on the device machine (an H100 with no Node.js and no registry), in one run:
# adapter is the NVIDIA GPU, golden parity on the gpu/webgpu backends, prefill 512 / 4096 / 65536 and
# decode tokens/s of the mamba2-130m shape, batched decode with GPU-resident states at batch 1 vs 16
# (SCANSTREAM_DEVICE_BATCHES=1,16; bench/gpu-device.ts), then the same shapes on PyTorch +
# transformers' Mamba2 when `import torch, transformers` works there. Report: $OUT/gpu-device.md.
#
#   bench/gpu-device.sh prepare    here, once: fills .device/ (xz node binary, xz dawn.node, bundled
#                                  bench + GPU worker) and .gl/ (Vulkan loader .debs, device README)
#   bench/gpu-device.sh            on the device machine (carry .device and .gl)
#   SCANSTREAM_DEVICE_SMOKE=1 bench/gpu-device.sh    here on SwiftShader: tiny shapes, any adapter
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

if [ "${1:-}" = prepare ]; then
  mkdir -p .device
  grep -qx '.device/' .gitignore || echo '.device/' >> .gitignore
  [ -s .device/node.xz ] || xz -T2 -6 -c "$(command -v node)" > .device/node.xz
  [ -s .device/dawn.node.xz ] || xz -T2 -9 -c node_modules/webgpu/dist/linux-x64/dawn.node > .device/dawn.node.xz
  # one-file ES module bundles: gpu.js and the project code inside, dawn.node loaded from SCANSTREAM_DAWN_NODE
  common=(--bundle --platform=node --format=esm --target=node20 --external:webgpu --external:gl --log-level=warning
    "--banner:js=import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);")
  npx esbuild bench/gpu-device.ts "${common[@]}" --outfile=.device/gpu-device.mjs
  npx esbuild kernels/gpu/worker.ts "${common[@]}" --outfile=.device/gpu-worker.mjs
  if ! ls .gl/*.deb >/dev/null 2>&1; then
    grep -qx '/.gl/' .git/info/exclude 2>/dev/null || echo /.gl/ >> .git/info/exclude
    mkdir -p .gl /tmp/amd64/partial
    o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
    apt-get $o update >/dev/null
    (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
  fi
  du -ch .device/* .gl/* | tail -1
  exit 0
fi

OUT=${OUT:-$ROOT/gpu-device-out}
mkdir -p "$OUT"
BIN=/tmp/scanstream-device
mkdir -p $BIN
# xz -d, or Python's lzma where xz-utils is missing
unxz_to() { if command -v xz >/dev/null; then xz -dc "$1" > "$2"; else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"; fi; }
if command -v node >/dev/null && [ "${SCANSTREAM_DEVICE_SMOKE:-}" = 1 ]; then NODE=$(command -v node); else
  unxz_to .device/node.xz $BIN/node && chmod +x $BIN/node && NODE=$BIN/node
fi
unxz_to .device/dawn.node.xz $BIN/dawn.node
if [ "${SCANSTREAM_DEVICE_SMOKE:-}" = 1 ]; then
  export VK_ICD_FILENAMES=${VK_ICD_FILENAMES:-/usr/lib/chromium/vk_swiftshader_icd.json}
else
  # the Vulkan loader (device README): unpack the carried .debs into /
  if ! ldconfig -p | grep -q libvulkan.so.1; then
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
  fi
  icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  if [ -f $icd ] && ! ls /usr/share/vulkan/icd.d/nvidia* /etc/vulkan/icd.d/nvidia* >/dev/null 2>&1; then export VK_DRIVER_FILES=$icd; fi
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$OUT/nvidia-smi.txt" 2>&1 || true
fi
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
export SCANSTREAM_DAWN_NODE=$BIN/dawn.node SCANSTREAM_GPU_WORKER=$ROOT/.device/gpu-worker.mjs OUT
rc=0
# imported from -e, not run as argv[1]: the bundle holds bench/model-bench.ts, whose CLI entry would
# otherwise think it was invoked (all bundled modules share one import.meta.url)
"$NODE" --input-type=module -e "await import('$ROOT/.device/gpu-device.mjs')" 2>&1 | tee "$OUT/scanstream.log" || rc=${PIPESTATUS[0]}
[ -f "$OUT/nvidia-smi.txt" ] && { echo; echo "nvidia-smi: $(cat "$OUT/nvidia-smi.txt")"; } >> "$OUT/gpu-device.md"

# The PyTorch anchor: transformers' Mamba2 (torch path unless the mamba_ssm kernels are installed)
if python3 -c "import torch, transformers" >/dev/null 2>&1; then
  SMOKE=${SCANSTREAM_DEVICE_SMOKE:-0} PYTHONUNBUFFERED=1 python3 - >> "$OUT/gpu-device.md" 2> "$OUT/torch.log" <<'PY' || echo "torch anchor failed: see torch.log" >> "$OUT/gpu-device.md"
import os, time, torch, transformers
from transformers import Mamba2Config, Mamba2ForCausalLM
smoke = os.environ.get("SMOKE") == "1"
dev = "cuda" if torch.cuda.is_available() else "cpu"
if smoke:
    cfg = Mamba2Config(hidden_size=64, num_hidden_layers=2, state_size=16, head_dim=16, expand=2, n_groups=1,
                       num_heads=8, chunk_size=64, vocab_size=256)
    lens, dec = [64, 200], 4
else:
    cfg = Mamba2Config(hidden_size=768, num_hidden_layers=24, state_size=128, head_dim=64, expand=2, n_groups=1,
                       num_heads=24, chunk_size=256, vocab_size=50288)
    lens, dec = [512, 4096, 65536], 32
torch.manual_seed(0)
print()
print(f"## PyTorch anchor: transformers {transformers.__version__} Mamba2ForCausalLM, torch {torch.__version__}, "
      f"{torch.cuda.get_device_name() if dev == 'cuda' else 'cpu'}, random weights")
print()
print("| dtype | prefill tokens | prefill tok/s | decode tok/s |")
print("|---|---|---|---|")
def sync():
    if dev == "cuda": torch.cuda.synchronize()
for dtype in [torch.float32, torch.bfloat16]:
    model = Mamba2ForCausalLM(cfg).to(dev, dtype).eval()
    with torch.no_grad():
        for L in lens:
            try:
                ids = torch.randint(0, cfg.vocab_size, (1, L), device=dev)
                model(ids[:, :64], use_cache=False); sync()
                t = time.perf_counter(); model(ids, use_cache=False, logits_to_keep=1) if "logits_to_keep" in model.forward.__code__.co_varnames else model(ids, use_cache=False); sync()
                pf = L / (time.perf_counter() - t)
                g = lambda n: model.generate(ids, max_new_tokens=n, min_new_tokens=n, do_sample=False, pad_token_id=0)
                g(1); sync()
                t = time.perf_counter(); g(1); sync(); t1 = time.perf_counter() - t
                t = time.perf_counter(); g(dec + 1); sync(); tn = time.perf_counter() - t
                dc = dec / max(tn - t1, 1e-9)
                print(f"| {str(dtype).replace('torch.', '')} | {L} | {pf:.0f} | {dc:.1f} |", flush=True)
            except Exception as e:
                print(f"| {str(dtype).replace('torch.', '')} | {L} | failed: {type(e).__name__}: {str(e)[:120]} | |", flush=True)
            if dev == "cuda": torch.cuda.empty_cache()
    del model
PY
else
  echo; echo "PyTorch anchor skipped: \`python3 -c 'import torch, transformers'\` failed on this machine." >> "$OUT/gpu-device.md"
fi
cat "$OUT/gpu-device.md"
exit $rc
