// The GPT-NeoX tokenizer.json through @huggingface/tokenizers, and the byte tokenizer.
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import * as fc from "fast-check";
import { byteTokenizer, loadTokenizerJson } from "../core/formats/tokenizer.ts";
import { TokenizerError } from "../core/errors.ts";
import { FIXTURES } from "./helpers/golden.ts";

const neox = loadTokenizerJson(path.join(FIXTURES, "tokenizers/gpt-neox-20b/tokenizer.json"));

function streamed(tok: typeof neox, ids: number[]): string[] {
  const d = tok.streamDecoder();
  const out = ids.map((id) => d.push(id));
  out.push(d.flush());
  return out;
}

test("neox: <|endoftext|> is 0, whitespace runs use the added tokens 50254..50276", () => {
  assert.is(neox.eosId, 0);
  assert.equal(neox.encode("<|endoftext|>"), [0]);
  const ids = neox.encode("a    b");
  assert.ok(ids.some((id) => id >= 50254 && id <= 50276), `ids ${ids}`);
  assert.equal(neox.encode("Hello world"), [12092, 1533]);
});

test("neox: encode/decode round-trips arbitrary text (property)", () => {
  fc.assert(
    fc.property(fc.string({ unit: "grapheme", maxLength: 40 }), (s) => {
      const nfc = s.normalize("NFC");
      return neox.decode(neox.encode(nfc)) === nfc;
    }),
    { numRuns: 200 },
  );
});

test("neox: streamed pieces are whole characters even when one spans tokens", () => {
  const s = "🤗 naïve 日本語 ok";
  const ids = neox.encode(s);
  const pieces = streamed(neox, ids);
  assert.is(pieces.join(""), s);
  for (const p of pieces) assert.not.match(p, /\uFFFD/);
});

test("bytes: streamed pieces never split a character", () => {
  const b = byteTokenizer();
  fc.assert(
    // a split character decodes to U+FFFD, so texts that hold U+FFFD themselves are left out
    fc.property(fc.string({ unit: "grapheme", maxLength: 20 }).filter((s) => !s.includes("\uFFFD")), (s) => {
      const pieces = streamed(b, b.encode(s));
      return pieces.join("") === s && pieces.every((p) => !p.includes("\uFFFD"));
    }),
  );
});

test("a malformed tokenizer.json is a TokenizerError naming the file", () => {
  assert.throws(() => loadTokenizerJson(path.join(FIXTURES, "golden/m2_ss_v256_g1_tied_f32/tokens.json")), (e: unknown) => e instanceof TokenizerError && /tokens\.json/.test((e as Error).message));
  assert.throws(() => loadTokenizerJson("/nonexistent/tokenizer.json"), (e: unknown) => e instanceof TokenizerError);
});

test.run();
