// GPU failure fallback. A GPU backend can fail at start-up (no adapter, a driver that refuses the
// device) or in the middle of a stream (device lost, a validation or out-of-memory error, a worker
// that dies: all BackendError from kernels/gpu/host.ts). Neither may lose the stream or stay silent:
//
// - at load(): a gpu / webgpu backend that cannot start is replaced by wasm, and the switch is
//   recorded (`phase: "init"`); with `fallback: "none"` the BackendError is thrown instead.
// - mid-stream: every session of a GPU-loaded model keeps a Journal: a host copy of its state at a
//   known point (after each feed call, and every `checkpointEvery` tokens) and the token ids consumed
//   since. When a forward call fails, the shared ModelFailover rebuilds the model on the standby wasm
//   backend (weights re-read from the same checkpoint), the session replays its ids from the host
//   copy and runs the failed call again. Sampling is outside the model, so the RNG position is
//   untouched: no token is lost or repeated. This holds whether the live state is a host array (the
//   per-op path) or lives in GPU buffers (batched decode, kernels/webgpu/mamba2-decode.ts): the replay
//   never reads the failed device.
import { BackendError } from "../errors.ts";
import { cloneState, type Model, type ModelState } from "../models/model.ts";

/** One change of the backend that runs a model (reported by load() and by Session.stats()). */
export interface BackendSwitch {
  /** The backend given up, e.g. "webgpu". */
  from: string;
  /** The backend that runs from now on, e.g. "wasm". */
  to: string;
  /** The error that caused it. */
  reason: string;
  /** "init": the backend did not start; "prefill" / "decode": an op failed in a forward call. */
  phase: "init" | "prefill" | "decode";
  /** Tokens the failing session had consumed when the failed call began (0 at init). */
  position: number;
}

export type FallbackChoice = "wasm" | "none";

const GPU = new Set(["gpu", "webgpu"]);
export const isGpuBackend = (name: string): boolean => GPU.has(name);

/**
 * The model of one load(), shared by all its sessions: it runs on `model.backend` until an op fails
 * there, then (once) on the standby model that `standby()` builds. `generation` counts the switches so
 * that every session notices that its state may have lived on the backend that is gone.
 */
export class ModelFailover {
  private current: Model;
  private readonly log: BackendSwitch[];
  generation = 0;

  constructor(
    model: Model,
    private standby: (() => Model) | null,
    initial: BackendSwitch[] = [],
    private readonly onSwitch?: (s: BackendSwitch) => void,
    /** Frees what the standby holds when it is never used (its backend). */
    private readonly disposeStandby?: () => void,
  ) {
    this.current = model;
    this.log = [...initial];
  }

  get model(): Model {
    return this.current;
  }

  get switches(): BackendSwitch[] {
    return this.log.map((s) => ({ ...s }));
  }

  /** Whether a failure of `e` can be recovered by switching: a BackendError of a GPU backend, with a standby left. */
  canRecover(e: unknown): boolean {
    return this.standby !== null && e instanceof BackendError && isGpuBackend(this.current.backend.name);
  }

  /** Sessions need journals only while a switch can still happen. */
  get armed(): boolean {
    return this.standby !== null && isGpuBackend(this.current.backend.name);
  }

  /** Moves the model to the standby backend (building it now) and records why. */
  switchAway(e: unknown, position: number, phase: "prefill" | "decode"): Model {
    const make = this.standby;
    if (!make) throw e;
    this.standby = null;
    const old = this.current;
    const next = make();
    const s: BackendSwitch = { from: old.backend.name, to: next.backend.name, reason: (e as Error).message ?? String(e), phase, position };
    this.current = next;
    this.generation++;
    this.log.push(s);
    try {
      old.backend.dispose();
    } catch {
      // the device is gone already
    }
    this.onSwitch?.({ ...s });
    return next;
  }

  dispose(): void {
    this.current.backend.dispose();
    if (this.standby) this.disposeStandby?.();
    this.standby = null;
  }
}

/**
 * A host copy of a session's state at a known point plus the token ids consumed since: enough to
 * rebuild the state on another backend. `base` is never mutated (forks share it).
 */
export class Journal {
  private base: ModelState;
  private ids: number[] = [];

  constructor(state: ModelState, readonly every: number) {
    this.base = cloneState(state);
  }

  copy(): Journal {
    const j = Object.create(Journal.prototype) as Journal;
    Object.assign(j, { base: this.base, ids: [...this.ids], every: this.every });
    return j;
  }

  /** Tokens consumed since the host copy. */
  get since(): number {
    return this.ids.length;
  }

  /** `ids` were consumed successfully; `read()` gives the state now (a readback when it is on the GPU). */
  record(ids: ArrayLike<number>, read: () => ModelState): void {
    for (let i = 0; i < ids.length; i++) this.ids.push(ids[i]);
    if (this.ids.length >= this.every) this.mark(read());
  }

  /** Makes `state` (as it is now) the known point. */
  mark(state: ModelState): void {
    this.base = cloneState(state);
    this.ids = [];
  }

  /** The state of the last known point, advanced through the ids since on `model`. */
  replay(model: Model): ModelState {
    const s = cloneState(this.base);
    if (this.ids.length) model.forward(this.ids, s, "none");
    return s;
  }
}

/** Default `checkpointEvery`: decode tokens between host copies of the state (bounds the replay). */
export const DEFAULT_CHECKPOINT_EVERY = 64;

/**
 * Starts a model with `assemble(choice)`; a gpu / webgpu choice that fails to start with a
 * BackendError is started on wasm instead (unless `fallback` is "none"), and the switch is returned
 * (and passed to `onSwitch`). load() uses it; any other error is thrown.
 */
export async function assembleWithFallback<L>(
  choice: string, fallback: FallbackChoice, assemble: (backend: "wasm" | typeof choice) => Promise<L>,
  onSwitch?: (s: BackendSwitch) => void,
): Promise<{ loaded: L; initial: BackendSwitch[] }> {
  if (!isGpuBackend(choice) || fallback === "none") return { loaded: await assemble(choice), initial: [] };
  try {
    return { loaded: await assemble(choice), initial: [] };
  } catch (e) {
    if (!(e instanceof BackendError)) throw e;
    const s: BackendSwitch = { from: choice, to: "wasm", reason: e.message, phase: "init", position: 0 };
    onSwitch?.({ ...s });
    return { loaded: await assemble("wasm"), initial: [s] };
  }
}
