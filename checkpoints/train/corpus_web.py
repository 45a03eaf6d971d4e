"""Extract plain English text from the World English Bible shipped by Debian's
`sword-text-web` package (public domain).  Reads the SWORD zText module
(.bzs block index + .bzz zlib blocks, OSIS XML markup), drops footnotes and
markup, maps typographic punctuation to ASCII and drops any remaining non-ASCII
characters, so every byte of the corpus is 0..127.

Usage: python3 corpus_web.py [out.txt]
"""
import os
import re
import struct
import sys
import zlib

MODULE = "/usr/share/sword/modules/texts/ztext/engWEB2015eb"

ASCII_MAP = {
    "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
    "\u2014": " - ", "\u2013": "-", "\u2026": "...", "\u00a0": " ",
}


def raw_blocks(module=MODULE):
    for testament in ("ot", "nt"):
        bzs = open(os.path.join(module, testament + ".bzs"), "rb").read()
        bzz = open(os.path.join(module, testament + ".bzz"), "rb").read()
        for i in range(len(bzs) // 12):
            off, size, _usize = struct.unpack("<III", bzs[i * 12:i * 12 + 12])
            yield zlib.decompress(bzz[off:off + size]).decode("utf-8")


def clean(osis):
    s = re.sub(r"<note\b.*?</note>", "", osis, flags=re.S)
    # paragraph / title boundaries become newlines
    s = re.sub(r"<div eID=[^>]*/>|</title>|<title\b[^>]*>|<lb\b[^>]*/>|<l\b[^>]*eID[^>]*/>", "\n", s)
    s = re.sub(r"<[^>]+>", "", s)
    for k, v in ASCII_MAP.items():
        s = s.replace(k, v)
    s = s.encode("ascii", "ignore").decode("ascii")
    s = re.sub(r"[ \t]+", " ", s)
    s = re.sub(r" *\n[ \n]*", "\n", s)
    return s


def corpus_text(module=MODULE):
    text = "".join(clean(b) for b in raw_blocks(module))
    return text.strip() + "\n"


if __name__ == "__main__":
    t = corpus_text()
    out = sys.argv[1] if len(sys.argv) > 1 else "web.txt"
    open(out, "w").write(t)
    print(f"{len(t)} bytes -> {out}")
