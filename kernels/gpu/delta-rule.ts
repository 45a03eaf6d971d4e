// gatedDelta on the GPU backends.
// - Host side (both `gpu` and `webgpu`, kernels/gpu/backend.ts registers it): checks the call, sends
//   q, k, v, [beta | g] and the state to the worker, takes back y and the new state.
// - Worker side of the gpu.js engine (kernels/gpu/engine.ts registers it): one gpu.js kernel call per
//   token. A gpu.js thread returns one value and has no local arrays, so no thread can carry a column
//   of S through time (the WGSL backend does that: kernels/webgpu/delta-rule.ts). Each call instead
//   maps the state before token t to the state after it and that token's output, output
//   [H·K·V + H·V], from the old state alone:
//     i < H·K·V (h, r, j):  S'[r, j] = e^g S[r, j] + k_r u_j,  u_j = β(v_j − e^g S[:, j]·k)
//     i ≥ H·K·V (h, j):     o_j = scale·(e^g S[:, j]·q + (k·q) u_j)
//   T calls per op, each uploading the state and one token and reading both back: correct and
//   simple, slow for long prefills (those belong on the webgpu backend).
import type { DeltaRuleOps, GatedDeltaArgs } from "../backend.ts";
import { checkGatedDelta } from "../cpu/delta-rule.ts";
import { MAX_OUTPUT, checkLoop, checkMode, ModeError } from "./engine.ts";

type Call = <T>(op: string, args: unknown, transfer?: ArrayBuffer[]) => T;

/** The host-side op of a GPU backend named `name`, calling its worker through `call`. */
export function hostDeltaRule(call: Call, name: string): DeltaRuleOps {
  return {
    gatedDelta(a: GatedDeltaArgs): Float32Array {
      if (!checkGatedDelta(a, name)) return a.out ?? new Float32Array(0);
      const { T, H, K, V } = a;
      const bg = new Float32Array(2 * T * H);
      bg.set(a.beta.subarray(0, T * H));
      bg.set(a.g.subarray(0, T * H), T * H);
      const msg = {
        T, H, K, V, scale: a.scale, bg,
        q: a.q.slice(0, T * H * K), k: a.k.slice(0, T * H * K), v: a.v.slice(0, T * H * V), state: a.state.slice(0, H * K * V),
      };
      const r = call<{ y: Float32Array; state: Float32Array }>("gatedDelta", msg, [msg.q, msg.k, msg.v, msg.bg, msg.state].map((x) => x.buffer as ArrayBuffer));
      a.state.set(r.state);
      if (!a.out) return r.y;
      a.out.set(r.y);
      return a.out;
    },
  };
}

/** One token of the delta rule: new state (i < H·K·V) then the token's output. Loop bound: K. */
function deltaToken(this: any, q: any, k: any, v: any, beta: any, g: any, S: any, H: number, K: number, V: number, scale: number) {
  const i = this.thread.x;
  const KV = K * V;
  const HKV = H * KV;
  let h = 0;
  let r = 0;
  let j = 0;
  if (i < HKV) {
    h = Math.floor(i / KV);
    r = Math.floor((i - h * KV) / V);
    j = i - h * KV - r * V;
  } else {
    h = Math.floor((i - HKV) / V);
    j = i - HKV - h * V;
  }
  let a = 0;
  let b = 0;
  let kq = 0;
  for (let x = 0; x < K; x++) {
    const s = S[h * KV + x * V + j];
    a += s * k[h * K + x];
    b += s * q[h * K + x];
    kq += k[h * K + x] * q[h * K + x];
  }
  const decay = Math.exp(g[h]);
  const u = beta[h] * (v[h * V + j] - decay * a);
  let res = 0;
  if (i < HKV) res = decay * S[i] + k[h * K + r] * u;
  else res = scale * (decay * b + kq * u);
  return res;
}

interface GpuJs {
  mode?: string;
  createKernel(f: unknown, s: object): any;
}

/** The worker-side op of the gpu.js engine, on that engine's GPU instance. */
export function gpuJsDeltaRuleOps(gpu: GpuJs): Record<string, (a: any) => Promise<{ result: unknown; transfer?: ArrayBuffer[] }>> {
  const cache = new Map<string, any>();
  return {
    async gatedDelta(a: { T: number; H: number; K: number; V: number; scale: number; q: Float32Array; k: Float32Array; v: Float32Array; bg: Float32Array; state: Float32Array }) {
      const { T, H, K, V } = a;
      const HKV = H * K * V, HV = H * V, HK = H * K;
      const n = HKV + HV;
      if (n > MAX_OUTPUT) throw new ModeError(`gpu.js kernel deltaToken: output of ${n} values exceeds ${MAX_OUTPUT} (float32 index arithmetic)`);
      const bound = K <= 1 ? 1 : 2 ** Math.ceil(Math.log2(K));
      const key = `${n}:${bound}`;
      let kern = cache.get(key);
      if (!kern) {
        kern = gpu.createKernel(deltaToken, { output: [n], loopMaxIterations: bound, dynamicArguments: true });
        cache.set(key, kern);
      }
      checkLoop(kern, K, "deltaToken");
      let S = a.state;
      const y = new Float32Array(T * HV);
      for (let t = 0; t < T; t++) {
        const r = (await kern(
          a.q.slice(t * HK, (t + 1) * HK), a.k.slice(t * HK, (t + 1) * HK), a.v.slice(t * HV, (t + 1) * HV),
          a.bg.slice(t * H, (t + 1) * H), a.bg.slice((T + t) * H, (T + t + 1) * H), S, H, K, V, a.scale,
        )) as Float32Array;
        checkMode(gpu, kern, "deltaToken");
        if (!(r instanceof Float32Array) || r.length !== n) throw new ModeError(`gpu.js kernel deltaToken returned ${r?.length} values, expected ${n}`);
        S = r.slice(0, HKV);
        y.set(r.subarray(HKV), t * HV);
      }
      return { result: { y, state: S }, transfer: [y.buffer as ArrayBuffer, S.buffer as ArrayBuffer] };
    },
  };
}
