// A few hundred fuzz cases on every run (bench/fuzz-loaders.ts runs thousands): mutated real
// checkpoint files either load or raise a typed ScanstreamError, and no loader allocation exceeds
// the file's size. Fixed seed, so a failure here reproduces exactly.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { runFuzz } from "./fuzz/fuzz.ts";

test("fuzz: 300 mutated safetensors / .bin / config files give only typed errors", () => {
  const r = runFuzz({ cases: 300, seed: 20240611 });
  if (r.failure) assert.unreachable(`seed ${r.failure.seed} path ${r.failure.path}: ${r.failure.message}\n${r.failure.counterexample}`);
  assert.is(r.cases, 300);
  assert.ok(r.maxAllocRatio <= 1);
  // the mutations must not all be rejected up front: some files still load, some fail in each way
  assert.ok((r.outcomes.loaded ?? 0) > 0 && (r.outcomes.CheckpointError ?? 0) > 0 && (r.outcomes.ConfigError ?? 0) > 0, JSON.stringify(r.outcomes));
});

test.run();
