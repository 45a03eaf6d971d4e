// The scanstream CLI as a user runs it (bin/scanstream.js in a child process).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readNpy } from "../core/formats/npy.ts";
import { GOLDEN, goldenLogits, maxAbsDiff } from "./helpers/golden.ts";

const BIN = path.resolve("bin/scanstream.js");
const run = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", timeout: 60_000 });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "scanstream-cli-"));

for (const name of ["m2_hf_v1000_g2_untied_f32", "m1_ss_v256_tied_f32"]) {
  test(`logits ${name} --ids tokens.json writes the golden logits`, () => {
    const dir = path.join(GOLDEN, name);
    const out = path.join(tmp, `${name}.npy`);
    const r = run("logits", dir, "--ids", path.join(dir, "tokens.json"), "--out", out, "--backend", "cpu");
    assert.is(r.status, 0, r.stderr);
    const got = readNpy(fs.readFileSync(out));
    const want = goldenLogits(dir);
    assert.equal(got.shape, want.shape);
    assert.ok(maxAbsDiff(got.data, want.data) < 1e-4);
  });
}

test("logits accepts a bare JSON array and --text", () => {
  const dir = path.join(GOLDEN, "m2_ss_v256_g1_tied_f32");
  const ids = path.join(tmp, "ids.json");
  fs.writeFileSync(ids, JSON.stringify([72, 105]));
  const a = path.join(tmp, "a.npy");
  const b = path.join(tmp, "b.npy");
  assert.is(run("logits", dir, "--ids", ids, "--out", a, "--backend", "cpu").status, 0);
  assert.is(run("logits", dir, "--text", "Hi", "--out", b, "--backend", "cpu").status, 0);
  assert.equal(readNpy(fs.readFileSync(a)).data, readNpy(fs.readFileSync(b)).data);
});

test("info prints the resolved config, parameter count and state size", () => {
  const r = run("info", path.join(GOLDEN, "m2_ss_v256_g1_tied_f32"));
  assert.is(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.is(j.family, "mamba2");
  assert.is(j.vocab_rows, 256);
  assert.is(j.state_bytes, 4 * 2 * (160 * 3 + 8 * 16 * 16));
  assert.ok(j.parameters > 0);
});

test("generate streams text from a model folder", () => {
  const r = run("generate", "Hello", "--model", path.join(GOLDEN, "m2_ss_v256_g1_tied_f32"), "--max-tokens", "8", "--backend", "cpu", "--seed", "3");
  assert.is(r.status, 0, r.stderr);
  assert.ok(r.stdout.startsWith("Hello") && r.stdout.length > 5);
});

test("bad input is one clear line, not a stack trace", () => {
  const cases: [string[], RegExp][] = [
    [["info", path.join(tmp, "missing-dir")], /missing-dir/],
    [["logits", path.join(GOLDEN, "m2_ss_v256_g1_tied_f32"), "--out", path.join(tmp, "x.npy")], /--ids/],
    [["generate", "x", "--model", path.join(GOLDEN, "m2_ss_v256_g1_tied_f32"), "--max-tokens", "abc"], /--max-tokens/],
    [["generate", "x", "--backend", "tpu"], /backend/],
    [["frobnicate"], /unknown command/],
  ];
  for (const [args, pattern] of cases) {
    const r = run(...args);
    assert.is.not(r.status, 0);
    assert.match(r.stderr, pattern);
    assert.not.match(r.stderr, /\n\s+at /, `stack trace for ${args.join(" ")}`);
  }
  assert.not.ok(fs.existsSync(path.join(tmp, "x.npy")));
});

test.run();
