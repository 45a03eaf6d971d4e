// Test hook of the webgpu backend (worker side): makes the k-th op from now fail inside the worker, so
// that the failure reaches the caller exactly as a real one does (the worker's error reply becomes a
// BackendError in kernels/gpu/host.ts). "error" fails that one op (a validation or out-of-memory
// error); "lost" also fails every later op of this backend, as a lost device does. The real device
// is left alone: it is shared with every other GPU backend of the process.

export type FaultMode = "error" | "lost";

export interface FaultSpec {
  /** The afterOps-th op from now fails (1 = the next one). */
  afterOps: number;
  mode: FaultMode;
}

export function createFaults() {
  let armed: { left: number; mode: FaultMode } | null = null;
  let lost: string | null = null;
  return {
    arm(f: FaultSpec): void {
      if (!(Number.isInteger(f.afterOps) && f.afterOps >= 1)) throw new Error(`injectFault: afterOps must be a positive integer, got ${f.afterOps}`);
      if (f.mode !== "error" && f.mode !== "lost") throw new Error(`injectFault: mode must be "error" or "lost", got ${f.mode}`);
      armed = { left: f.afterOps, mode: f.mode };
    },
    /** Throws if `op` is the one that fails, or if the (simulated) device is lost. */
    check(op: string): void {
      if (lost) throw new Error(lost);
      if (!armed || --armed.left > 0) return;
      const { mode } = armed;
      armed = null;
      if (mode === "lost") {
        lost = "device lost (simulated by the injectFault test hook)";
        throw new Error(`${lost} during ${op}`);
      }
      throw new Error(`validation error (injected by the injectFault test hook) during ${op}`);
    },
  };
}
