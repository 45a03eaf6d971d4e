// Tokenizers: Hugging Face tokenizer.json (the GPT-NeoX byte-level BPE of the Mamba checkpoints)
// through @huggingface/tokenizers, and a byte-level tokenizer (id = byte) for byte models.
// Both give a streaming decoder whose pieces are always valid UTF-8, even when a character's
// bytes are spread over several tokens.
import { Tokenizer } from "@huggingface/tokenizers";
import { TokenizerError } from "../errors.ts";
import { readTextFile } from "./node-files.ts";

export interface TextTokenizer {
  readonly kind: "bpe" | "bytes";
  /** Number of ids the tokenizer can produce. */
  readonly vocabSize: number;
  /** End-of-text id, or null if the tokenizer has none. */
  readonly eosId: number | null;
  encode(text: string): number[];
  decode(ids: number[]): string;
  /** A decoder fed one id at a time that only ever emits complete characters. */
  streamDecoder(): StreamDecoder;
}

export interface StreamDecoder {
  push(id: number): string;
  /** Whatever is still held back (incomplete bytes become U+FFFD). */
  flush(): string;
}

export function byteTokenizer(): TextTokenizer {
  const enc = new TextEncoder();
  return {
    kind: "bytes",
    vocabSize: 256,
    eosId: null,
    encode: (text) => Array.from(enc.encode(text)),
    decode: (ids) => new TextDecoder().decode(Uint8Array.from(ids)),
    streamDecoder() {
      const dec = new TextDecoder();
      return {
        push: (id) => dec.decode(Uint8Array.of(id), { stream: true }),
        flush: () => dec.decode(),
      };
    },
  };
}

/** A tokenizer.json file on disk (Node). */
export function loadTokenizerJson(file: string): TextTokenizer {
  let text: string;
  try {
    text = readTextFile(file);
  } catch (e) {
    throw new TokenizerError(`${file}: cannot read tokenizer.json (${(e as Error).message})`);
  }
  return parseTokenizerJson(text, file);
}

/** A tokenizer.json's text (fetched, dropped, or read from disk); `file` names it in errors. */
export function parseTokenizerJson(text: string, file: string): TextTokenizer {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new TokenizerError(`${file}: cannot read tokenizer.json (${(e as Error).message})`);
  }
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(json as object, { clean_up_tokenization_spaces: false });
  } catch (e) {
    throw new TokenizerError(`${file}: unsupported tokenizer.json (${(e as Error).message})`);
  }
  const vocab = tok.get_vocab(true);
  const eos = tok.token_to_id("<|endoftext|>") ?? tok.token_to_id("</s>") ?? null;
  const decode = (ids: number[]) => ids.length === 0 ? "" : tok.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
  return {
    kind: "bpe",
    vocabSize: Math.max(...vocab.values()) + 1,
    eosId: eos,
    encode: (text) => tok.encode(text, { add_special_tokens: false }).ids,
    decode,
    streamDecoder() {
      // Decode the ids held since the last complete emission; hold back while the text ends in an
      // incomplete UTF-8 sequence (decoded as U+FFFD). Give up holding after 4 ids (a real U+FFFD).
      let held: number[] = [];
      return {
        push(id) {
          held.push(id);
          const text = decode(held);
          if (text.endsWith("\uFFFD") && held.length < 4) return "";
          held = [];
          return text;
        },
        flush() {
          const text = held.length ? decode(held) : "";
          held = [];
          return text;
        },
      };
    },
  };
}
