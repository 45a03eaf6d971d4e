// Just enough ZIP to read torch.save archives: the end-of-central-directory record (ZIP64 too, for
// files over 4 GB), the central directory, and each entry's local header to find where its bytes
// start. torch.save stores entries uncompressed (method 0); anything else is refused with a clear
// error rather than inflated. Nothing is read beyond the directory until an entry is asked for.
import { CheckpointError } from "../errors.ts";
import { readU64, viewOf, type ByteSource } from "./bytes.ts";

const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_EOCD64_LOCATOR = 0x07064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;
const U16_MAX = 0xffff;
const U32_MAX = 0xffffffff;

export interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

export class ZipArchive {
  readonly entries = new Map<string, ZipEntry>();

  constructor(readonly src: ByteSource) {
    const file = src.file;
    const fail = (msg: string): never => {
      throw new CheckpointError(`ZIP: ${msg}`, file);
    };

    // The EOCD record (22 bytes + comment up to 64 KiB) sits at the end; scan backwards for it.
    const tailLen = Math.min(src.size, 22 + U16_MAX);
    const tailStart = src.size - tailLen;
    const tail = src.read(tailStart, tailLen, "ZIP end of central directory");
    const tv = viewOf(tail);
    let at = -1;
    for (let i = tailLen - 22; i >= 0; i--) {
      if (tv.getUint32(i, true) === SIG_EOCD && i + 22 + tv.getUint16(i + 20, true) <= tailLen) {
        at = i;
        break;
      }
    }
    if (at < 0) fail("no end-of-central-directory record (truncated, or not a ZIP file)");
    let count = tv.getUint16(at + 10, true);
    let cdSize = tv.getUint32(at + 12, true);
    let cdOffset = tv.getUint32(at + 16, true);
    if (tv.getUint16(at + 4, true) !== 0 && tv.getUint16(at + 4, true) !== U16_MAX) fail("multi-disk archives are not supported");

    // ZIP64: a locator 20 bytes before the EOCD points at the 64-bit EOCD record.
    const locAt = tailStart + at - 20;
    if (locAt >= 0) {
      const loc = viewOf(src.read(locAt, 20, "ZIP64 locator"));
      if (loc.getUint32(0, true) === SIG_EOCD64_LOCATOR) {
        const recAt = readU64(loc, 8, file, "ZIP64 record offset");
        const rec = viewOf(src.read(recAt, 56, "ZIP64 end of central directory"));
        if (rec.getUint32(0, true) !== SIG_EOCD64) fail("ZIP64 locator does not point at a ZIP64 end-of-central-directory record");
        count = readU64(rec, 32, file, "ZIP64 entry count");
        cdSize = readU64(rec, 40, file, "ZIP64 central directory size");
        cdOffset = readU64(rec, 48, file, "ZIP64 central directory offset");
      }
    }
    if (cdOffset + cdSize > src.size) fail(`central directory (${cdSize} bytes at ${cdOffset}) lies past the end of the file (${src.size} bytes)`);
    if (count * 46 > cdSize) fail(`${count} entries cannot fit in a ${cdSize}-byte central directory`);

    const cd = src.read(cdOffset, cdSize, "ZIP central directory");
    const v = viewOf(cd);
    const names = new TextDecoder("utf-8");
    let p = 0;
    for (let k = 0; k < count; k++) {
      if (p + 46 > cdSize || v.getUint32(p, true) !== SIG_CENTRAL) fail(`central directory entry ${k} is corrupt`);
      const flags = v.getUint16(p + 8, true);
      const method = v.getUint16(p + 10, true);
      let compressedSize = v.getUint32(p + 20, true);
      let size = v.getUint32(p + 24, true);
      const nameLen = v.getUint16(p + 28, true);
      const extraLen = v.getUint16(p + 30, true);
      const commentLen = v.getUint16(p + 32, true);
      let localHeaderOffset = v.getUint32(p + 42, true);
      const end = p + 46 + nameLen + extraLen + commentLen;
      if (end > cdSize) fail(`central directory entry ${k} runs past the directory`);
      const name = names.decode(cd.subarray(p + 46, p + 46 + nameLen));

      // ZIP64 extended information (extra id 1): 64-bit values for the fields that hold 0xFFFFFFFF, in order.
      let e = p + 46 + nameLen;
      const extraEnd = e + extraLen;
      while (e + 4 <= extraEnd) {
        const id = v.getUint16(e, true);
        const len = v.getUint16(e + 2, true);
        if (e + 4 + len > extraEnd) fail(`extra field of entry ${name} runs past its end`);
        if (id === 1) {
          let q = e + 4;
          const next = (what: string) => {
            if (q + 8 > e + 4 + len) fail(`ZIP64 extra field of entry ${name} is too short`);
            const x = readU64(v, q, file, what);
            q += 8;
            return x;
          };
          if (size === U32_MAX) size = next("ZIP64 size");
          if (compressedSize === U32_MAX) compressedSize = next("ZIP64 compressed size");
          if (localHeaderOffset === U32_MAX) localHeaderOffset = next("ZIP64 local header offset");
        }
        e += 4 + len;
      }
      if (this.entries.has(name)) fail(`entry ${name} appears twice`);
      this.entries.set(name, { name, method, flags, compressedSize, size, localHeaderOffset });
      p = end;
    }
  }

  /** Where `entry`'s stored bytes are: validates its local header, method and bounds. */
  dataRange(entry: ZipEntry): { offset: number; length: number } {
    const file = this.src.file;
    const fail = (msg: string): never => {
      throw new CheckpointError(`ZIP entry ${entry.name}: ${msg}`, file);
    };
    if (entry.flags & 1) fail("is encrypted");
    if (entry.method !== 0) {
      fail(`is compressed (method ${entry.method}); scanstream reads only stored entries, as torch.save writes them (re-save it with torch.save, or convert to safetensors)`);
    }
    if (entry.compressedSize !== entry.size) fail(`stored entry has compressed size ${entry.compressedSize} != size ${entry.size}`);
    const local = viewOf(this.src.read(entry.localHeaderOffset, 30, `local header of ${entry.name}`));
    if (local.getUint32(0, true) !== SIG_LOCAL) fail("local header signature missing");
    const offset = entry.localHeaderOffset + 30 + local.getUint16(26, true) + local.getUint16(28, true);
    if (offset + entry.size > this.src.size) fail(`data (${entry.size} bytes at ${offset}) lies past the end of the file (${this.src.size} bytes)`);
    return { offset, length: entry.size };
  }

  /** The whole entry, read into memory (used for the small ones: data.pkl, byteorder). */
  read(entry: ZipEntry): Uint8Array {
    const { offset, length } = this.dataRange(entry);
    return this.src.read(offset, length, `ZIP entry ${entry.name}`);
  }
}
