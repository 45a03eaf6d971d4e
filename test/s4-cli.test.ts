// `scanstream run` (core/cli/run-s4.ts): an S4 sequence model over a .npy of float inputs, streamed in
// chunks, against the state-spaces/s4 golden outputs of test/fixtures/s4; pooled output; errors.
import { test } from "uvu";
import * as assert from "uvu/assert";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { runCommand } from "../core/cli/run-s4.ts";
import { readNpy, writeNpy } from "../core/formats/npy.ts";
import { OptionError } from "../core/errors.ts";
import { scaledMaxDiff } from "./helpers/random-model.ts";

const FIX = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures/s4");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "s4-cli-"));
const quiet = async (f: () => Promise<void>) => {
  const w = process.stderr.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    await f();
  } finally {
    process.stderr.write = w;
  }
};

for (const name of ["s4d_minimal_seq", "s4block_nplr_legs_seq"]) {
  const dir = path.join(FIX, name);
  const golden = JSON.parse(fs.readFileSync(path.join(dir, "golden.json"), "utf8"));
  const [, L, I] = golden.input_shape as number[];
  const O = golden.output_shape[1] as number;
  const input = path.join(tmp, `${name}-x.npy`);
  fs.writeFileSync(input, writeNpy(Float32Array.from(golden.input), [L, I]));

  for (const args of [["--chunk", "7"], ["--chunk", "16", "--mode", "conv"], ["--backend", "cpu"]]) {
    test(`run ${name} ${args.join(" ")}: per-step outputs == state-spaces/s4`, async () => {
      const out = path.join(tmp, `${name}-y.npy`);
      await quiet(() => runCommand([dir, "--input", input, "--out", out, ...args]));
      const y = readNpy(fs.readFileSync(out), out);
      assert.equal(y.shape, [L, O]);
      assert.ok(scaledMaxDiff(y.data, golden.forward) < 2e-5);
      assert.not.ok(fs.readdirSync(tmp).some((f) => f.includes(".tmp-")));
    });
  }

  test(`run ${name} --pooled: the mean of the per-step outputs`, async () => {
    const out = path.join(tmp, `${name}-p.npy`);
    await quiet(() => runCommand([dir, "--input", input, "--out", out, "--pooled", "--chunk", "9"]));
    const y = readNpy(fs.readFileSync(out), out);
    assert.equal(y.shape, [O]);
    const mean = Array.from({ length: O }, (_, o) => golden.forward.filter((_: number, i: number) => i % O === o).reduce((a: number, b: number) => a + b) / L);
    assert.ok(scaledMaxDiff(y.data, mean) < 2e-5);
  });
}

test("run: bad input shape, language model, missing options are one-line OptionErrors and write nothing", async () => {
  const dir = path.join(FIX, "s4d_minimal_seq");
  const bad = path.join(tmp, "bad.npy");
  fs.writeFileSync(bad, writeNpy(new Float32Array(10), [5, 2]));
  const out = path.join(tmp, "never.npy");
  const cases: [string[], RegExp][] = [
    [[dir, "--input", bad, "--out", out], /shape \[5, 2\], expected \[L, 3\]/],
    [[path.join(FIX, "s4block_diag_lm"), "--input", bad, "--out", out], /language model/],
    [[dir, "--out", out], /--input: required/],
    [[dir, "--input", bad], /--out: required/],
    [[dir, "--input", path.join(tmp, "missing.npy"), "--out", out], /cannot open/],
    [[dir, "--input", bad, "--out", out, "--mode", "fast"], /--mode/],
  ];
  for (const [args, re] of cases) {
    try {
      await quiet(() => runCommand(args));
      assert.unreachable(args.join(" "));
    } catch (e) {
      assert.instance(e, OptionError);
      assert.match((e as Error).message, re);
    }
  }
  assert.not.ok(fs.existsSync(out));
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
test.run();
