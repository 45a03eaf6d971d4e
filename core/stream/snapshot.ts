// Session snapshots: the recurrent state as bytes, resumable later or elsewhere.
//
// Layout (little-endian):
//   "SCANSNAP" | u32 version | u32 headerLength | header JSON (utf-8)
//   | float32 payload: per layer conv then ssm, then the last logits (if any)
//   | sha256 of everything before (32 bytes)
// The header carries the model hash, the position and every array's length, so a snapshot of
// another model, a truncated file or a flipped byte is a SnapshotError, never a silent mismatch.
import { createHash } from "node:crypto";
import { SnapshotError } from "../errors.ts";
import type { ModelState } from "../models/model.ts";

const MAGIC = "SCANSNAP";
export const SNAPSHOT_VERSION = 1;

export interface SnapshotContent {
  modelHash: string;
  state: ModelState;
  /** Tokens chosen but not yet run through the model. */
  pending: number[];
  lastLogits: Float32Array | null;
}

interface Header {
  modelHash: string;
  position: number;
  pending: number[];
  layers: { conv: number; ssm: number }[];
  logits: number;
}

export function encodeSnapshot(s: SnapshotContent): Uint8Array {
  const header: Header = {
    modelHash: s.modelHash,
    position: s.state.position,
    pending: s.pending,
    layers: s.state.layers.map((l) => ({ conv: l.conv.length, ssm: l.ssm.length })),
    logits: s.lastLogits?.length ?? 0,
  };
  const hbytes = new TextEncoder().encode(JSON.stringify(header));
  const arrays = [...s.state.layers.flatMap((l) => [l.conv, l.ssm]), ...(s.lastLogits ? [s.lastLogits] : [])];
  const floats = arrays.reduce((n, a) => n + a.length, 0);
  const bodyStart = 16 + hbytes.length + ((4 - (hbytes.length % 4)) % 4);
  const out = new Uint8Array(bodyStart + floats * 4 + 32);
  out.set(new TextEncoder().encode(MAGIC));
  const dv = new DataView(out.buffer);
  dv.setUint32(8, SNAPSHOT_VERSION, true);
  dv.setUint32(12, hbytes.length, true);
  out.set(hbytes, 16);
  const payload = new Float32Array(out.buffer, bodyStart, floats);
  let o = 0;
  for (const a of arrays) payload.set(a, (o += a.length) - a.length);
  out.set(createHash("sha256").update(out.subarray(0, out.length - 32)).digest(), out.length - 32);
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
  if (version !== SNAPSHOT_VERSION) fail(`format version ${version}, this scanstream reads ${SNAPSHOT_VERSION}`);
  const hlen = dv.getUint32(12, true);
  if (16 + hlen > bytes.length - 32) fail("header runs past the end");
  let h: Header;
  try {
    h = JSON.parse(new TextDecoder().decode(bytes.subarray(16, 16 + hlen)));
  } catch {
    return fail("unreadable header");
  }
  if (h.modelHash !== expectedHash) fail(`taken from another model (hash ${h.modelHash.slice(0, 12)}…, this model ${expectedHash.slice(0, 12)}…)`);
  const bodyStart = 16 + hlen + ((4 - (hlen % 4)) % 4);
  const floats = h.layers.reduce((n, l) => n + l.conv + l.ssm, 0) + h.logits;
  if (bodyStart + floats * 4 + 32 !== bytes.length) fail("payload size does not match its header");
  // copy so the state owns aligned memory independent of `bytes`
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
