// A Session is one stream through a model: its recurrent state, the logits after the last token,
// and the tokenizer. Everything that takes time is async, takes an AbortSignal, and leaves the
// session consistent when aborted (work stops at a block boundary; `position` says how far it got).
//
// Long context (docs/long-context.md): a session runs a long-context plan (the mitigation chosen with
// `model.session({ mitigation })`, applied inside every layer's scan) and reports per-layer state-norm
// statistics (`stats()`, read progress), warning when they leave the range seen within the training
// length. `read(source)` streams a document of any length in constant memory; `ask(question, { jrt })`
// answers from the state after reading, re-reading re-readable sources for JRT prompting.
import { createHash, type Hash } from "node:crypto";
import { OptionError, ScanstreamError, SnapshotError } from "../errors.ts";
import type { TextTokenizer } from "../formats/tokenizer.ts";
import {
  describePlan, layerStats, resolvePlan, type LayerStats, type LongContextOptions, type LongContextPlan,
} from "../models/long-context.ts";
import type { BatchDecoder, BatchStates } from "../models/mamba2-batch.ts";
import { cloneState, type LogitsMode, type Model, type ModelState } from "../models/model.ts";
import { DEFAULT_CHECKPOINT_EVERY, Journal, type BackendSwitch, type ModelFailover } from "./fallback.ts";
import { createRng, logprobOf, sample, type SamplingOptions } from "./sampling.ts";
import { decodeSnapshot, encodeSnapshot } from "./snapshot.ts";
import {
  describeSource, isFileSource, isReReadable, NotReReadableError, openText, type ReadSource,
} from "./sources.ts";
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
  /**
   * Receives the logits of every token ([count, vocab_rows] for ids[from .. from + count)), for
   * scoring; without it only the last token's logits are computed.
   */
  onLogits?: (logits: Float32Array, from: number, count: number) => void;
}

export interface SessionContext {
  model: Model;
  tokenizer: TextTokenizer;
  /** Identity of the weights, written into snapshots. */
  modelHash: () => string;
  /** GPU failure fallback shared by the model's sessions (fallback.ts); `model` is then its current model. */
  failover?: ModelFailover;
  /** Batched decode with resident states (webgpu, Mamba-2: core/models/mamba2-batch.ts), if available. */
  batch?: BatchDecoder | null;
}

/** A piece of Session.generateBatch: `index` is the session's place in the array given. */
export interface BatchPiece extends Piece {
  index: number;
}

export interface GenerateBatchOptions extends GenerateOptions {
  /** One prompt per session, fed first (each session alone); "" continues from the session's state. */
  prompts?: string[];
}

export class AbortError extends ScanstreamError {}

/** Options of `model.session()`: the long-context plan (mitigation and its parameters) and a warning hook. */
export interface SessionOptions extends LongContextOptions {
  /** Called once per layer when its state norms leave the range seen within the training length. */
  onWarning?: (w: CollapseWarning) => void;
  /**
   * On a GPU backend: tokens between host copies of the state kept for the failure fallback (default
   * 64; a copy is also taken after every feed call). A GPU failure replays at most this many tokens.
   */
  checkpointEvery?: number;
}

/** A layer's state left the range seen within the training length (a sign of state collapse). */
export interface CollapseWarning {
  layer: number;
  /** Head (Mamba-2) or channel (Mamba-1) with the largest excess. */
  unit: number;
  /** Its state norm / its largest norm within the training length. */
  ratio: number;
  position: number;
  message: string;
}

export interface SessionStats {
  position: number;
  trainLength: number;
  beyondTrainLength: boolean;
  /** describePlan(plan), e.g. "auto: window r=1024 (1025..2048 tokens) from token 2048". */
  mitigation: string;
  plan: LongContextPlan;
  /** Per-layer state-norm statistics at the latest probe (every plan.every tokens). */
  layers: LayerStats[];
  /** Largest layers[i].ratio. */
  maxRatio: number;
  warnings: CollapseWarning[];
  /** The backend that runs this session's model now ("webgpu", "wasm", ...), and its detail. */
  backend: string;
  backendDetail: string;
  /** Backend changes of the model (GPU start-up failure, GPU failure mid-stream), oldest first. */
  backendSwitches: BackendSwitch[];
}

export interface ReadProgress {
  /** Tokens read by this call (all copies). */
  tokens: number;
  position: number;
  /** Characters of the source consumed in the current copy (skipped ones included on resume). */
  chars: number;
  /** UTF-8 bytes consumed in the current copy, and the source's size when known (files, strings). */
  bytes: number;
  totalBytes?: number;
  /** Which copy of the source is being read (JRT re-reads count from 2) and how many there will be. */
  copy: number;
  copies: number;
  elapsedMs: number;
  tokensPerSecond: number;
  /** Estimated seconds left for this copy, when the size is known. */
  etaSeconds?: number;
  stats: SessionStats;
  /** Warnings raised since the previous progress report. */
  warnings: CollapseWarning[];
}

export interface ReadOptions {
  signal?: AbortSignal;
  /** Called every `pieceChars` characters (at points where snapshot() can resume the read exactly). */
  onProgress?: (p: ReadProgress) => void;
  /** Characters fed at once, cut at whitespace (default 4096): the grain of progress, abort and resume. */
  pieceChars?: number;
  /**
   * Continue an interrupted read after `restore()`: the first characters of the source that the
   * snapshot had consumed are skipped (and checked against its hash of them) instead of being fed.
   * If that read had finished, this only checks the source and makes it the document for ask().
   */
  resume?: boolean;
}

export interface AskOptions extends GenerateOptions {
  /** How many times the context is shown (JRT, "just read twice"; default 1). */
  jrt?: number;
  /**
   * "cached" (default): context, then (copySeparator + context) x (jrt - 1), then questionSeparator +
   * question + answerPrefix; the state after the copies is kept, so further questions do not re-read.
   * "question-first": the released JRT-Prompt layout: question + " " + context copies + " " +
   * answerPrefix (or questionSeparator + question when answerPrefix is empty); re-read per question.
   */
  layout?: "cached" | "question-first";
  /** Between copies of the context (default "\n", as in the JRT paper). */
  copySeparator?: string;
  /** Between the context and the question (default "\n"). */
  questionSeparator?: string;
  /** Appended after the question, e.g. "Answer:" (default ""). */
  answerPrefix?: string;
  /** Read this source first (as `read(source)`), unless the session already read it. */
  source?: ReadSource;
  onProgress?: (p: ReadProgress) => void;
}

export interface Answer {
  text: string;
  tokens: number[];
  /** Sum of the answer tokens' log-probabilities. */
  logprob: number;
  /** Tokens fed for this question (prompt, and re-read copies not cached before). */
  promptTokens: number;
}

/** Where a read of a document stands: written into snapshots so `read(..., { resume })` can go on. */
export interface ReadCursor {
  /** UTF-16 characters of the source consumed. */
  chars: number;
  /** sha256 (hex) of those characters' UTF-8 bytes. */
  sha256: string;
  /** Session position when the read started. */
  startPosition: number;
  /** The read finished (the whole source was consumed). */
  done: boolean;
}

/** The document last read, for ask(): the source and the states after 1..k copies. */
interface DocCache {
  source: ReadSource;
  reReadable: boolean;
  /** State before the document (for the question-first layout); null after a resume from a snapshot. */
  before: Session | null;
  /** copies[k] = session after k copies (copies[1] = right after read()). */
  copies: Map<number, Session>;
}

/** Sub-pieces fed at once by read(): about this many characters, cut at whitespace. */
const READ_PIECE = 4096;

const yieldToLoop = () => new Promise<void>((r) => setImmediate(r));

export class Session {
  private state: ModelState;
  private logits: Float32Array | null = null;
  /** The array "last"-mode runs write their logits into (reused: decode allocates no logits). */
  private logitsOut: Float32Array | null = null;
  /** Sampled tokens not yet run through the model (run lazily, so a finished generate costs no extra step). */
  private pending: number[] = [];
  private plan: LongContextPlan;
  private warned = new Set<number>();
  private warnings: CollapseWarning[] = [];
  private doc: DocCache | null = null;
  private cursor: ReadCursor | null = null;
  /** Host copy of the state + ids since, for the GPU failure fallback (null when none can happen). */
  private journal: Journal | null = null;
  /** The failover generation this session's state belongs to. */
  private generation = 0;
  /** Set while generateBatch keeps this session's state on the device (the host arrays are then stale). */
  private resident: { pool: BatchStates; slot: number } | null = null;

  constructor(private readonly ctx: SessionContext, private readonly opts: SessionOptions = {}) {
    const every = opts.checkpointEvery ?? DEFAULT_CHECKPOINT_EVERY;
    if (!(Number.isInteger(every) && every > 0)) throw new OptionError(`expected a positive integer, got ${every}`, "checkpointEvery");
    this.plan = resolvePlan(ctx.model.config, opts);
    this.state = ctx.model.newState();
    this.state.plan = this.plan;
    this.startJournal();
  }

  /** The long-context plan this session runs (mitigation, parameters, training length). */
  get mitigation(): LongContextPlan {
    return structuredClone(this.plan);
  }

  /** Where the last read() stands (null if none), as written into snapshots. */
  get readCursor(): ReadCursor | null {
    return this.cursor && { ...this.cursor };
  }

  /** Per-layer state-norm statistics at the latest probe, and the collapse warnings so far. */
  stats(): SessionStats {
    const layers = this.state.layers.map((l, i) => layerStats(i, l.aux));
    const position = this.state.position;
    return {
      position,
      trainLength: this.plan.trainLength,
      beyondTrainLength: position > this.plan.trainLength,
      mitigation: describePlan(this.plan),
      plan: structuredClone(this.plan),
      layers,
      maxRatio: layers.reduce((m, l) => Math.max(m, l.ratio), 0),
      warnings: [...this.warnings],
      backend: this.ctx.model.backend.name,
      backendDetail: this.ctx.model.backend.detail,
      backendSwitches: this.ctx.failover?.switches ?? [],
    };
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
    this.checkNotResident();
    this.checkIds(ids);
    this.flushPending();
    for (let i = 0; i < ids.length; i += block) {
      throwIfAborted(opts.signal);
      const part = Array.prototype.slice.call(ids, i, i + block) as number[];
      if (opts.onLogits) {
        const all = this.run(part, "all", "prefill")!;
        const V = this.ctx.model.config.vocab_rows;
        this.logits = all.slice((part.length - 1) * V);
        opts.onLogits(all, i, part.length);
      } else this.logits = this.run(part, "last", "prefill");
      this.checkCollapse();
      opts.onProgress?.({ tokens: Math.min(ids.length, i + block), position: this.state.position });
      if (ids.length > block) await yieldToLoop();
    }
    if (ids.length) this.journal?.mark(this.state);
  }

  /** Stream generated text. Feeds `prompt` first (it may be "" to continue from the current state). */
  async *generate(prompt: string, opts: GenerateOptions = {}): AsyncGenerator<Piece> {
    const { tokenizer } = this.ctx;
    const maxTokens = checkGenerateOptions(opts);
    if (prompt) await this.feed(prompt, { signal: opts.signal });
    await this.startLogits();
    if (this.residentDecode()) {
      // webgpu + Mamba-2: the state stays on the GPU between tokens (a batch of one session)
      for await (const { index: _, ...piece } of Session.generateBatch([this], { ...opts, prompts: undefined })) yield piece;
      return;
    }
    const rng = createRng(opts.seed ?? 0);
    const allowed = Math.min(this.ctx.model.config.vocab_rows, tokenizer.vocabSize);
    const out = new PieceStream(tokenizer, opts);
    for (let n = 0; n < maxTokens; n++) {
      if (opts.signal?.aborted) return;
      this.flushPending();
      const logits = this.logits!;
      const token = sample(logits, allowed, opts, rng);
      const logprob = logprobOf(logits, token, allowed);
      this.pending.push(token);
      const { piece, end } = out.push(token, logprob);
      if (end === "eos") break;
      yield piece!;
      if (end === "stop") return;
      await yieldToLoop();
    }
    const rest = out.rest();
    if (rest) yield rest;
  }

  /**
   * Generates from several sessions of one model together: each decode step runs all of them at
   * once. On the webgpu backend with a Mamba-2 model their states stay on the GPU for the whole call
   * and a step is one submission for all of them (docs/gpu.md); elsewhere they are decoded one after
   * the other. Each session produces the tokens its own generate() would (same options and seed);
   * pieces come in session order within a step, tagged with the session's index. While it runs,
   * snapshot() / fork() of a member read its state back; feeding it is an error.
   */
  static async *generateBatch(sessions: Session[], opts: GenerateBatchOptions = {}): AsyncGenerator<BatchPiece> {
    const maxTokens = checkGenerateOptions(opts);
    if (!Array.isArray(sessions) || sessions.length === 0 || !sessions.every((x) => x instanceof Session))
      throw new OptionError("expected a non-empty array of sessions", "sessions");
    if (new Set(sessions).size !== sessions.length) throw new OptionError("a session appears twice", "sessions");
    const ctx = sessions[0].ctx;
    if (sessions.some((x) => x.ctx.model !== ctx.model)) throw new OptionError("the sessions must belong to one loaded model", "sessions");
    if (sessions.some((x) => x.resident)) throw new OptionError("a session is in another running generateBatch", "sessions");
    const prompts = opts.prompts;
    if (prompts !== undefined && (!Array.isArray(prompts) || prompts.length !== sessions.length))
      throw new OptionError(`expected one prompt per session (${sessions.length})`, "prompts");
    // prompts: each session alone (the chunked scan), then every session has the logits of its last token
    for (let i = 0; i < sessions.length; i++) {
      if (prompts?.[i]) await sessions[i].feed(prompts[i], { signal: opts.signal });
      await sessions[i].startLogits();
    }
    const { tokenizer } = ctx;
    const allowed = Math.min(ctx.model.config.vocab_rows, tokenizer.vocabSize);
    const rngs = sessions.map(() => createRng(opts.seed ?? 0));
    const outs = sessions.map(() => new PieceStream(tokenizer, opts));
    let active = sessions.map((_, i) => i);
    const dec = ctx.batch;
    let pool: BatchStates | null = null;
    try {
      if (dec && sessions.every((x) => x.residentDecode() && x.ctx.batch === dec)) {
        pool = dec.alloc(sessions.length);
        for (let i = 0; i < sessions.length; i++) {
          pool.write(i, sessions[i].state);
          sessions[i].resident = { pool, slot: i };
        }
      }
      for (let n = 0; n < maxTokens && active.length; n++) {
        if (opts.signal?.aborted) return;
        Session.step(sessions, active);
        const still: number[] = [];
        for (const i of active) {
          const x = sessions[i];
          const token = sample(x.logits!, allowed, opts, rngs[i]);
          const logprob = logprobOf(x.logits!, token, allowed);
          x.pending.push(token);
          const { piece, end } = outs[i].push(token, logprob);
          if (piece) yield { ...piece, index: i };
          if (end === null) still.push(i);
          else if (end === "eos") {
            const rest = outs[i].rest();
            if (rest) yield { ...rest, index: i };
          }
        }
        active = still;
        await yieldToLoop();
      }
      for (const i of active) {
        const rest = outs[i].rest();
        if (rest) yield { ...rest, index: i };
      }
    } finally {
      if (pool) {
        for (const x of sessions) {
          try {
            x.leaveBatch();
          } catch {
            // the device failed and no fallback is armed: the error that did it is on its way up
            x.resident = null;
          }
        }
        pool.free();
      }
    }
  }

  /** Whether this session can decode with its state resident on the device (Mamba-2 on webgpu, no mitigation: long-context plans run around the per-op scan). */
  private residentDecode(): boolean {
    const dec = this.ctx.batch;
    return !!dec && dec.model === this.ctx.model && this.plan.kind === "none";
  }

  /** Runs the pending token of each active session: one batched step for those resident on the device. */
  private static step(sessions: Session[], active: number[]): void {
    const todo = active.filter((i) => sessions[i].pending.length > 0);
    const res = todo.filter((i) => sessions[i].resident);
    if (res.length) {
      const first = sessions[res[0]];
      const pool = first.resident!.pool;
      let logits: Float32Array | null = null;
      try {
        logits = pool.step(res.map((i) => sessions[i].pending[0]), res.map((i) => sessions[i].resident!.slot));
      } catch (e) {
        const fo = first.ctx.failover;
        if (!fo || !fo.canRecover(e)) throw e;
        // the device failed: every member rebuilds its state on the standby from its journal
        fo.switchAway(e, first.state.position, "decode");
        for (const x of sessions)
          if (x.resident) {
            x.resident = null;
            x.recover();
          }
      }
      if (logits) {
        const V = first.ctx.model.config.vocab_rows;
        res.forEach((i, b) => {
          const x = sessions[i];
          const ids = x.pending;
          x.pending = [];
          x.state.position += 1;
          x.logits = logits!.slice(b * V, (b + 1) * V);
          x.journal?.record(ids, () => x.syncState());
        });
      }
    }
    for (const i of todo) if (!sessions[i].resident) sessions[i].flushPending();
  }

  /** The host state, read back from the device first while the session is in a batch. */
  private syncState(): ModelState {
    if (this.resident) this.resident.pool.read(this.resident.slot, this.state);
    return this.state;
  }

  /** Ends residency: the state comes back to the host arrays. */
  private leaveBatch(): void {
    if (!this.resident) return;
    this.syncState();
    this.resident = null;
  }

  /** Runs pending tokens; an empty session starts from the end-of-text token. */
  private async startLogits(): Promise<void> {
    this.flushPending();
    if (!this.logits) {
      if (this.ctx.tokenizer.eosId === null) throw new OptionError("the session is empty and the tokenizer has no end-of-text token to start from: give a prompt", "prompt");
      await this.feedIds([this.ctx.tokenizer.eosId]);
    }
  }

  /** An independent copy of this session (the state is copied; weights are shared). */
  fork(): Session {
    const s = new Session(this.ctx, this.opts);
    s.plan = this.plan;
    s.state = cloneState(this.syncState());
    s.logits = this.logits && this.logits.slice();
    s.pending = [...this.pending];
    s.warned = new Set(this.warned);
    s.warnings = [...this.warnings];
    s.doc = this.doc;
    s.cursor = this.cursor && { ...this.cursor };
    s.journal = this.journal && this.journal.copy();
    s.generation = this.generation;
    return s;
  }

  /** Forget everything: back to the zero state (the long-context plan stays). */
  reset(): void {
    this.checkNotResident();
    this.state = this.ctx.model.newState();
    this.state.plan = this.plan;
    this.logits = null;
    this.pending = [];
    this.warned.clear();
    this.warnings = [];
    this.doc = null;
    this.cursor = null;
    this.startJournal();
  }

  /** The state as bytes (header, model hash, position, plan, read cursor, checksum); `restore` takes them back. */
  snapshot(): Uint8Array {
    return encodeSnapshot({
      modelHash: this.ctx.modelHash(), state: this.syncState(), pending: this.pending, lastLogits: this.logits,
      ...(this.cursor ? { meta: { read: { ...this.cursor } } } : {}),
    });
  }

  /**
   * Takes back a snapshot of this model. The snapshot's long-context plan (mitigation) replaces the
   * session's, since its state was computed under it; a version-1 snapshot keeps the session's plan.
   */
  restore(bytes: Uint8Array, what?: string): void {
    this.checkNotResident();
    const s = decodeSnapshot(bytes, this.ctx.modelHash(), what);
    const fresh = this.ctx.model.newState();
    const ok = s.state.layers.length === fresh.layers.length &&
      s.state.layers.every((l, i) => l.conv.length === fresh.layers[i].conv.length && l.ssm.length === fresh.layers[i].ssm.length);
    if (!ok) throw new SnapshotError(`${what ?? "snapshot"}: state shapes do not match this model`);
    if (s.state.plan) this.plan = s.state.plan;
    else s.state.plan = this.plan;
    this.state = s.state;
    this.pending = s.pending;
    this.logits = s.lastLogits;
    this.warned.clear();
    this.warnings = [];
    this.doc = null;
    const read = (s.meta as { read?: ReadCursor } | undefined)?.read;
    this.cursor = read && Number.isInteger(read.chars) && typeof read.sha256 === "string" ? { ...read } : null;
    this.startJournal();
  }

  /**
   * Read a document through the model in constant memory: a string, fromFile(path), a function
   * returning a fresh stream, or any (async) iterable / Node stream / web ReadableStream of text or
   * bytes. Afterwards `ask()` answers questions about it. On abort it stops at a point where
   * `snapshot()` can resume exactly, and throws AbortError.
   */
  async read(source: ReadSource, opts: ReadOptions = {}): Promise<void> {
    let skip: { chars: number; sha256: string } | null = null;
    if (opts.resume) {
      if (!this.cursor) throw new OptionError("nothing to resume: restore a snapshot taken during a read first", "resume");
      skip = { chars: this.cursor.chars, sha256: this.cursor.sha256 };
    }
    const startPosition = skip ? this.cursor!.startPosition : this.position;
    const before = skip ? (startPosition === 0 ? new Session(this.ctx, this.opts) : null) : this.fork();
    if (before && skip) {
      before.plan = this.plan;
      before.state.plan = this.plan;
    }
    this.doc = null;
    const started = performance.now();
    const counters = { tokens: 0 };
    if (opts.pieceChars !== undefined && !(Number.isInteger(opts.pieceChars) && opts.pieceChars > 0)) throw new OptionError(`expected a positive integer, got ${opts.pieceChars}`, "pieceChars");
    await this.consume(source, { ...opts, copy: 1, copies: 1, skip, startPosition, started, counters });
    this.doc = { source, reReadable: isReReadable(source), before, copies: new Map([[1, this.fork()]]) };
  }

  /**
   * Answer a question about the document last read (or `opts.source`), from a fork of the state after
   * reading: the session itself is not changed. With `jrt` > 1 the context is shown jrt times (JRT
   * prompting, see AskOptions.layout); a one-shot stream cannot be shown twice and is a NotReReadableError.
   * Defaults follow the JRT paper: greedy, at most 48 tokens, stop at a newline.
   */
  async ask(question: string, opts: AskOptions = {}): Promise<Answer> {
    if (typeof question !== "string") throw new OptionError(`expected a string, got ${typeof question}`, "question");
    const jrt = opts.jrt ?? 1;
    if (!Number.isInteger(jrt) || jrt < 1) throw new OptionError(`expected a positive integer, got ${jrt}`, "jrt");
    const layout = opts.layout ?? "cached";
    if (layout !== "cached" && layout !== "question-first") throw new OptionError(`expected "cached" or "question-first", got "${layout}"`, "layout");
    const copySep = opts.copySeparator ?? "\n";
    const qSep = opts.questionSeparator ?? "\n";
    const answerPrefix = opts.answerPrefix ?? "";
    const needsReRead = jrt > 1 || layout === "question-first";
    if (opts.source !== undefined && (!this.doc || this.doc.source !== opts.source)) {
      if (needsReRead && !isReReadable(opts.source)) throw new NotReReadableError(Math.max(jrt, 2));
      await this.read(opts.source, { signal: opts.signal, onProgress: opts.onProgress });
    }
    const doc = this.doc;
    if (needsReRead && !doc) throw new OptionError(`jrt ${jrt} / layout ${layout} re-reads the context: call read(source) first or pass { source }`, "jrt");
    if (needsReRead && !doc!.reReadable) throw new NotReReadableError(Math.max(jrt, 2));
    const started = performance.now();
    const counters = { tokens: 0 };
    const ro = { signal: opts.signal, onProgress: opts.onProgress, started, counters, copies: jrt, skip: null, startPosition: 0 };
    let s: Session;
    let prompt: string;
    if (!doc) {
      s = this.fork();
      prompt = question + answerPrefix;
    } else if (layout === "cached") {
      let k = 1;
      for (let j = jrt; j >= 1; j--)
        if (doc.copies.has(j)) {
          k = j;
          break;
        }
      let cur = doc.copies.get(k)!;
      while (k < jrt) {
        cur = cur.fork();
        await cur.feed(copySep, { signal: opts.signal });
        counters.tokens += this.ctx.tokenizer.encode(copySep).length;
        await cur.consume(doc.source, { ...ro, copy: ++k });
        doc.copies.set(k, cur.fork());
      }
      s = cur.fork();
      prompt = qSep + question + answerPrefix;
    } else {
      if (!doc.before) throw new OptionError("the question-first layout needs the state before the document, which a resumed read does not have: use layout \"cached\"", "layout");
      s = doc.before.fork();
      await s.feed(question + " ", { signal: opts.signal });
      counters.tokens += this.ctx.tokenizer.encode(question + " ").length;
      for (let k = 1; k <= jrt; k++) {
        if (k > 1) {
          await s.feed(copySep, { signal: opts.signal });
          counters.tokens += this.ctx.tokenizer.encode(copySep).length;
        }
        await s.consume(doc.source, { ...ro, copy: k });
      }
      prompt = answerPrefix ? " " + answerPrefix : qSep + question;
    }
    const tokens: number[] = [];
    let text = "";
    let logprob = 0;
    for await (const p of s.generate(prompt, { maxTokens: 48, temperature: 0, stop: ["\n"], ...opts })) {
      text += p.text;
      if (p.token >= 0) {
        tokens.push(p.token);
        logprob += p.logprob;
      }
    }
    return { text, tokens, logprob, promptTokens: counters.tokens + this.ctx.tokenizer.encode(prompt).length };
  }

  /** Feed `source` in sub-pieces, keeping the read cursor (and its hash) exact at each sub-piece. */
  private async consume(source: ReadSource, o: {
    signal?: AbortSignal; onProgress?: (p: ReadProgress) => void; copy: number; copies: number; pieceChars?: number;
    skip: { chars: number; sha256: string } | null; startPosition: number; started: number; counters: { tokens: number };
  }): Promise<void> {
    throwIfAborted(o.signal);
    const totalBytes = typeof source === "string" ? new TextEncoder().encode(source).length
      : isFileSource(source) ? await source.size() : undefined;
    const hash: Hash = createHash("sha256");
    let chars = 0;
    let bytes = 0;
    let toSkip = o.skip?.chars ?? 0;
    const copyStarted = performance.now();
    let copyTokens = 0;
    let reported = 0;
    let skippedBytes = 0;
    const track = o.copy === 1;
    if (track) this.cursor = { chars: 0, sha256: hash.copy().digest("hex"), startPosition: o.startPosition, done: false };
    const report = () => {
      if (!o.onProgress) return;
      const now = performance.now();
      const elapsed = now - o.started;
      const rate = copyTokens / Math.max(1e-3, (now - copyStarted) / 1000);
      const newWarnings = this.warnings.slice(reported);
      reported = this.warnings.length;
      const fed = bytes - skippedBytes;
      let eta: number | undefined;
      if (totalBytes !== undefined && fed > 0) eta = ((totalBytes - bytes) * (now - copyStarted)) / fed / 1000;
      o.onProgress({
        tokens: o.counters.tokens, position: this.position, chars, bytes, totalBytes, copy: o.copy, copies: o.copies,
        elapsedMs: elapsed, tokensPerSecond: rate, etaSeconds: eta, stats: this.stats(), warnings: newWarnings,
      });
    };
    for await (const piece of safePieces(openText(source))) {
      for (let part of subPieces(piece, o.pieceChars ?? READ_PIECE)) {
        if (toSkip > 0) {
          const k = Math.min(toSkip, part.length);
          const skipped = part.slice(0, k);
          hash.update(skipped);
          chars += k;
          const b = utf8Length(skipped);
          bytes += b;
          skippedBytes += b;
          toSkip -= k;
          part = part.slice(k);
          if (toSkip === 0 && o.skip) {
            if (hash.copy().digest("hex") !== o.skip.sha256)
              throw new SnapshotError(`the source ${describeSource(source)} differs from the one the snapshot was read from (its first ${o.skip.chars} characters do not match)`);
            if (track) this.cursor = { chars, sha256: o.skip.sha256, startPosition: o.startPosition, done: false };
          }
          if (!part) continue;
        }
        throwIfAborted(o.signal);
        const ids = this.ctx.tokenizer.encode(part);
        await this.feedIds(ids);
        hash.update(part);
        chars += part.length;
        bytes += utf8Length(part);
        copyTokens += ids.length;
        o.counters.tokens += ids.length;
        if (track) this.cursor = { chars, sha256: hash.copy().digest("hex"), startPosition: o.startPosition, done: false };
        report();
      }
    }
    if (toSkip > 0) throw new SnapshotError(`the source ${describeSource(source)} has only ${chars} characters, fewer than the ${o.skip!.chars} the snapshot had read`);
    if (track) this.cursor = { chars, sha256: hash.copy().digest("hex"), startPosition: o.startPosition, done: true };
    report();
  }

  /** Records a warning for each layer whose state left the in-training-length range (once per layer). */
  private checkCollapse(): void {
    const p = this.plan;
    for (let i = 0; i < this.state.layers.length; i++) {
      if (this.warned.has(i)) continue;
      const st = layerStats(i, this.state.layers[i].aux);
      if (st.position <= p.trainLength || st.ratio <= p.warnRatio) continue;
      this.warned.add(i);
      const unitName = this.ctx.model.config.family === "mamba2" ? "head" : "channel";
      const w: CollapseWarning = {
        layer: i, unit: st.worstUnit, ratio: st.ratio, position: st.position,
        message: `layer ${i}: the state norm of ${unitName} ${st.worstUnit} is ${st.ratio.toFixed(2)}x the largest seen within the ` +
          `training length (${p.trainLength} tokens) at position ${st.position}, a sign of state collapse` +
          (p.kind === "none" ? ` (try mitigation "auto" or "window")` : ` (mitigation: ${describePlan(p)})`),
      };
      this.warnings.push(w);
      this.opts.onWarning?.(w);
    }
  }

  /** Logits after the last consumed token (a copy), or null before any input. */
  lastLogits(): Float32Array | null {
    this.flushPending();
    return this.logits && this.logits.slice();
  }

  private flushPending(): void {
    if (this.pending.length === 0) return;
    this.checkNotResident();
    const ids = this.pending;
    this.pending = [];
    this.logits = this.run(ids, "last", "decode");
  }

  private checkNotResident(): void {
    if (this.resident) throw new OptionError("this session is decoding in a running generateBatch: change it after the batch ends", "session");
  }

  /** The journal starts at the current state (on a model that can still switch backends). */
  private startJournal(): void {
    const fo = this.ctx.failover;
    this.journal = fo?.armed ? new Journal(this.state, this.opts.checkpointEvery ?? DEFAULT_CHECKPOINT_EVERY) : null;
    this.generation = fo?.generation ?? 0;
  }

  /**
   * model.forward on this session's state. With a GPU failover (fallback.ts): a call that fails on
   * the GPU moves the model to the standby backend, the state is rebuilt there from the journal and
   * the call runs again, so the caller sees one successful call.
   */
  private run(ids: number[], mode: LogitsMode, phase: "prefill" | "decode"): Float32Array | null {
    this.checkNotResident();
    const into = mode === "last" ? (this.logitsOut ??= new Float32Array(this.ctx.model.config.vocab_rows)) : undefined;
    const fo = this.ctx.failover;
    if (!fo || !this.journal) return this.ctx.model.forward(ids, this.state, mode, into);
    if (this.generation !== fo.generation) this.recover();
    if (!this.journal) return fo.model.forward(ids, this.state, mode, into);
    const position = this.state.position;
    let out: Float32Array | null;
    try {
      out = fo.model.forward(ids, this.state, mode, into);
    } catch (e) {
      if (!fo.canRecover(e)) throw e;
      fo.switchAway(e, position, phase);
      this.recover();
      out = fo.model.forward(ids, this.state, mode, into);
    }
    this.journal?.record(ids, () => this.state);
    return out;
  }

  /** The state rebuilt on the failover's current model from the journal (the old backend is never read). */
  private recover(): void {
    const fo = this.ctx.failover!;
    this.state = this.journal!.replay(fo.model);
    this.state.plan = this.plan;
    this.generation = fo.generation;
    if (!fo.armed) this.journal = null;
  }

  private checkIds(ids: ArrayLike<number>): void {
    const rows = this.ctx.model.config.vocab_rows;
    for (let i = 0; i < ids.length; i++)
      if (!Number.isInteger(ids[i]) || ids[i] < 0 || ids[i] >= rows)
        throw new OptionError(`token id ${ids[i]} at index ${i} is outside the model's ${rows} vocabulary rows`, "ids");
  }
}

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** Cuts `s` into parts of about `size` characters, at whitespace (a BPE word is never cut) or, in a
 *  run with no whitespace, at a character boundary. */
function* subPieces(s: string, size: number): Generator<string> {
  let i = 0;
  while (s.length - i > size) {
    let j = i + size;
    let k = j;
    while (k > i + 1 && !(/\s/.test(s[k]) && !/\s/.test(s[k - 1]))) k--;
    if (k > i + 1) j = k;
    else {
      const c = s.charCodeAt(j - 1);
      if (c >= 0xd800 && c <= 0xdbff) j--;
    }
    yield s.slice(i, j);
    i = j;
  }
  if (i < s.length) yield s.slice(i);
}

/** Checks generate()'s options; returns maxTokens. */
function checkGenerateOptions(opts: GenerateOptions): number {
  const maxTokens = opts.maxTokens ?? 128;
  if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new OptionError(`expected a non-negative integer, got ${maxTokens}`, "maxTokens");
  if (opts.temperature !== undefined && !(opts.temperature >= 0)) throw new OptionError(`expected >= 0, got ${opts.temperature}`, "temperature");
  if (opts.topP !== undefined && !(opts.topP > 0 && opts.topP <= 1)) throw new OptionError(`expected in (0, 1], got ${opts.topP}`, "topP");
  return maxTokens;
}

/** Sampled tokens -> text pieces: whole UTF-8 characters, text that may start a stop string held back. */
class PieceStream {
  private readonly decoder: ReturnType<TextTokenizer["streamDecoder"]>;
  private readonly stops: string[];
  private held = "";

  constructor(private readonly tokenizer: TextTokenizer, private readonly opts: GenerateOptions) {
    this.decoder = tokenizer.streamDecoder();
    this.stops = (opts.stop ?? []).filter((s) => s.length > 0);
  }

  /** The piece of `token`; `end` says generation ends here: "eos" (no piece) or "stop" (cut before the stop string). */
  push(token: number, logprob: number): { piece: Piece | null; end: "eos" | "stop" | null } {
    if (token === this.tokenizer.eosId && this.opts.stopAtEos !== false) return { piece: null, end: "eos" };
    this.held += this.decoder.push(token);
    const hit = firstStop(this.held, this.stops);
    if (hit >= 0) return { piece: { text: this.held.slice(0, hit), token, logprob }, end: "stop" };
    const keep = stopPrefixLength(this.held, this.stops);
    const piece = { text: this.held.slice(0, this.held.length - keep), token, logprob };
    this.held = this.held.slice(this.held.length - keep);
    return { piece, end: null };
  }

  /** What is still held when generation ends without a stop string. */
  rest(): Piece | null {
    const text = this.held + this.decoder.flush();
    this.held = "";
    return text ? { text, token: -1, logprob: 0 } : null;
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
