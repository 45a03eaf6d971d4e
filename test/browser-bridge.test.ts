// The browser GPU bridge's reply codec (kernels/gpu/web-bridge.ts): what the GPU worker writes into
// the shared buffer is what the blocked runtime worker reads back, typed arrays included, and the
// buffer grows for a reply larger than it.
import fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readReply, replyBuffer, writeReply } from "../kernels/gpu/web-bridge.ts";

const f32 = fc.float32Array({ maxLength: 300, noNaN: true }).map((a) => Float32Array.from(a, (x) => (Object.is(x, -0) ? 0 : x)));

test("replies round-trip through the shared buffer: JSON values and typed arrays at any nesting", () => {
  const sab = replyBuffer();
  fc.assert(
    fc.property(
      fc.record({
        ok: fc.boolean(),
        result: fc.oneof(
          f32,
          fc.record({ y: f32, state: f32, n: fc.integer(), note: fc.string() }, { noNullPrototype: true }),
          fc.array(fc.oneof(f32, fc.uint32Array({ maxLength: 50 }), fc.int32Array({ maxLength: 50 }), fc.constant(null)), { maxLength: 5 }),
        ),
      }, { noNullPrototype: true }),
      (reply) => {
        writeReply(sab, reply);
        assert.equal(readReply(sab), reply);
      },
    ),
    { numRuns: 200 },
  );
});

test("a reply larger than the buffer grows it; what is read back is a copy", () => {
  const sab = replyBuffer();
  const before = sab.byteLength;
  const big = Float32Array.from({ length: 300_000 }, (_, i) => Math.sin(i));
  writeReply(sab, { ok: true, result: { y: big } });
  assert.ok(sab.byteLength > before && sab.byteLength >= big.byteLength, `grew from ${before} to ${sab.byteLength}`);
  const got = readReply(sab) as { result: { y: Float32Array } };
  assert.ok(got.result.y instanceof Float32Array);
  assert.equal(got.result.y, big);
  assert.not.ok(got.result.y.buffer instanceof SharedArrayBuffer, "not a view of the shared buffer");
  writeReply(sab, { ok: false, error: "device lost" });
  assert.equal(readReply(sab), { ok: false, error: "device lost" });
});

test.run();
