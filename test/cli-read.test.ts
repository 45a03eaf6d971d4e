// `scanstream read` as a user runs it (bin/scanstream.js in a child process), on the golden fixture model.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { main } from "../core/cli/main.ts";
import { GOLDEN } from "./helpers/golden.ts";

const BIN = path.resolve("bin/scanstream.js");
const MODEL = path.join(GOLDEN, "m2_ss_v256_g1_tied_f32");
const OTHER = path.join(GOLDEN, "m1_ss_v256_tied_f32");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "scanstream-cli-read-"));
const run = (args: string[], input?: string) =>
  spawnSync(process.execPath, [BIN, "read", ...args], { encoding: "utf8", timeout: 60_000, input });
const DOC = path.join(tmp, "doc.txt");
fs.writeFileSync(DOC, "Mira hid the key under the third stone. ".repeat(6));
const SNAP = path.join(tmp, "doc.snap");

test("read FILE --ask --jrt 2 --json: progress lines on stderr, a snapshot file, answers in JSON", () => {
  const r = run([DOC, "--model", MODEL, "--backend", "cpu", "--ask", "Where is the key?", "--jrt", "2", "--max-tokens", "4",
    "--json", "--progress", "lines", "--snapshot-out", SNAP, "--train-length", "128"]);
  assert.is(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.is(j.tokens, fs.statSync(DOC).size);
  assert.match(j.mitigation, /^auto: window r=128/);
  assert.is(j.answers.length, 1);
  assert.is(typeof j.answers[0].answer, "string");
  assert.ok(j.stats.layers.length === 2 && j.stats.maxRatio > 0);
  assert.match(r.stderr, /\[scanstream\] reading: \d+ tokens, position \d+ \(100\.0%\)/);
  assert.match(r.stderr, /copy 2\/2/);
  assert.ok(fs.existsSync(SNAP));
  assert.equal(fs.readdirSync(tmp).filter((f) => f.includes(".tmp-")), []);
});

test("--resume of a finished read answers from the snapshot; stdin works with jrt 1", () => {
  const r = run([DOC, "--model", MODEL, "--backend", "cpu", "--resume", SNAP, "--ask", "Where?", "--max-tokens", "2", "--progress", "none"]);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stderr, /the read had finished/);
  const s = run(["-", "--model", MODEL, "--backend", "cpu", "--ask", "Where?", "--max-tokens", "2", "--progress", "none"], "a short note on stdin");
  assert.is(s.status, 0, s.stderr);
  assert.match(s.stderr, /read 21 tokens/);
});

/** main() in this process (the error paths return before reading stdin), with stdout and stderr captured. */
async function inProcess(argv: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  const [out, err] = [process.stdout.write, process.stderr.write];
  let stdout = "";
  let stderr = "";
  process.stdout.write = ((chunk: string | Uint8Array) => ((stdout += chunk.toString()), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += chunk.toString()), true)) as typeof process.stderr.write;
  try {
    return { status: await main(argv), stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
}

test("bad input is one clear line: stdin with JRT, corrupt / foreign / mismatched snapshots, bad flags", async () => {
  const corrupt = path.join(tmp, "corrupt.snap");
  const bytes = fs.readFileSync(SNAP);
  bytes[200] ^= 1;
  fs.writeFileSync(corrupt, bytes);
  const cases: [string[], RegExp][] = [
    [["-", "--model", MODEL, "--ask", "q", "--jrt", "2"], /jrt.*stdin \(-\) is read once: save the document to a file/],
    [[DOC, "--model", MODEL, "--resume", corrupt], /corrupt\.snap: checksum mismatch/],
    [[DOC, "--model", MODEL, "--resume", path.join(tmp, "nope.snap")], /nope\.snap: cannot read the snapshot \(no such file\)/],
    [[DOC, "--model", OTHER, "--backend", "cpu", "--resume", SNAP], /doc\.snap: taken from another model/],
    [[DOC, "--model", MODEL, "--backend", "cpu", "--resume", SNAP, "--mitigation", "norm"], /taken with mitigation "auto".*--mitigation auto/],
    [[DOC, "--model", MODEL, "--mitigation", "shrink"], /--mitigation: expected one of none, forget, norm, window, auto/],
    [[path.join(tmp, "missing.txt"), "--model", MODEL], /cannot read .*missing\.txt \(ENOENT\)/],
  ];
  for (const [args, pattern] of cases) {
    const r = await inProcess(["read", ...args]);
    assert.is(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, pattern);
    assert.not.match(r.stderr, /\n\s+at /, `stack trace for ${args.join(" ")}`);
  }
});

test("eval passkey / recall / position-loss --json: one result per configuration, with accuracy or loss", async () => {
  const base = ["--model", MODEL, "--backend", "cpu", "--json", "--quiet"];
  const pk = await inProcess(["eval", "passkey", ...base, "--lengths", "256,512", "--depths", "0,1", "--trials", "1", "--mitigation", "none,auto", "--train-length", "256"]);
  assert.is(pk.status, 0, pk.stderr);
  const j = JSON.parse(pk.stdout);
  assert.is(j.results.length, 2 * 2 * 2);
  assert.ok(j.results.every((r: { accuracy: number; length: number; depth: number }) => r.accuracy >= 0 && r.accuracy <= 1 && r.length > 0 && r.depth >= 0));
  assert.match(j.mitigations[1].plan, /auto: window r=256/);
  const rc = await inProcess(["eval", "recall", ...base, "--pairs", "4", "--asked", "2", "--trials", "2", "--jrt", "1,2"]);
  assert.is(rc.status, 0, rc.stderr);
  assert.equal(JSON.parse(rc.stdout).results.map((r: { jrt: number }) => r.jrt), [1, 2]);
  const pl = await inProcess(["eval", "position-loss", ...base, "--newlines", "--lengths", "300", "--bucket", "100", "--mitigation", "none,norm"]);
  assert.is(pl.status, 0, pl.stderr);
  assert.equal(JSON.parse(pl.stdout).results.map((r: { mitigation: string; from: number }) => `${r.mitigation}:${r.from}`),
    ["reset@2048:0", "reset@2048:100", "reset@2048:200", "none:0", "none:100", "none:200", "norm:0", "norm:100", "norm:200"]);
  const bad = await inProcess(["eval", "passkey", ...base, "--depths", "2"]);
  assert.is(bad.status, 2);
  assert.match(bad.stderr, /--depths: expected depths in \[0, 1\]/);
});

test.run();
