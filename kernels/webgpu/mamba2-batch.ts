// Batched Mamba-2 decode with resident state on the webgpu backend, calling thread side (the
// shaders and the one-submission step are in mamba2-decode.ts, worker side). A decoder holds the
// model's small per-layer vectors on the GPU and refers to its resident matrices by id; a pool holds
// the conv / SSM states of S sessions. step() runs one token of any B of them: B ids up, [B, V]
// logits down; prefill() feeds a prompt to one slot with the chunked scan, all on the GPU.
// Shape letters as in mamba2-decode.ts.
import { BackendError, OptionError } from "../../core/errors.ts";
import type { Matrix } from "../backend.ts";
import type { GpuBackend } from "../gpu/backend.ts";
import type { DecodeSpecMsg } from "./mamba2-decode.ts";

/** Everything a Mamba-2 LM's decode step reads (the matrices are the model's resident ones). */
export interface Mamba2DecodeWeights {
  d: number; E: number; H: number; P: number; G: number; N: number; K: number; V: number;
  /** SSD chunk length (chunk_size) of the prefill. */
  Q: number;
  /** RMSNorm eps of the blocks and norm_f, and of the gated norm. */
  eps: number; normEps: number;
  groupSize: number; normBeforeGate: boolean; dtLo: number; dtHi: number;
  embedding: Matrix; lmHead: Matrix;
  normF: Float32Array;
  layers: {
    norm: Float32Array;
    /** in_proj blocks [z, x, B, C, dt] as separate matrices, and out_proj. */
    proj: Matrix[]; outProj: Matrix;
    /** convW [Cv, K], convB [Cv] | null, dtBias / A (= -exp(A_log)) / D [H], normW [E] | null. */
    convW: Float32Array; convB: Float32Array | null; dtBias: Float32Array; A: Float32Array; D: Float32Array;
    normW: Float32Array | null;
  }[];
}

export class WebgpuMamba2Decoder {
  private readonly id: number;
  private released = false;
  /** Floats of one session's conv state and SSM state per layer. */
  readonly convSize: number;
  readonly ssmSize: number;
  readonly layers: number;

  constructor(private readonly backend: GpuBackend, readonly weights: Mamba2DecodeWeights) {
    if (backend.name !== "webgpu") throw new BackendError("batched Mamba-2 decode runs on the webgpu backend", backend.name);
    const w = weights;
    const msg: DecodeSpecMsg = {
      d: w.d, E: w.E, H: w.H, P: w.P, G: w.G, N: w.N, K: w.K, V: w.V, Q: w.Q, eps: w.eps, normEps: w.normEps,
      groupSize: w.groupSize, normBeforeGate: w.normBeforeGate, dtLo: w.dtLo, dtHi: w.dtHi,
      embedding: backend.matrixId(w.embedding), lmHead: backend.matrixId(w.lmHead), normF: w.normF,
      layers: w.layers.map((l) => ({
        norm: l.norm, proj: l.proj.map((m) => backend.matrixId(m)), outProj: backend.matrixId(l.outProj),
        convW: l.convW, convB: l.convB, dtBias: l.dtBias, A: l.A, D: l.D, normW: l.normW,
      })),
    };
    this.id = backend.call<number>("m2Create", msg);
    this.convSize = (w.E + 2 * w.G * w.N) * (w.K - 1);
    this.ssmSize = w.H * w.P * w.N;
    this.layers = w.layers.length;
  }

  /** Zeroed resident states for `slots` sessions. */
  alloc(slots: number): WebgpuStatePool {
    if (this.released) throw new BackendError("the decoder was released", "webgpu");
    if (!(Number.isInteger(slots) && slots >= 1)) throw new OptionError(`expected a positive integer, got ${slots}`, "slots");
    return new WebgpuStatePool(this.backend, this, this.backend.call<number>("m2Alloc", { dec: this.id, slots }), slots);
  }

  dispose(): void {
    if (this.released) return;
    this.released = true;
    try {
      this.backend.call("m2Release", { dec: this.id });
    } catch {
      // the device is gone: nothing to free
    }
  }
}

export class WebgpuStatePool {
  private freed = false;

  constructor(private readonly backend: GpuBackend, readonly decoder: WebgpuMamba2Decoder, private readonly id: number, readonly slots: number) {}

  private checkSlot(slot: number): void {
    if (this.freed) throw new BackendError("the state pool was freed", "webgpu");
    if (!(Number.isInteger(slot) && slot >= 0 && slot < this.slots)) throw new OptionError(`slot ${slot} outside 0..${this.slots - 1}`, "slot");
  }

  /** Sets a slot's state: conv [layers, Cv·(K-1)] and ssm [layers, H·P·N], each layer after the other. */
  write(slot: number, conv: Float32Array, ssm: Float32Array): void {
    this.checkSlot(slot);
    const d = this.decoder;
    if (conv.length !== d.layers * d.convSize || ssm.length !== d.layers * d.ssmSize)
      throw new OptionError(`state of ${conv.length} + ${ssm.length} floats, expected ${d.layers * d.convSize} + ${d.layers * d.ssmSize}`, "state");
    const c = conv.slice();
    const s = ssm.slice();
    this.backend.call("m2Write", { pool: this.id, slot, conv: c, ssm: s }, [c.buffer as ArrayBuffer, s.buffer as ArrayBuffer]);
  }

  /** A slot's state, read back from the GPU (same layout as write). */
  read(slot: number): { conv: Float32Array; ssm: Float32Array } {
    this.checkSlot(slot);
    return this.backend.call<{ conv: Float32Array; ssm: Float32Array }>("m2Read", { pool: this.id, slot });
  }

  /** One token for B sessions: ids[b] is fed to slots[b] (distinct). Returns logits [B, V]. */
  step(ids: ArrayLike<number>, slots: ArrayLike<number>): Float32Array {
    if (this.freed) throw new BackendError("the state pool was freed", "webgpu");
    const B = ids.length;
    const V = this.decoder.weights.V;
    if (B < 1 || B > this.slots || slots.length !== B) throw new OptionError(`${B} ids and ${slots.length} slots for a pool of ${this.slots}`, "ids");
    const u = new Uint32Array(B);
    const sl = new Uint32Array(B);
    const seen = new Set<number>();
    for (let b = 0; b < B; b++) {
      const id = ids[b];
      if (!(Number.isInteger(id) && id >= 0 && id < V)) throw new OptionError(`token id ${id} outside the model's ${V} rows`, "ids");
      this.checkSlot(slots[b]);
      if (seen.has(slots[b])) throw new OptionError(`slot ${slots[b]} appears twice in one step`, "slots");
      seen.add(slots[b]);
      u[b] = id;
      sl[b] = slots[b];
    }
    return this.backend.call<Float32Array>("m2Step", { pool: this.id, ids: u, slots: sl }, [u.buffer as ArrayBuffer, sl.buffer as ArrayBuffer]);
  }

  /**
   * Feeds `ids` to one slot with the chunked scan, on the GPU from embedding to the last token's
   * logits, in blocks of at most `block` tokens (one submission each). Returns logits [V].
   */
  prefill(slot: number, ids: ArrayLike<number>, block = 2048): Float32Array {
    if (!(Number.isInteger(block) && block >= 1)) throw new OptionError(`expected a positive integer, got ${block}`, "block");
    const blocks: number[] = [];
    for (let t = 0; t < ids.length; t += block) blocks.push(Math.min(block, ids.length - t), this.decoder.weights.Q);
    return this.prefillBlocks(slot, ids, blocks, false).logits;
  }

  /**
   * prefill() in explicit blocks: `blocks` = [n, q, n, q, ...], n tokens in chunks of q each,
   * summing to ids.length. With `norms`, also the head norms of the state [positions, layers, H]
   * at each chunk start inside a block (after the first) and at each block's end, in order: the
   * long-context telemetry's probes, when the blocks are laid out so that they fall there.
   */
  prefillBlocks(slot: number, ids: ArrayLike<number>, blocks: number[], norms: boolean): { logits: Float32Array; norms: Float32Array | null } {
    this.checkSlot(slot);
    const V = this.decoder.weights.V;
    if (ids.length < 1) throw new OptionError("expected at least one token id", "ids");
    const u = new Uint32Array(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!(Number.isInteger(id) && id >= 0 && id < V)) throw new OptionError(`token id ${id} at index ${i} outside the model's ${V} rows`, "ids");
      u[i] = id;
    }
    return this.backend.call<{ logits: Float32Array; norms: Float32Array | null }>(
      "m2Prefill", { pool: this.id, slot, ids: u, blocks, norms }, [u.buffer as ArrayBuffer],
    );
  }

  free(): void {
    if (this.freed) return;
    this.freed = true;
    try {
      this.backend.call("m2Free", { pool: this.id });
    } catch {
      // the device is gone: nothing to free
    }
  }
}
