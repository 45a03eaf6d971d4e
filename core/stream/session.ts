// A Session is one stream through a model: its recurrent state, the logits after the last token,
// and the tokenizer. Everything that takes time is async, takes an AbortSignal, and leaves the
// session consistent when aborted (work stops at a block boundary; `position` says how far it got).
import { OptionError, ScanstreamError } from "../errors.ts";
import type { TextTokenizer } from "../formats/tokenizer.ts";
import { cloneState, type Model, type ModelState } from "../models/model.ts";
import { createRng, logprobOf, sample, type SamplingOptions } from "./sampling.ts";
import { decodeSnapshot, encodeSnapshot } from "./snapshot.ts";
import { safePieces, type TextSource } from "./text-chunks.ts";

export interface Piece {
  /** Text this token completes (valid UTF-8; "" while a character or a possible stop string is held). */
  text: string;
  token: number;
  /** log p(token) under the model's distribution (temperature 1, before top-k / top-p). */
  logprob: number;
}

export interface GenerateOptions extends SamplingOptions {
  maxTokens?: number;
  seed?: number;
  /** Stop when the generated text contains one of these; the stop string is not emitted. */
  stop?: string[];
  /** Stop at the tokenizer's end-of-text token (default true). */
  stopAtEos?: boolean;
  signal?: AbortSignal;
}

export interface FeedOptions {
  signal?: AbortSignal;
  /** Called after each block of tokens with the total consumed so far. */
  onProgress?: (p: { tokens: number; position: number }) => void;
  /** Tokens per model call (default 256). */
  blockTokens?: number;
}

export interface SessionContext {
  model: Model;
  tokenizer: TextTokenizer;
  /** Identity of the weights, written into snapshots. */
  modelHash: () => string;
}

export class AbortError extends ScanstreamError {}

const yieldToLoop = () => new Promise<void>((r) => setImmediate(r));

export class Session {
  private state: ModelState;
  private logits: Float32Array | null = null;
  /** Sampled tokens not yet run through the model (run lazily, so a finished generate costs no extra step). */
  private pending: number[] = [];

  constructor(private readonly ctx: SessionContext) {
    this.state = ctx.model.newState();
  }

  /** Tokens consumed so far (including generated ones). */
  get position(): number {
    return this.state.position + this.pending.length;
  }

  /** Run text (a string or any sync/async iterable of chunks) through the model. */
  async feed(input: TextSource, opts: FeedOptions = {}): Promise<void> {
    let tokens = 0;
    for await (const piece of safePieces(input)) {
      const ids = this.ctx.tokenizer.encode(piece);
      await this.feedIds(ids, { ...opts, onProgress: (p) => opts.onProgress?.({ tokens: tokens + p.tokens, position: p.position }) });
      tokens += ids.length;
    }
  }

  /** Run token ids through the model in blocks. */
  async feedIds(ids: ArrayLike<number>, opts: FeedOptions = {}): Promise<void> {
    const block = opts.blockTokens ?? 256;
    this.checkIds(ids);
    this.flushPending();
    for (let i = 0; i < ids.length; i += block) {
      throwIfAborted(opts.signal);
      const part = Array.prototype.slice.call(ids, i, i + block) as number[];
      this.logits = this.ctx.model.forward(part, this.state, "last");
      opts.onProgress?.({ tokens: Math.min(ids.length, i + block), position: this.state.position });
      if (ids.length > block) await yieldToLoop();
    }
  }

  /** Stream generated text. Feeds `prompt` first (it may be "" to continue from the current state). */
  async *generate(prompt: string, opts: GenerateOptions = {}): AsyncGenerator<Piece> {
    const { tokenizer } = this.ctx;
    const maxTokens = opts.maxTokens ?? 128;
    if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new OptionError(`expected a non-negative integer, got ${maxTokens}`, "maxTokens");
    if (opts.temperature !== undefined && !(opts.temperature >= 0)) throw new OptionError(`expected >= 0, got ${opts.temperature}`, "temperature");
    if (opts.topP !== undefined && !(opts.topP > 0 && opts.topP <= 1)) throw new OptionError(`expected in (0, 1], got ${opts.topP}`, "topP");
    if (prompt) await this.feed(prompt, { signal: opts.signal });
    this.flushPending();
    if (!this.logits) {
      if (tokenizer.eosId === null) throw new OptionError("the session is empty and the tokenizer has no end-of-text token to start from: give a prompt", "prompt");
      await this.feedIds([tokenizer.eosId]);
    }
    const rng = createRng(opts.seed ?? 0);
    const allowed = Math.min(this.ctx.model.config.vocab_rows, tokenizer.vocabSize);
    const decoder = tokenizer.streamDecoder();
    const stops = (opts.stop ?? []).filter((s) => s.length > 0);
    let held = ""; // text withheld because it may be the start of a stop string
    for (let n = 0; n < maxTokens; n++) {
      if (opts.signal?.aborted) return;
      this.flushPending();
      const logits = this.logits!;
      const token = sample(logits, allowed, opts, rng);
      const logprob = logprobOf(logits, token, allowed);
      this.pending.push(token);
      if (token === tokenizer.eosId && opts.stopAtEos !== false) break;
      held += decoder.push(token);
      const hit = firstStop(held, stops);
      if (hit >= 0) {
        yield { text: held.slice(0, hit), token, logprob };
        return;
      }
      const keep = stopPrefixLength(held, stops);
      yield { text: held.slice(0, held.length - keep), token, logprob };
      held = held.slice(held.length - keep);
      await yieldToLoop();
    }
    const rest = held + decoder.flush();
    if (rest) yield { text: rest, token: -1, logprob: 0 };
  }

  /** An independent copy of this session (the state is copied; weights are shared). */
  fork(): Session {
    const s = new Session(this.ctx);
    s.state = cloneState(this.state);
    s.logits = this.logits && this.logits.slice();
    s.pending = [...this.pending];
    return s;
  }

  /** Forget everything: back to the zero state. */
  reset(): void {
    this.state = this.ctx.model.newState();
    this.logits = null;
    this.pending = [];
  }

  /** The state as bytes (header, model hash, position, checksum); `restore` takes them back. */
  snapshot(): Uint8Array {
    return encodeSnapshot({ modelHash: this.ctx.modelHash(), state: this.state, pending: this.pending, lastLogits: this.logits });
  }

  restore(bytes: Uint8Array, what?: string): void {
    const s = decodeSnapshot(bytes, this.ctx.modelHash(), what);
    const fresh = this.ctx.model.newState();
    const ok = s.state.layers.length === fresh.layers.length &&
      s.state.layers.every((l, i) => l.conv.length === fresh.layers[i].conv.length && l.ssm.length === fresh.layers[i].ssm.length);
    if (!ok) throw new ScanstreamError(`${what ?? "snapshot"}: state shapes do not match this model`);
    this.state = s.state;
    this.pending = s.pending;
    this.logits = s.lastLogits;
  }

  /** Logits after the last consumed token (a copy), or null before any input. */
  lastLogits(): Float32Array | null {
    this.flushPending();
    return this.logits && this.logits.slice();
  }

  private flushPending(): void {
    if (this.pending.length === 0) return;
    const ids = this.pending;
    this.pending = [];
    this.logits = this.ctx.model.forward(ids, this.state, "last");
  }

  private checkIds(ids: ArrayLike<number>): void {
    const rows = this.ctx.model.config.vocab_rows;
    for (let i = 0; i < ids.length; i++)
      if (!Number.isInteger(ids[i]) || ids[i] < 0 || ids[i] >= rows)
        throw new OptionError(`token id ${ids[i]} at index ${i} is outside the model's ${rows} vocabulary rows`, "ids");
  }
}

function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw new AbortError("aborted");
}

function firstStop(text: string, stops: string[]): number {
  let best = -1;
  for (const s of stops) {
    const i = text.indexOf(s);
    if (i >= 0 && (best < 0 || i < best)) best = i;
  }
  return best;
}

/** Length of the longest suffix of `text` that is a proper prefix of some stop string. */
function stopPrefixLength(text: string, stops: string[]): number {
  let keep = 0;
  for (const s of stops)
    for (let k = Math.min(s.length - 1, text.length); k > keep; k--)
      if (text.endsWith(s.slice(0, k))) {
        keep = k;
        break;
      }
  return keep;
}
