// Read progress on stderr: a cli-progress bar on a TTY (tokens, tokens/s, ETA, state-norm ratio),
// plain lines otherwise (every few seconds), nothing with --progress none.
import cliProgress from "cli-progress";
import type { ReadProgress } from "../stream/session.ts";

export type ProgressMode = "auto" | "bar" | "lines" | "none";

export interface ProgressView {
  update(p: ReadProgress): void;
  /** Print a line (a warning) without breaking the bar. */
  log(line: string): void;
  stop(): void;
}

export function formatSeconds(s: number | undefined): string {
  if (s === undefined || !Number.isFinite(s)) return "?";
  if (s < 60) return `${Math.round(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

const label = (p: ReadProgress) => (p.copies > 1 ? `copy ${p.copy}/${p.copies}` : "reading");

export function createProgress(mode: ProgressMode, out: NodeJS.WriteStream = process.stderr, linesEveryMs = 5000): ProgressView {
  const resolved = mode === "auto" ? (out.isTTY ? "bar" : "lines") : mode;
  if (resolved === "none") return { update() {}, log: (l) => void out.write(l + "\n"), stop() {} };
  if (resolved === "lines") {
    let last = -Infinity;
    let lastP: ReadProgress | null = null;
    const print = (p: ReadProgress) => {
      const pct = p.totalBytes ? ` (${((100 * p.bytes) / p.totalBytes).toFixed(1)}%)` : "";
      out.write(
        `[scanstream] ${label(p)}: ${p.tokens} tokens, position ${p.position}${pct}, ${p.tokensPerSecond.toFixed(0)} tokens/s, ` +
          `ETA ${formatSeconds(p.etaSeconds)}, state-norm ratio ${p.stats.maxRatio.toFixed(2)}\n`,
      );
    };
    return {
      update(p) {
        lastP = p;
        const now = performance.now();
        if (now - last >= linesEveryMs) {
          last = now;
          print(p);
          lastP = null;
        }
      },
      log: (l) => void out.write(l + "\n"),
      stop() {
        if (lastP) print(lastP);
      },
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      stream: out,
      format: "{label} |{bar}| {pct} | {tokens} tokens | {rate} tok/s | ETA {etaText} | ratio {ratio}",
      hideCursor: true,
      fps: 5,
      barsize: 30,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(p) {
      const payload = {
        label: label(p), tokens: p.tokens, rate: p.tokensPerSecond.toFixed(0), etaText: formatSeconds(p.etaSeconds),
        ratio: p.stats.maxRatio.toFixed(2), pct: p.totalBytes ? `${((100 * p.bytes) / p.totalBytes).toFixed(1)}%` : "--",
      };
      const total = p.totalBytes ?? Math.max(1, p.bytes);
      if (!started) {
        bar.start(total, p.bytes, payload);
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(p.bytes, payload);
      }
    },
    log(line) {
      if (started) {
        // clear the bar's line, print, and let the bar redraw below
        out.write("\r\x1b[K" + line + "\n");
      } else out.write(line + "\n");
    },
    stop() {
      if (started) bar.stop();
      started = false;
    },
  };
}
