// Long-context mitigations and state telemetry for the diagonal SSM layers (Mamba-2 SSD, Mamba-1
// selective scan), applied *around* the backend's scan op so that every backend gets them and
// prefill and decode agree by construction. Formulas, parameters and defaults: docs/long-context.md.
//
// Shape letters: T tokens in the call, U scan units (Mamba-2: heads H; Mamba-1: channels d_inner),
// P values per unit (Mamba-2: headdim; Mamba-1: 1), N d_state, G groups (Mamba-1: 1).
//   x: [T, U, P]   dt: [T, U] (after softplus)   A: [U, An] (An = 1 for Mamba-2, N for Mamba-1)
//   B, C: [T, G, N]   D: [U]   state S: [U, P, N]   y: [T, U, P]
// The recurrence every unit runs is  S_t = exp(dt_t·A) ⊙ S_{t-1} + dt_t·x_t ⊗ B_t,  y_t = S_t·C_t + D·x_t.
//
// The three mitigations (positions are absolute: token index i of the stream, n = i + 1 tokens seen):
//   forget  (tokens i >= start)  decay exp(dt·A) -> gamma·exp(dt·A) for the slowest element of each unit,
//           insertion dt·x⊗B -> insert·dt·x⊗B. Done by handing the scan dt' = dt + delta_u with
//           delta_u = ln(gamma) / max_n A[u,n], x' = x·insert·dt/dt', and adding D·x outside the scan.
//   norm    at every probe position n (multiple of `every`) with n > start: each unit's Frobenius norm
//           is clamped, S_u <- S_u·min(1, tau_u/‖S_u‖), tau_u = bound, or factor × the largest ‖S_u‖
//           seen at probes with n <= trainLength (calibrated on this stream).
//   window  y_i uses W_i = S_i - exp(A·Σ_{j=c..i} dt_j) ⊙ S_c with the checkpoint c = (floor(i/r) - 1)·r
//           (tokens c..i: between r+1 and 2r of them), i.e. y_i -= exp(A·Σdt)·(S_c·C_i) for i >= start.
//           The checkpoint states S_c, S_{c+r} and their Σdt are kept per layer (2 extra states).
// Scan calls are cut at the absolute positions where something happens (multiples of `every` and of
// `r`), so a block of any length gives the same result as token-by-token decode.
import type { Backend, Matrix } from "../../kernels/backend.ts";
import { OptionError } from "../errors.ts";
import type { ModelConfig } from "./config.ts";

export type MitigationKind = "none" | "forget" | "norm" | "window";
export type MitigationChoice = MitigationKind | "auto";
export const MITIGATIONS: MitigationChoice[] = ["none", "forget", "norm", "window", "auto"];

/** Training length assumed when the config records none (the state-spaces Mamba-1 and, per Buitrago
 *  Ruiz & Gu, Mamba-2 checkpoints were trained at 2048 tokens). */
export const DEFAULT_TRAIN_LENGTH = 2048;
/** Probe period (tokens) of the state-norm telemetry and of the `norm` clamp. */
export const DEFAULT_PROBE_EVERY = 64;
/** A layer warns when a unit's state norm passes this multiple of its in-training-length maximum. */
export const DEFAULT_WARN_RATIO = 3;
/** Calibration probes within the training length: at least this many (every ceil(T / 64) tokens, at most `every`). */
const CALIBRATION_PROBES = 64;

export interface ForgetParams {
  /** Retention factor on the slowest-decaying element of each unit (0 < gamma <= 1). */
  gamma: number;
  /** Insertion scale lambda (0 < insert <= 1). */
  insert: number;
}
export interface NormParams {
  /** tau_u = factor × calibrated max (ignored when `bound` is given). */
  factor: number;
  /** A fixed bound on every unit's state norm instead of the calibrated one. */
  bound?: number;
}
export interface WindowParams {
  /** Window period: the window holds between r + 1 and 2r tokens. */
  r: number;
}

/** A resolved, serialisable long-context plan (what a session runs; written into snapshots). */
export interface LongContextPlan {
  kind: MitigationKind;
  /** The option the user gave ("auto" when the kind was picked automatically). */
  requested: MitigationChoice;
  /** The mitigation changes tokens at positions >= start. */
  start: number;
  trainLength: number;
  trainLengthFrom: "config" | "option" | "default";
  /** Probe period: state norms are measured (and `norm` applies) at positions that are multiples of it. */
  every: number;
  /** Within the training length, norms are also sampled for the calibration at multiples of this (<= every). */
  calibEvery: number;
  warnRatio: number;
  forget?: ForgetParams;
  norm?: NormParams;
  window?: WindowParams;
}

/** User options for `model.session({ ... })`. */
export interface LongContextOptions {
  mitigation?: MitigationChoice;
  /** Overrides config.train_length (and the default). */
  trainLength?: number;
  /** First position the mitigation acts on (default 0 for an explicit choice, trainLength for auto). */
  start?: number;
  gamma?: number;
  insert?: number;
  normFactor?: number;
  normBound?: number;
  window?: number;
  probeEvery?: number;
  warnRatio?: number;
}

/** Per-layer long-context state (float arrays only, so it snapshots like the rest of the state). */
export interface LayerAux {
  /** [U] largest unit state norm seen at probes within the training length. */
  calib: Float32Array;
  /** [U] unit state norms (after mitigation) at the latest probe. */
  norms: Float32Array;
  /** [2]: position of the latest probe, and 1 if the window checkpoint S_c exists. */
  meta: Float64Array;
  /** window: S_c and S_{c+r} ([U, P, N]) and Σdt since each ([U]). */
  ckC?: Float32Array;
  ckN?: Float32Array;
  sumC?: Float64Array;
  sumN?: Float64Array;
}

export function isMitigation(s: string): s is MitigationChoice {
  return (MITIGATIONS as string[]).includes(s);
}

function positiveInt(v: number | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || v < 1) throw new OptionError(`expected a positive integer, got ${v}`, name);
  return v;
}

function inRange(v: number | undefined, name: string, lo: number, hi: number, loOpen = true): number | undefined {
  if (v === undefined) return undefined;
  if (!(typeof v === "number" && (loOpen ? v > lo : v >= lo) && v <= hi)) throw new OptionError(`expected a number in ${loOpen ? "(" : "["}${lo}, ${hi}], got ${v}`, name);
  return v;
}

/**
 * The plan for a session: explicit choices keep their parameters (defaults derived from the training
 * length T, chosen by the measurements in docs/long-context.md), `auto` picks `window` with r = T acting
 * from T on. Throws OptionError naming the bad option.
 */
export function resolvePlan(config: ModelConfig, o: LongContextOptions = {}): LongContextPlan {
  const requested = o.mitigation ?? "none";
  if (!isMitigation(requested)) throw new OptionError(`expected one of ${MITIGATIONS.join(", ")}, got "${requested}"`, "mitigation");
  const optTrain = positiveInt(o.trainLength, "trainLength");
  const trainLength = optTrain ?? config.train_length ?? DEFAULT_TRAIN_LENGTH;
  const trainLengthFrom = optTrain !== undefined ? "option" : config.train_length !== undefined ? "config" : "default";
  const every = positiveInt(o.probeEvery, "probeEvery") ?? DEFAULT_PROBE_EVERY;
  const warnRatio = inRange(o.warnRatio, "warnRatio", 1, Infinity, false) ?? DEFAULT_WARN_RATIO;
  if (o.start !== undefined && !(Number.isInteger(o.start) && o.start >= 0)) throw new OptionError(`expected a non-negative integer, got ${o.start}`, "start");
  const gamma = inRange(o.gamma, "gamma", 0, 1);
  const insert = inRange(o.insert, "insert", 0, 1);
  const normFactor = inRange(o.normFactor, "normFactor", 0, Infinity);
  const normBound = inRange(o.normBound, "normBound", 0, Infinity);
  const r = positiveInt(o.window, "window");
  const kind: MitigationKind = requested === "auto" ? "window" : requested;
  const plan: LongContextPlan = {
    kind, requested, trainLength, trainLengthFrom, every, warnRatio,
    calibEvery: Math.max(1, Math.min(every, Math.ceil(trainLength / CALIBRATION_PROBES))),
    start: o.start ?? (requested === "auto" ? trainLength : 0),
  };
  if (kind === "forget") plan.forget = { gamma: gamma ?? Math.exp(-1 / (2 * trainLength)), insert: insert ?? 1 };
  if (kind === "norm") plan.norm = normBound !== undefined ? { factor: normFactor ?? 4, bound: normBound } : { factor: normFactor ?? 4 };
  if (kind === "window") plan.window = { r: r ?? trainLength };
  return plan;
}

/** A short human-readable description: "window r=512 from 1024". */
export function describePlan(p: LongContextPlan): string {
  const from = p.start > 0 ? ` from token ${p.start}` : "";
  const auto = p.requested === "auto" ? "auto: " : "";
  switch (p.kind) {
    case "none":
      return "none";
    case "forget":
      return `${auto}forget gamma=${p.forget!.gamma.toPrecision(6)} insert=${p.forget!.insert}${from}`;
    case "norm":
      return `${auto}norm ${p.norm!.bound !== undefined ? `bound=${p.norm!.bound}` : `factor=${p.norm!.factor} x calibrated max`} every ${p.every}${from}`;
    case "window":
      return `${auto}window r=${p.window!.r} (${p.window!.r + 1}..${2 * p.window!.r} tokens)${from}`;
  }
}

export function cloneAux(a: LayerAux): LayerAux {
  const out: LayerAux = { calib: a.calib.slice(), norms: a.norms.slice(), meta: a.meta.slice() };
  if (a.ckC) out.ckC = a.ckC.slice();
  if (a.ckN) out.ckN = a.ckN.slice();
  if (a.sumC) out.sumC = a.sumC.slice();
  if (a.sumN) out.sumN = a.sumN.slice();
  return out;
}

/** The layout of one layer's scan, as the model file sees it. */
export interface ScanLayout {
  U: number; P: number; N: number; G: number;
  /** A: [U, An], negative. */
  A: Float32Array;
  An: number;
  /** D: [U] skip. */
  D: Float32Array;
}

/**
 * Runs the backend scan on rows [t0, t1) of the arrays: `run(t0, t1, x, dt, D)` must write y rows
 * [t0, t1) (of a [T, U, P] array) and update `state` in place.
 */
export type ScanRun = (t0: number, t1: number, x: Float32Array, dt: Float32Array, D: Float32Array) => void;

/** A stretch [t0, t1) of a call at `position` between two stops of the plan, and what happens at its end n1. */
export interface PlanCut {
  t0: number;
  t1: number;
  /** Absolute position of the stop (position + t1). */
  n1: number;
  /** A telemetry probe, a calibration-only probe, or nothing (the call ends, or a window rotation). */
  at: "probe" | "calibrate" | null;
}

/** Where scanWithPlan stops inside a call of T tokens at `position`: at the next absolute position
 *  that is a multiple of `every` (of calibEvery within the training length) or of the window r. */
export function* planCuts(plan: LongContextPlan, position: number, T: number): Generator<PlanCut> {
  const r = plan.kind === "window" ? plan.window!.r : 0;
  const calibEvery = plan.calibEvery ?? plan.every;
  for (let t0 = 0; t0 < T;) {
    const n0 = position + t0;
    const step = n0 < plan.trainLength ? calibEvery : plan.every;
    let n1 = Math.min(position + T, (Math.floor(n0 / step) + 1) * step);
    if (r) n1 = Math.min(n1, (Math.floor(n0 / r) + 1) * r);
    const at = n1 % plan.every === 0 ? "probe" : n1 <= plan.trainLength && n1 % calibEvery === 0 ? "calibrate" : null;
    yield { t0, t1: n1 - position, n1, at };
    t0 = n1 - position;
  }
}

/**
 * The telemetry a stop n records from the unit norms there (unitNorms on the host, or read off the
 * device by the webgpu resident prefill): the calibration (largest norm within the training length)
 * always; the latest norms and their position for a probe, not for a calibration-only stop.
 */
export function recordNorms(plan: LongContextPlan, aux: LayerAux, n: number, norms: ArrayLike<number>, at: "probe" | "calibrate"): void {
  for (let u = 0; u < aux.calib.length; u++) if (n <= plan.trainLength && norms[u] > aux.calib[u]) aux.calib[u] = norms[u];
  if (at === "probe") {
    aux.norms.set(norms);
    aux.meta[0] = n;
  }
}

export function newAux(L: ScanLayout, plan: LongContextPlan, state: Float32Array): LayerAux {
  const aux: LayerAux = { calib: new Float32Array(L.U), norms: new Float32Array(L.U), meta: new Float64Array(2) };
  if (plan.kind === "window") {
    aux.ckC = new Float32Array(state.length);
    aux.ckN = state.slice(); // the state where the plan was attached (position 0 for a new session)
    aux.sumC = new Float64Array(L.U);
    aux.sumN = new Float64Array(L.U);
  }
  return aux;
}

/** Slowest log-decay rate per unit: max_n A[u, n] (closest to 0). */
function slowestA(L: ScanLayout, u: number): number {
  let m = -Infinity;
  for (let k = 0; k < L.An; k++) m = Math.max(m, L.A[u * L.An + k]);
  return m;
}

/**
 * The scan of one layer over T tokens starting at absolute `position`, with the plan's mitigation and
 * telemetry. `y` receives [T, U, P]; `state` ([U, P, N]) and `aux` are updated in place.
 */
export function scanWithPlan(
  L: ScanLayout, plan: LongContextPlan, auxIn: LayerAux | undefined, position: number, T: number,
  x: Float32Array, dt: Float32Array, C: Float32Array, state: Float32Array, y: Float32Array, run: ScanRun,
  backend?: Backend,
): LayerAux {
  const { U, P } = L;
  const aux = auxIn ?? newAux(L, plan, state);
  let xs = x;
  let dts = dt;
  let Ds = L.D;
  if (plan.kind === "forget") {
    // decay gamma·exp(dt·A) on the slowest element: dt' = dt + ln(gamma)/max_n A; insertion kept at
    // insert·dt·x⊗B by x' = x·insert·dt/dt'; the skip D·x is added back outside the scan.
    const { gamma, insert } = plan.forget!;
    const delta = Float64Array.from({ length: U }, (_, u) => {
      const a = slowestA(L, u);
      return a < 0 ? Math.log(gamma) / a : 0;
    });
    xs = x.slice();
    dts = dt.slice();
    Ds = new Float32Array(U);
    for (let t = Math.max(0, plan.start - position); t < T; t++)
      for (let u = 0; u < U; u++) {
        const d0 = dt[t * U + u];
        const d1 = d0 + delta[u];
        dts[t * U + u] = d1;
        const ratio = d1 > 0 ? (insert * d0) / d1 : insert;
        const o = (t * U + u) * P;
        for (let p = 0; p < P; p++) xs[o + p] *= ratio;
      }
  }
  const r = plan.kind === "window" ? plan.window!.r : 0;
  for (const { t0, t1, n1, at } of planCuts(plan, position, T)) {
    run(t0, t1, xs, dts, Ds);
    if (r) windowCorrect(L, plan, aux, position, t0, t1, dt, C, y, backend);
    // a calibration-only probe (between `every` probes, within the training length) never clamps
    if (at) recordNorms(plan, aux, n1, unitNorms(L, at === "calibrate" && plan.kind === "norm" ? { ...plan, kind: "none" } : plan, aux, n1, state), at);
    if (r && n1 % r === 0) {
      // rotate checkpoints: S_c <- S_{c+r}, S_{c+r} <- S_n
      const old = aux.ckC!;
      dropMatrices(old, backend);
      aux.ckC = aux.ckN!;
      aux.ckN = old;
      aux.ckN.set(state);
      const s = aux.sumC!;
      aux.sumC = aux.sumN!;
      aux.sumN = s.fill(0);
      aux.meta[1] = 1;
    }
  }
  if (plan.kind === "forget") {
    for (let t = 0; t < T; t++)
      for (let u = 0; u < U; u++) {
        const o = (t * U + u) * P;
        for (let p = 0; p < P; p++) y[o + p] += L.D[u] * x[o + p];
      }
  }
  return aux;
}

// The window checkpoint S_c as resident matrices (one per group, rows = the group's heads x P,
// cols = N), so that S_c·C_t for a block is one backend matmul. Keyed by the checkpoint array, dropped
// when the array is recycled at a rotation, and released when it is garbage collected (forks).
type Releasing = Backend & { release?: (m: Matrix) => void };
const matrixCache = new WeakMap<Float32Array, Matrix[]>();
const finalizer = new FinalizationRegistry<{ backend: Releasing; mats: Matrix[] }>(({ backend, mats }) => {
  // best effort: an exception thrown in a finalizer would end the process
  for (const m of mats) {
    try {
      backend.release?.(m);
    } catch {
      // the backend was disposed or the matrix is gone: nothing left to free
    }
  }
});

/** Matrices can be used when the backend frees them (wasm: release) or its memory is the JS heap (cpu). */
function canUploadCheckpoints(backend?: Backend): backend is Releasing {
  return !!backend && (backend.name === "cpu" || typeof (backend as Releasing).release === "function");
}

function checkpointMatrices(L: ScanLayout, S: Float32Array, backend: Releasing): Matrix[] {
  let mats = matrixCache.get(S);
  if (!mats) {
    const rows = (L.U / L.G) * L.P;
    mats = Array.from({ length: L.G }, (_, g) => backend.matrix(S.subarray(g * rows * L.N, (g + 1) * rows * L.N), rows, L.N, "f32"));
    matrixCache.set(S, mats);
    finalizer.register(S, { backend, mats }, S);
  }
  return mats;
}

function dropMatrices(S: Float32Array, backend?: Backend): void {
  const mats = matrixCache.get(S);
  if (!mats) return;
  matrixCache.delete(S);
  finalizer.unregister(S);
  for (const m of mats) (backend as Releasing | undefined)?.release?.(m);
}

/** window: y_i -= exp(A·Σ_{j=c..i} dt_j) ⊙ S_c · C_i for rows [t0, t1); advances Σdt since c and c+r. */
function windowCorrect(
  L: ScanLayout, plan: LongContextPlan, aux: LayerAux, position: number, t0: number, t1: number,
  dt: Float32Array, C: Float32Array, y: Float32Array, backend?: Backend,
): void {
  const { U, P, N, G, A, An } = L;
  const upg = U / G;
  const sumC = aux.sumC!;
  const sumN = aux.sumN!;
  const S = aux.ckC!;
  const active = aux.meta[1] === 1;
  const n = t1 - t0;
  // decay per (token, unit) of S_c; 0 where the correction is off or has vanished
  const dec = new Float64Array(An === 1 ? n * U : 0);
  const decN = new Float64Array(An);
  let any = false;
  const fast = An === 1 && canUploadCheckpoints(backend);
  for (let t = t0; t < t1; t++) {
    const on = active && position + t >= plan.start;
    for (let u = 0; u < U; u++) {
      const d = dt[t * U + u];
      sumC[u] += d;
      sumN[u] += d;
      if (!on) continue;
      if (An === 1) {
        const e = Math.exp(A[u] * sumC[u]);
        if (e > 1e-30) {
          dec[(t - t0) * U + u] = e;
          any = true;
        }
        continue;
      }
      let some = false;
      for (let k = 0; k < An; k++) {
        const e = Math.exp(A[u * An + k] * sumC[u]);
        decN[k] = e;
        if (e > 1e-30) some = true;
      }
      if (!some) continue;
      const co = t * G * N + Math.floor(u / upg) * N;
      let acc = 0;
      for (let k = 0; k < N; k++) acc += decN[k] * S[u * N + k] * C[co + k];
      y[t * U + u] -= acc; // Mamba-1 layout: P = 1
    }
  }
  if (An !== 1 || !any) return;
  const rows = upg * P;
  if (fast) {
    const mats = checkpointMatrices(L, S, backend as Releasing);
    const Cg = new Float32Array(n * N);
    for (let g = 0; g < G; g++) {
      for (let t = 0; t < n; t++) Cg.set(C.subarray(((t0 + t) * G + g) * N, ((t0 + t) * G + g + 1) * N), t * N);
      const sc = backend!.matmul(Cg, n, mats[g]); // [n, rows] = C_t · S_c[group]ᵀ
      for (let t = 0; t < n; t++)
        for (let h = 0; h < upg; h++) {
          const e = dec[t * U + g * upg + h];
          if (e === 0) continue;
          const yo = ((t0 + t) * U + g * upg + h) * P;
          const so = t * rows + h * P;
          for (let p = 0; p < P; p++) y[yo + p] -= e * sc[so + p];
        }
    }
    return;
  }
  for (let t = 0; t < n; t++)
    for (let u = 0; u < U; u++) {
      const e = dec[t * U + u];
      if (e === 0) continue;
      const co = ((t0 + t) * G + Math.floor(u / upg)) * N;
      for (let p = 0; p < P; p++) {
        const so = (u * P + p) * N;
        let acc = 0;
        for (let k = 0; k < N; k++) acc += S[so + k] * C[co + k];
        y[((t0 + t) * U + u) * P + p] -= e * acc;
      }
    }
}

/**
 * Unit norms of the effective state at a probe position n (the window's W = S - decay·S_c for
 * `window`), after the `norm` clamp beyond `start`, which scales the state in place.
 */
function unitNorms(L: ScanLayout, plan: LongContextPlan, aux: LayerAux, n: number, state: Float32Array): Float32Array {
  const { U, P, N, A, An } = L;
  const size = P * N;
  const windowOn = plan.kind === "window" && aux.meta[1] === 1 && n - 1 >= plan.start;
  const clampOn = plan.kind === "norm" && n > plan.start && n > (plan.norm!.bound === undefined ? plan.trainLength : 0);
  const norms = new Float32Array(U);
  for (let u = 0; u < U; u++) {
    const o = u * size;
    let ss = 0;
    if (windowOn) {
      const S = aux.ckC!;
      const sum = aux.sumC![u];
      const e0 = Math.exp(A[u * An] * sum);
      for (let p = 0; p < P; p++)
        for (let k = 0; k < N; k++) {
          const e = An === 1 ? e0 : Math.exp(A[u * An + k] * sum);
          const w = state[o + p * N + k] - e * S[o + p * N + k];
          ss += w * w;
        }
    } else for (let i = 0; i < size; i++) ss += state[o + i] * state[o + i];
    let norm = Math.sqrt(ss);
    if (clampOn) {
      const tau = plan.norm!.bound ?? plan.norm!.factor * aux.calib[u];
      if (norm > tau && tau > 0) {
        const s = tau / norm;
        for (let i = 0; i < size; i++) state[o + i] *= s;
        norm = tau;
      }
    }
    norms[u] = norm;
  }
  return norms;
}

/** Telemetry of one layer at its latest probe. */
export interface LayerStats {
  layer: number;
  /** Position of the probe these numbers come from. */
  position: number;
  /** Root mean square of the unit state norms. */
  meanNorm: number;
  maxNorm: number;
  /** The unit (head or channel) with the largest norm relative to its calibration. */
  worstUnit: number;
  /** max over units of norm / calibrated max (0 while nothing is calibrated). */
  ratio: number;
  /** Largest calibrated unit norm of the layer (within the training length). */
  calibMax: number;
}

export function layerStats(layer: number, aux: LayerAux | undefined): LayerStats {
  if (!aux) return { layer, position: 0, meanNorm: 0, maxNorm: 0, worstUnit: -1, ratio: 0, calibMax: 0 };
  let ss = 0;
  let maxNorm = 0;
  let calibMax = 0;
  for (let u = 0; u < aux.norms.length; u++) {
    ss += aux.norms[u] * aux.norms[u];
    maxNorm = Math.max(maxNorm, aux.norms[u]);
    calibMax = Math.max(calibMax, aux.calib[u]);
  }
  // a unit never active within the training length is compared with a small share of the layer's scale
  const floor = 1e-3 * calibMax;
  let ratio = 0;
  let worstUnit = -1;
  if (calibMax > 0)
    for (let u = 0; u < aux.norms.length; u++) {
      const q = aux.norms[u] / Math.max(aux.calib[u], floor);
      if (q > ratio) {
        ratio = q;
        worstUnit = u;
      }
    }
  return { layer, position: aux.meta[0], meanNorm: Math.sqrt(ss / Math.max(1, aux.norms.length)), maxNorm, worstUnit, ratio, calibMax };
}
