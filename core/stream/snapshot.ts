// Session snapshots: the recurrent state as bytes, resumable later or elsewhere.
//
// Layout (little-endian), version 2:
//   "SCANSNAP" | u32 version | u32 headerLength | header JSON (utf-8) | zero padding to 8 bytes
//   | arrays, each starting at a multiple of 8 bytes: per layer conv, ssm, then the layer's long-context
//     arrays (calib, norms, meta, and for `window` ckC, ckN, sumC, sumN), then the last logits (if any)
//   | sha256 of everything before (32 bytes)
// The header carries the model hash, the position, the long-context plan, free-form `meta` (the read
// cursor of `scanstream read`), and every array's name, dtype (f32 | f64) and length, so a snapshot of
// another model, a truncated file or a flipped byte is a SnapshotError, never a silent mismatch.
// Version 1 (no plan, float32 conv / ssm only, 4-byte alignment) is still read.
import { createHash } from "node:crypto";
import { SnapshotError } from "../errors.ts";
import type { LayerAux, LongContextPlan } from "../models/long-context.ts";
import type { LayerState, ModelState } from "../models/model.ts";

const MAGIC = "SCANSNAP";
export const SNAPSHOT_VERSION = 2;
const AUX_FIELDS = ["calib", "norms", "meta", "ckC", "ckN", "sumC", "sumN"] as const;
type AuxField = (typeof AUX_FIELDS)[number];
const AUX_F64: ReadonlySet<AuxField> = new Set(["meta", "sumC", "sumN"]);

export interface SnapshotContent {
  modelHash: string;
  state: ModelState;
  /** Tokens chosen but not yet run through the model. */
  pending: number[];
  lastLogits: Float32Array | null;
  /** Free-form JSON carried in the header (e.g. where a read of a document stopped). */
  meta?: Record<string, unknown>;
}

type DType = "f32" | "f64";
interface ArrayInfo {
  name: string;
  dtype: DType;
  length: number;
}
interface HeaderV2 {
  modelHash: string;
  position: number;
  pending: number[];
  plan?: LongContextPlan;
  meta?: Record<string, unknown>;
  arrays: ArrayInfo[];
}
interface HeaderV1 {
  modelHash: string;
  position: number;
  pending: number[];
  layers: { conv: number; ssm: number }[];
  logits: number;
}

const align8 = (n: number) => n + ((8 - (n % 8)) % 8);

export function encodeSnapshot(s: SnapshotContent): Uint8Array {
  const arrays: { info: ArrayInfo; data: Float32Array | Float64Array }[] = [];
  const add = (name: string, data: Float32Array | Float64Array) =>
    arrays.push({ info: { name, dtype: data instanceof Float64Array ? "f64" : "f32", length: data.length }, data });
  s.state.layers.forEach((l, i) => {
    add(`layers.${i}.conv`, l.conv);
    add(`layers.${i}.ssm`, l.ssm);
    if (l.aux) for (const f of AUX_FIELDS) if (l.aux[f]) add(`layers.${i}.aux.${f}`, l.aux[f]!);
  });
  if (s.lastLogits) add("logits", s.lastLogits);
  const header: HeaderV2 = {
    modelHash: s.modelHash,
    position: s.state.position,
    pending: s.pending,
    ...(s.state.plan ? { plan: s.state.plan } : {}),
    ...(s.meta ? { meta: s.meta } : {}),
    arrays: arrays.map((a) => a.info),
  };
  const hbytes = new TextEncoder().encode(JSON.stringify(header));
  let o = align8(16 + hbytes.length);
  const offsets = arrays.map((a) => {
    const at = o;
    o = align8(o + a.data.byteLength);
    return at;
  });
  const out = new Uint8Array(o + 32);
  out.set(new TextEncoder().encode(MAGIC));
  const dv = new DataView(out.buffer);
  dv.setUint32(8, SNAPSHOT_VERSION, true);
  dv.setUint32(12, hbytes.length, true);
  out.set(hbytes, 16);
  arrays.forEach((a, i) => out.set(new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength), offsets[i]));
  out.set(createHash("sha256").update(out.subarray(0, o)).digest(), o);
  return out;
}

export function decodeSnapshot(bytes: Uint8Array, expectedHash: string, what = "snapshot"): SnapshotContent {
  const fail = (msg: string): never => {
    throw new SnapshotError(`${what}: ${msg}`);
  };
  if (bytes.length < 48 || new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) fail("not a scanstream snapshot (bad magic)");
  const sum = createHash("sha256").update(bytes.subarray(0, bytes.length - 32)).digest();
  if (!sum.equals(bytes.subarray(bytes.length - 32))) fail("checksum mismatch (corrupt or truncated)");
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = dv.getUint32(8, true);
  if (version !== 1 && version !== SNAPSHOT_VERSION) fail(`format version ${version}, this scanstream reads 1 and ${SNAPSHOT_VERSION}`);
  const hlen = dv.getUint32(12, true);
  if (16 + hlen > bytes.length - 32) fail("header runs past the end");
  let h: HeaderV1 & HeaderV2;
  try {
    h = JSON.parse(new TextDecoder().decode(bytes.subarray(16, 16 + hlen)));
  } catch {
    return fail("unreadable header");
  }
  if (typeof h !== "object" || h === null || typeof h.modelHash !== "string" || !Number.isInteger(h.position) || !Array.isArray(h.pending))
    fail("header lacks the model hash, position or pending tokens");
  if (h.modelHash !== expectedHash) fail(`taken from another model (hash ${h.modelHash.slice(0, 12)}…, this model ${expectedHash.slice(0, 12)}…)`);
  if (version === 1) return decodeV1(bytes, h, hlen, fail);

  if (!Array.isArray(h.arrays)) fail("header lacks its array table");
  const named = new Map<string, Float32Array | Float64Array>();
  let o = align8(16 + hlen);
  for (const a of h.arrays) {
    if (typeof a?.name !== "string" || (a.dtype !== "f32" && a.dtype !== "f64") || !Number.isInteger(a.length) || a.length < 0) fail("malformed array table");
    const nbytes = a.length * (a.dtype === "f64" ? 8 : 4);
    if (o + nbytes > bytes.length - 32) fail(`array ${a.name} runs past the end`);
    // copy so the state owns aligned memory independent of `bytes`
    const buf = bytes.slice(o, o + nbytes).buffer;
    named.set(a.name, a.dtype === "f64" ? new Float64Array(buf) : new Float32Array(buf));
    o = align8(o + nbytes);
  }
  if (o !== bytes.length - 32) fail("payload size does not match its header");
  const layers: LayerState[] = [];
  for (let i = 0; named.has(`layers.${i}.conv`); i++) {
    const conv = named.get(`layers.${i}.conv`)!;
    const ssm = named.get(`layers.${i}.ssm`);
    if (!(conv instanceof Float32Array) || !(ssm instanceof Float32Array)) fail(`layer ${i} lacks a float32 conv or ssm state`);
    const layer: LayerState = { conv: conv as Float32Array, ssm: ssm as Float32Array };
    const aux: Partial<LayerAux> = {};
    for (const f of AUX_FIELDS) {
      const v = named.get(`layers.${i}.aux.${f}`);
      if (v === undefined) continue;
      if ((v instanceof Float64Array) !== AUX_F64.has(f)) fail(`layer ${i}: long-context array ${f} has the wrong dtype`);
      (aux as Record<string, unknown>)[f] = v;
    }
    if (Object.keys(aux).length) {
      if (!aux.calib || !aux.norms || !aux.meta || aux.calib.length !== aux.norms.length || aux.meta.length !== 2) fail(`layer ${i}: incomplete long-context state`);
      const win = [aux.ckC, aux.ckN, aux.sumC, aux.sumN];
      if (win.some(Boolean) && (!win.every(Boolean) || aux.ckC!.length !== ssm!.length || aux.ckN!.length !== ssm!.length ||
        aux.sumC!.length !== aux.calib!.length || aux.sumN!.length !== aux.calib!.length)) fail(`layer ${i}: incomplete window checkpoints`);
      layer.aux = aux as LayerAux;
    }
    layers.push(layer);
  }
  const logits = named.get("logits");
  if (logits !== undefined && !(logits instanceof Float32Array)) fail("logits are not float32");
  const state: ModelState = { position: h.position, layers };
  if (h.plan !== undefined) {
    if (typeof h.plan !== "object" || h.plan === null || typeof h.plan.kind !== "string") fail("malformed long-context plan");
    state.plan = h.plan;
  }
  return {
    modelHash: h.modelHash,
    state,
    pending: h.pending,
    lastLogits: (logits as Float32Array | undefined) ?? null,
    ...(h.meta && typeof h.meta === "object" ? { meta: h.meta } : {}),
  };
}

function decodeV1(bytes: Uint8Array, h: HeaderV1, hlen: number, fail: (m: string) => never): SnapshotContent {
  if (!Array.isArray(h.layers) || !Number.isInteger(h.logits)) fail("malformed version 1 header");
  const bodyStart = 16 + hlen + ((4 - (hlen % 4)) % 4);
  const floats = h.layers.reduce((n, l) => n + l.conv + l.ssm, 0) + h.logits;
  if (bodyStart + floats * 4 + 32 !== bytes.length) fail("payload size does not match its header");
  const payload = new Float32Array(bytes.slice(bodyStart, bodyStart + floats * 4).buffer);
  let o = 0;
  const take = (n: number) => payload.slice(o, (o += n));
  const layers = h.layers.map((l) => ({ conv: take(l.conv), ssm: take(l.ssm) }));
  return {
    modelHash: h.modelHash,
    state: { position: h.position, layers },
    pending: h.pending,
    lastLogits: h.logits ? take(h.logits) : null,
  };
}
