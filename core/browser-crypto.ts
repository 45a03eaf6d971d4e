// sha256 for the browser build: the browser bundle maps `node:crypto` here (web/build.ts), so that
// Session and snapshots hash exactly as in Node. Only what scanstream calls is provided: synchronous
// createHash("sha256") with update (strings as UTF-8), copy and digest. Web Crypto's digest is async.
import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";

export interface Sha256 {
  update(data: string | Uint8Array): Sha256;
  copy(): Sha256;
  digest(): Uint8Array;
  digest(encoding: "hex"): string;
}

type Noble = ReturnType<typeof nobleSha256.create>;
const utf8 = new TextEncoder();

function wrap(h: Noble): Sha256 {
  const self: Sha256 = {
    update(data) {
      h.update(typeof data === "string" ? utf8.encode(data) : data);
      return self;
    },
    copy: () => wrap(h.clone()),
    digest: ((encoding?: "hex") => {
      const d = h.digest();
      return encoding === "hex" ? bytesToHex(d) : d;
    }) as Sha256["digest"],
  };
  return self;
}

export function sha256(): Sha256 {
  return wrap(nobleSha256.create());
}

/** node:crypto's createHash, for "sha256" only (anything else is a bug in the bundle). */
export function createHash(algorithm: string): Sha256 {
  if (algorithm !== "sha256") throw new Error(`browser build: createHash("${algorithm}") is not provided (sha256 only)`);
  return sha256();
}

export type Hash = Sha256;
