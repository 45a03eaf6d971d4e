// Splits a stream of text chunks into pieces that are safe to tokenise on their own: a piece ends
// at whitespace, so a word (and a BPE merge) is never cut in two by a chunk boundary, and a
// surrogate pair is never split. Memory is bounded by the longest run without whitespace.

export type TextSource = string | Iterable<string> | AsyncIterable<string>;

export async function* safePieces(source: TextSource, maxHeld = 1 << 16): AsyncGenerator<string> {
  if (typeof source === "string") {
    yield source;
    return;
  }
  let held = "";
  for await (const chunk of source as AsyncIterable<string>) {
    if (typeof chunk !== "string") throw new TypeError("text source yielded a non-string chunk");
    held += chunk;
    let cut = lastBoundary(held);
    if (cut <= 0 && held.length > maxHeld) cut = safeCut(held, held.length - 1);
    if (cut > 0) {
      yield held.slice(0, cut);
      held = held.slice(cut);
    }
  }
  if (held) yield held;
}

/** Index just before the last whitespace run (so the whitespace starts the next piece, as BPE
 *  pre-tokenisers attach a leading space to the following word). */
function lastBoundary(s: string): number {
  for (let i = s.length - 1; i > 0; i--) if (/\s/.test(s[i]) && !/\s/.test(s[i - 1])) return i;
  return 0;
}

function safeCut(s: string, i: number): number {
  const code = s.charCodeAt(i - 1);
  return code >= 0xd800 && code <= 0xdbff ? i - 1 : i;
}
