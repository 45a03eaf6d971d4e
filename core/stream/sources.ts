// Document sources for Session.read / Session.ask. A source is read in chunks, never held whole.
//
//   re-readable (JRT can show them twice):  a string, fromFile(path), an array of chunks, or a
//                                           function returning a fresh iterable / stream each call
//   one-shot (read once):                   an AsyncIterable / Iterable that is its own iterator
//                                           (generators), a Node Readable, a web ReadableStream
// Chunks may be strings or bytes (Uint8Array / Buffer, decoded as UTF-8 across chunk boundaries).
import { OptionError } from "../errors.ts";

export type Chunk = string | Uint8Array;
/** Anything that yields text chunks once. Node streams and (Node 20+) web ReadableStreams are AsyncIterables. */
export type ChunkStream = AsyncIterable<Chunk> | Iterable<Chunk> | ReadableStream<Chunk>;

/** A file opened lazily each time it is read (re-readable; Node only). */
export interface FileSource {
  readonly kind: "file";
  readonly path: string;
  /** Bytes in the file (for progress), or undefined if it cannot be stat'ed. */
  size(): Promise<number | undefined>;
  open(): AsyncIterable<Chunk>;
}

export type ReadSource = string | FileSource | (() => ChunkStream | Promise<ChunkStream>) | ChunkStream;

/** JRT needs a re-readable source, and a one-shot stream was given. */
export class NotReReadableError extends OptionError {
  constructor(copies: number, hint?: string) {
    super(
      `showing the context ${copies} times (jrt ${copies}) needs a source that can be read again, but it was a one-shot stream ` +
        `(a Node / web stream or an iterator). ` +
        (hint ?? `Pass a string, fromFile(path), or a function that returns a fresh stream each time, e.g. () => fs.createReadStream(path, "utf8")`),
      "jrt",
    );
  }
}

/** A re-readable source for a file (UTF-8), read in 64 KiB chunks. */
export function fromFile(path: string): FileSource {
  return {
    kind: "file",
    path,
    async size() {
      try {
        const fs = await import("node:fs/promises");
        return (await fs.stat(path)).size;
      } catch {
        return undefined;
      }
    },
    async *open() {
      const fs = await import("node:fs");
      let stream: import("node:fs").ReadStream;
      try {
        stream = fs.createReadStream(path, { highWaterMark: 1 << 16 });
        await new Promise<void>((resolve, reject) => stream.once("open", () => resolve()).once("error", reject));
      } catch (e) {
        throw new OptionError(`cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, "source");
      }
      yield* stream as AsyncIterable<Buffer>;
    },
  };
}

export function isFileSource(s: unknown): s is FileSource {
  return typeof s === "object" && s !== null && (s as FileSource).kind === "file" && typeof (s as FileSource).open === "function";
}

/** True if `s` can be read more than once. */
export function isReReadable(s: ReadSource): boolean {
  if (typeof s === "string" || typeof s === "function" || isFileSource(s)) return true;
  if (Array.isArray(s)) return true;
  return false;
}

/** A short name for progress output. */
export function describeSource(s: ReadSource): string {
  if (typeof s === "string") return `string (${s.length} chars)`;
  if (isFileSource(s)) return s.path;
  if (typeof s === "function") return "re-readable factory";
  return "stream";
}

function checkSource(s: unknown): asserts s is ReadSource {
  if (typeof s === "string" || typeof s === "function" || isFileSource(s)) return;
  if (typeof s === "object" && s !== null && (Symbol.asyncIterator in s || Symbol.iterator in s || typeof (s as ReadableStream).getReader === "function")) return;
  throw new OptionError(`expected a string, fromFile(path), a function returning a stream, or an (async) iterable of text chunks, got ${s === null ? "null" : typeof s}`, "source");
}

/** The source as a stream of strings (UTF-8 decoded across chunk boundaries). Opens it anew for re-readable sources. */
export async function* openText(source: ReadSource): AsyncGenerator<string> {
  checkSource(source);
  if (typeof source === "string") {
    // slice a big string so that progress and abort work inside it
    let i = 0;
    while (i < source.length) {
      let j = Math.min(source.length, i + (1 << 16));
      const code = source.charCodeAt(j - 1);
      if (j < source.length && code >= 0xd800 && code <= 0xdbff) j++; // keep a surrogate pair whole
      yield source.slice(i, j);
      i = j;
    }
    return;
  }
  let stream: ChunkStream;
  if (isFileSource(source)) stream = source.open();
  else if (typeof source === "function") {
    const made = await source();
    checkSource(made);
    if (typeof made === "function" || typeof made === "string" || isFileSource(made)) throw new OptionError("the source function must return an (async) iterable or a stream of text chunks", "source");
    stream = made as ChunkStream;
  } else stream = source;
  const decoder = new TextDecoder("utf-8");
  for await (const chunk of iterate(stream)) {
    if (typeof chunk === "string") {
      if (chunk) yield chunk;
    } else if (chunk instanceof Uint8Array) {
      const s = decoder.decode(chunk, { stream: true });
      if (s) yield s;
    } else throw new OptionError(`the source yielded a ${typeof chunk}, expected strings or bytes`, "source");
  }
  const rest = decoder.decode();
  if (rest) yield rest;
}

function iterate(s: ChunkStream): AsyncIterable<Chunk> | Iterable<Chunk> {
  if (Symbol.asyncIterator in s || Symbol.iterator in s) return s as AsyncIterable<Chunk>;
  const reader = (s as ReadableStream<Chunk>).getReader();
  return {
    async *[Symbol.asyncIterator]() {
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          yield value;
        }
      } finally {
        reader.releaseLock();
      }
    },
  };
}
