// Warm-up: V8 first runs wasm functions as baseline (Liftoff) code and compiles optimized code
// for a function once it has run for a while; a call already running never switches (no on-stack
// replacement). Without a warm-up, a model's first prefill would run every kernel at baseline speed
// (about half). Running each hot kernel on small inputs at start-up (a few ms) triggers the tier-up.
import type { Kernels } from "../../wasm/pkg/bindings.ts";
import type { WasmRuntime } from "./runtime.ts";

export function warmUp(rt: WasmRuntime, rounds = 3): void {
  const k: Kernels = rt.k;
  const rows = 64, cols = 256, T = 8, H = 4, P = 16, N = 32, Q = 16, C = 64, K = 4, D = 64;
  const bytes = 1 << 20;
  const base = rt.alloc(bytes * 4, "the warm-up");
  try {
    rt.refresh();
    rt.u8.fill(0, base, base + bytes * 4);
    const f = (i: number) => base + i * bytes; // four 1 MiB regions
    const w = f(0), x = f(1), y = f(2), s = f(3);
    const fillSmall = (p: number, n: number) => {
      rt.refresh();
      for (let i = 0; i < n; i++) rt.f32[(p >> 2) + i] = ((i * 7919) % 101) / 101 - 0.5;
    };
    fillSmall(x, 16384);
    fillSmall(w, 65536);
    for (let r = 0; r < rounds; r++) {
      k.ss_pack_f32(w, x, 0, rows, cols, 0);
      for (const t of [1, T]) k.ss_matmul_f32(x, t, w, rows, cols, y, 0, rows / 4);
      k.ss_pack_b16(w, x, 0, rows, cols, 1);
      for (const f16 of [0, 1]) for (const t of [1, T]) k.ss_matmul_b16(x, t, w, rows, cols, y, 0, rows / 4, f16, s);
      k.ss_quantize_x16(x, T, cols, s, s + 65536);
      for (const t of [1, T]) k.ss_matmul_i8(s, s + 65536, t, w, rows, cols, y, 0, rows / 4);
      const ssd = [x, x + 4096, x + 8192, x + 12288, x + 16384, x + 20480, y, y + 65536] as const;
      for (const t of [1, T]) k.ss_ssd_step(t, H, P, 1, N, ssd[0], ssd[1], ssd[2], ssd[3], ssd[4], ssd[5], ssd[6], ssd[7], 0, H);
      k.ss_ssd_chunked(2 * Q, H, P, 1, N, Q, ssd[0], ssd[1], ssd[2], ssd[3], ssd[4], ssd[5], ssd[6], ssd[7], 0, H, s);
      k.ss_selective_scan(T, D, 16, x, x + 4096, x + 8192, x + 12288, x + 16384, x + 20480, y, y + 65536, 0, D);
      k.ss_conv1d(x, T, C, K, w, w + 4096, y, y + 65536, 0, C);
      k.ss_rmsnorm(x, T, D, w, 1e-5, y);
      k.ss_gated_rmsnorm(x, w, T, D, D, w, 1e-5, 0, y);
      k.ss_dt_softplus(y, T, H, x, 0, 1e30);
      k.ss_silu_gate(y, x, 4096);
      k.ss_add(y, x, 4096);
    }
  } finally {
    rt.free(base);
  }
}
