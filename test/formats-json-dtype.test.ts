// parseConfigJson (Python-flavoured JSON) and toFloat32 (dtype widening).
import * as fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ConfigError, CheckpointError } from "../core/errors.ts";
import { f16BitsToNumber, toFloat32 } from "../core/formats/dtype.ts";
import { parseConfigJson } from "../core/formats/json.ts";
import type { RawTensor, StoredDType } from "../core/formats/tensor.ts";

test("json: bare Infinity / -Infinity / NaN as transformers writes them", () => {
  const j = parseConfigJson('{"time_step_limit": [0.0, Infinity], "lo": -Infinity, "x": NaN, "n": -1.5e-3}', "config.json");
  assert.equal(j.time_step_limit, [0, Infinity]);
  assert.is(j.lo, -Infinity);
  assert.ok(Number.isNaN(j.x));
  assert.is(j.n, -0.0015);
});

test("json: the same words inside strings are text", () => {
  const j = parseConfigJson('{"a": "Infinity", "b": "NaN, -Infinity", "c": "say \\"Infinity\\"\\n\\u00e9"}', "c.json");
  assert.is(j.a, "Infinity");
  assert.is(j.b, "NaN, -Infinity");
  assert.is(j.c, 'say "Infinity"\né');
});

test("json: agrees with JSON.parse on ordinary JSON (property)", () => {
  fc.assert(
    fc.property(fc.jsonValue(), (v) => {
      const text = JSON.stringify(v);
      assert.equal(parseConfigJson(text, "f.json"), JSON.parse(text));
    }),
    { numRuns: 300 },
  );
});

test("json: malformed input is a ConfigError naming the file and position", () => {
  for (const bad of ['{"a": 1,}', '{"a": Inf}', '{"a": 1} x', "", '{"a": "unterminated', "[1 2]", '{"a": infinity}', '{"a": "\\x"}']) {
    try {
      parseConfigJson(bad, "/ckpt/config.json");
      assert.unreachable(`accepted ${bad}`);
    } catch (e) {
      assert.instance(e, ConfigError, bad);
      assert.match((e as Error).message, "/ckpt/config.json");
      assert.match((e as Error).message, /line \d+ column \d+/);
    }
  }
});

test("json: deep nesting is refused, not a stack overflow; __proto__ is plain data", () => {
  assert.throws(() => parseConfigJson("[".repeat(100000), "deep.json"), (e: unknown) => e instanceof ConfigError && /nested deeper/.test((e as Error).message));
  const j = parseConfigJson('{"__proto__": {"polluted": 1}}', "p.json");
  assert.is(({} as Record<string, unknown>).polluted, undefined);
  assert.equal(Object.keys(j), ["__proto__"]);
});

const raw = (dtype: StoredDType, data: Uint8Array): RawTensor => ({ name: "t", dtype, shape: [data.length], data, file: "f" });

test("dtype: f16 special values, subnormals, inf and NaN", () => {
  assert.is(f16BitsToNumber(0x3c00), 1);
  assert.is(f16BitsToNumber(0xc000), -2);
  assert.is(f16BitsToNumber(0x7bff), 65504);
  assert.is(f16BitsToNumber(0x0001), 2 ** -24);
  assert.is(f16BitsToNumber(0x03ff), 1023 * 2 ** -24);
  assert.is(f16BitsToNumber(0x0400), 2 ** -14);
  assert.is(f16BitsToNumber(0x7c00), Infinity);
  assert.is(f16BitsToNumber(0xfc00), -Infinity);
  assert.ok(Number.isNaN(f16BitsToNumber(0x7e00)));
  assert.ok(Object.is(f16BitsToNumber(0x8000), -0));
  assert.is(f16BitsToNumber(0x3555), 0.333251953125);
});

test("dtype: f16 → f32 is exact for all 65536 half values", () => {
  const out = toFloat32(raw("F16", new Uint8Array(new Uint16Array(Array.from({ length: 65536 }, (_, i) => i)).buffer)));
  for (let h = 0; h < 65536; h++) {
    const v = out[h];
    const exp = (h >> 10) & 31;
    if (exp === 31 && h & 0x3ff) {
      assert.ok(Number.isNaN(v));
      continue;
    }
    // the float32 equals the exact (float64) half value: nothing was rounded
    assert.ok(Object.is(v, f16BitsToNumber(h)), `h=${h}`);
  }
});

test("dtype: bf16 is the high half of f32 (property)", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffff }), (b) => {
      const f = new Float32Array(new Uint32Array([b << 16]).buffer)[0];
      const got = toFloat32(raw("BF16", new Uint8Array([b & 0xff, b >> 8])))[0];
      assert.ok(Object.is(got, f) || (Number.isNaN(got) && Number.isNaN(f)));
    }),
  );
});

test("dtype: F32 / F64 / unaligned data; integer dtypes refused with the tensor named", () => {
  const vals = [1.5, -2.25, 3e-40, Infinity];
  const f32 = new Uint8Array(new Float32Array(vals).buffer);
  const unaligned = new Uint8Array(f32.length + 1).subarray(1);
  unaligned.set(f32);
  assert.equal([...toFloat32(raw("F32", unaligned))], [...new Float32Array(vals)]);
  assert.equal([...toFloat32(raw("F64", new Uint8Array(new Float64Array([0.1, -7]).buffer)))], [Math.fround(0.1), -7]);
  const half = new Uint8Array(5).subarray(1);
  half.set([0x00, 0x3c, 0x00, 0xc0]);
  assert.equal([...toFloat32(raw("F16", half))], [1, -2]);
  assert.throws(() => toFloat32(raw("I64", new Uint8Array(8))), (e: unknown) => e instanceof CheckpointError && /I64/.test((e as Error).message) && /tensor t/.test((e as Error).message));
  assert.throws(() => toFloat32(raw("F32", new Uint8Array(6))), (e: unknown) => e instanceof CheckpointError);
});

test.run();
