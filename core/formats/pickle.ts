// A restricted unpickler: a data-only interpreter for the opcodes torch.save emits for a state dict
// (protocol 2, plus the framing/memo opcodes of protocols 4-5, which carry no behaviour). It never
// imports or calls anything: a GLOBAL is looked up in the caller's allow-list (`findGlobal`) and any
// other name is a CheckpointError naming it. REDUCE only calls the allow-list's own JS functions.
//
// Hostile input: the interpreter is a loop over the bytes (no recursion, no backward jumps), so it
// ends after at most one step per byte; every length is checked against the remaining bytes before
// anything is allocated; the memo is a Map (a huge index costs nothing) capped in size; MARK nesting,
// the stack and the number of containers built are capped, so memory stays proportional to the input. Values may alias or even contain themselves (via the memo): consumers
// must not walk them recursively.
import { CheckpointError } from "../errors.ts";

/** A Python tuple (kept distinct from a list, which is a plain array). */
export class PickleTuple {
  constructor(readonly items: readonly unknown[]) {}
}

/** A Python dict / OrderedDict with primitive keys. */
export class PickleDict {
  readonly map = new Map<string | number | boolean | null, unknown>();
}

/** A callable the allow-list hands out for an allowed GLOBAL (REDUCE applies it to its args tuple). */
export class PickleCallable {
  constructor(
    readonly qualname: string,
    readonly call: (args: readonly unknown[]) => unknown,
  ) {}
}

export interface UnpickleOptions {
  /** For error messages: the archive and the entry, e.g. "model.bin" / "archive/data.pkl". */
  file: string;
  entry?: string;
  /** The allow-list: the value for `module.name`, or undefined if the global is not allowed. */
  findGlobal(module: string, name: string): unknown;
  /** BINPERSID: turns a persistent id (torch: a storage tuple) into a value. */
  persistentLoad(pid: unknown): unknown;
  maxMarkDepth?: number;
  maxStack?: number;
  maxMemo?: number;
  /** Containers (tuples, lists, dicts, call results) one pickle may build; bounds memory per input byte. */
  maxObjects?: number;
}

/** A short description of a value for messages (never recursive, never huge). */
export function describePickled(v: unknown): string {
  if (v === null) return "None";
  if (v instanceof PickleTuple) return `tuple of ${v.items.length}`;
  if (v instanceof PickleDict) return `dict of ${v.map.size}`;
  if (v instanceof PickleCallable) return v.qualname;
  if (Array.isArray(v)) return `list of ${v.length}`;
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? v.slice(0, 40) + "…" : v);
  if (typeof v === "object") return v.constructor?.name ?? "object";
  return String(v);
}

export function unpickle(bytes: Uint8Array, opts: UnpickleOptions): unknown {
  const maxMarkDepth = opts.maxMarkDepth ?? 1000;
  const maxStack = opts.maxStack ?? 1 << 20;
  const maxMemo = opts.maxMemo ?? 1 << 21;
  const maxObjects = opts.maxObjects ?? 1 << 21;
  let objects = 0;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  const where = opts.entry ?? "pickle";

  let stack: unknown[] = [];
  const marks: unknown[][] = [];
  const memo = new Map<number, unknown>();
  let pos = 0;
  let op = 0;
  let opAt = 0;

  const fail = (msg: string): never => {
    throw new CheckpointError(`${where}: opcode 0x${op.toString(16).padStart(2, "0")} at byte ${opAt}: ${msg}`, opts.file);
  };
  const need = (n: number) => {
    if (pos + n > bytes.length) fail(`needs ${n} more bytes but the pickle ends (truncated)`);
  };
  const u8 = () => (need(1), bytes[pos++]);
  const u16 = () => (need(2), (pos += 2), view.getUint16(pos - 2, true));
  const u32 = () => (need(4), (pos += 4), view.getUint32(pos - 4, true));
  const push = (v: unknown) => {
    if (stack.length >= maxStack) fail(`stack deeper than ${maxStack}`);
    stack.push(v);
  };
  const pop = (): unknown => {
    if (stack.length === 0) fail("stack underflow");
    return stack.pop();
  };
  /** Pushes a newly built container, counting it against maxObjects. */
  const pushNew = (v: unknown) => {
    if (++objects > maxObjects) fail(`builds more than ${maxObjects} objects`);
    push(v);
  };
  const top = (): unknown => {
    if (stack.length === 0) fail("stack underflow");
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    if (marks.length === 0) fail("no MARK to pop to");
    const items = stack;
    stack = marks.pop()!;
    return items;
  };
  const text = (n: number): string => {
    need(n);
    try {
      return utf8.decode(bytes.subarray(pos, (pos += n)));
    } catch {
      return fail("string is not valid UTF-8");
    }
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0 || end - pos > 256) fail("GLOBAL name is not a short newline-terminated line");
    return text(end - pos + 1).slice(0, -1);
  };
  const global = (module: string, name: string): unknown => {
    const v = opts.findGlobal(module, name);
    if (v === undefined) {
      throw new CheckpointError(
        `${where} references the Python global ${module}.${name}, which is not allowed (only the tensor-rebuilding globals torch.save writes for a state dict are); refusing to load what may be a malicious pickle`,
        opts.file,
      );
    }
    return v;
  };
  const memoPut = (i: number, v: unknown) => {
    if (memo.size >= maxMemo && !memo.has(i)) fail(`memo larger than ${maxMemo} entries`);
    memo.set(i, v);
  };
  const memoGet = (i: number) => {
    if (!memo.has(i)) fail(`memo index ${i} was never stored`);
    push(memo.get(i));
  };
  const setItems = (target: unknown, kv: unknown[]) => {
    if (!(target instanceof PickleDict)) fail(`SETITEM(S) on ${describePickled(target)}, not a dict`);
    if (kv.length % 2) fail("odd number of items for SETITEMS");
    const d = target as PickleDict;
    for (let i = 0; i < kv.length; i += 2) {
      const k = kv[i];
      if (k !== null && typeof k !== "string" && typeof k !== "number" && typeof k !== "boolean") fail(`dict key ${describePickled(k)} is not a primitive`);
      d.map.set(k as string, kv[i + 1]);
    }
  };
  const appendItems = (target: unknown, items: unknown[]) => {
    if (!Array.isArray(target)) fail(`APPEND(S) on ${describePickled(target)}, not a list`);
    if ((target as unknown[]).length + items.length > maxStack) fail(`list longer than ${maxStack}`);
    for (const x of items) (target as unknown[]).push(x);
  };

  while (pos < bytes.length) {
    opAt = pos;
    op = bytes[pos++];
    switch (op) {
      case 0x80: { // PROTO
        const v = u8();
        if (v > 5) fail(`pickle protocol ${v} is newer than 5`);
        break;
      }
      case 0x95: // FRAME (protocol 4): a length hint, no behaviour
        need(8);
        pos += 8;
        break;
      case 0x2e: { // STOP
        const result = pop();
        if (marks.length) fail("STOP inside an unclosed MARK");
        return result;
      }
      case 0x28: // MARK: the current stack is set aside until TUPLE/SETITEMS/APPENDS pops back to it
        if (marks.length >= maxMarkDepth) fail(`MARKs nested deeper than ${maxMarkDepth}`);
        marks.push(stack);
        stack = [];
        break;
      case 0x7d: pushNew(new PickleDict()); break; // EMPTY_DICT
      case 0x5d: pushNew([]); break; // EMPTY_LIST
      case 0x29: pushNew(new PickleTuple([])); break; // EMPTY_TUPLE
      case 0x74: pushNew(new PickleTuple(popMark())); break; // TUPLE
      case 0x85: pushNew(new PickleTuple([pop()])); break; // TUPLE1
      case 0x86: { const b = pop(), a = pop(); pushNew(new PickleTuple([a, b])); break; } // TUPLE2
      case 0x87: { const c = pop(), b = pop(), a = pop(); pushNew(new PickleTuple([a, b, c])); break; } // TUPLE3
      case 0x4e: push(null); break; // NONE
      case 0x88: push(true); break; // NEWTRUE
      case 0x89: push(false); break; // NEWFALSE
      case 0x4b: push(u8()); break; // BININT1
      case 0x4d: push(u16()); break; // BININT2
      case 0x4a: need(4); push(view.getInt32(pos, true)); pos += 4; break; // BININT
      case 0x8a: { // LONG1: n-byte little-endian two's complement
        const n = u8();
        if (n > 8) fail(`${n}-byte integer is out of range`);
        need(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[pos + i]);
        if (n > 0 && bytes[pos + n - 1] & 0x80) v -= 1n << BigInt(8 * n);
        pos += n;
        if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) fail(`integer ${v} is out of range`);
        push(Number(v));
        break;
      }
      case 0x47: need(8); push(view.getFloat64(pos, false)); pos += 8; break; // BINFLOAT (big-endian)
      case 0x58: push(text(u32())); break; // BINUNICODE
      case 0x8c: push(text(u8())); break; // SHORT_BINUNICODE
      case 0x63: { const module = line(); push(global(module, line())); break; } // GLOBAL
      case 0x93: { // STACK_GLOBAL
        const name = pop(), module = pop();
        if (typeof module !== "string" || typeof name !== "string") fail("STACK_GLOBAL needs two strings");
        push(global(module as string, name as string));
        break;
      }
      case 0x71: memoPut(u8(), top()); break; // BINPUT
      case 0x72: memoPut(u32(), top()); break; // LONG_BINPUT
      case 0x94: memoPut(memo.size, top()); break; // MEMOIZE
      case 0x68: memoGet(u8()); break; // BINGET
      case 0x6a: memoGet(u32()); break; // LONG_BINGET
      case 0x52: { // REDUCE: callable(*args), callable from the allow-list only
        const args = pop(), f = pop();
        if (!(f instanceof PickleCallable)) fail(`REDUCE on ${describePickled(f)}, which is not callable`);
        if (!(args instanceof PickleTuple)) fail(`REDUCE arguments are ${describePickled(args)}, not a tuple`);
        pushNew((f as PickleCallable).call((args as PickleTuple).items));
        break;
      }
      case 0x62: { // BUILD: state for the object below; only dicts (the state dict's _metadata) are allowed
        pop();
        if (!(top() instanceof PickleDict)) fail(`BUILD on ${describePickled(top())} is not supported`);
        break;
      }
      case 0x73: { const v = pop(), k = pop(); setItems(top(), [k, v]); break; } // SETITEM
      case 0x75: { const kv = popMark(); setItems(top(), kv); break; } // SETITEMS
      case 0x61: { const v = pop(); appendItems(top(), [v]); break; } // APPEND
      case 0x65: { const items = popMark(); appendItems(top(), items); break; } // APPENDS
      case 0x51: push(opts.persistentLoad(pop())); break; // BINPERSID
      default:
        fail("opcode not supported by the restricted unpickler (not part of a torch.save state dict)");
    }
  }
  return fail("pickle ended without STOP (truncated)");
}
