// A small line plot written as PNG with no dependency: RGB pixels, a 5x7 bitmap font for labels,
// zlib (node:zlib) and CRC-32 for the PNG container. Used by `scanstream eval position-loss --plot`.
import { deflateSync } from "node:zlib";

export interface Series {
  name: string;
  points: [number, number][];
}

export interface PlotSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** x axis in log2 scale. */
  xLog?: boolean;
  /** A dashed vertical marker (e.g. the training length) and its label. */
  marker?: { x: number; label: string };
  width?: number;
  height?: number;
}

const FONT: Record<string, string> = {
  "0": ".###.#...##..###.#.###..##...#.###.", "1": "..#...##....#....#....#....#...###.",
  "2": ".###.#...#....#...#...#...#...#####", "3": "#####...#...#.....#.....##...#.###.",
  "4": "...#...##..#.#.#..#.#####...#....#.", "5": "######....####.....#....##...#.###.",
  "6": "..##..#...#....####.#...##...#.###.", "7": "#####....#...#...#...#....#....#...",
  "8": ".###.#...##...#.###.#...##...#.###.", "9": ".###.#...##...#.####....#...#..##..",
  a: "...........###.....#.#####...#.####", b: "#....#....#.##.##..##...##...#####.",
  c: "...........###.#....#....#...#.###.", d: "....#....#.##.##..###...##...#.####",
  e: "...........###.#...#######.....###.", f: "..##..#..#.#...###...#....#....#...",
  g: "......#####...##...#.####....#.###.", h: "#....#....#.##.##..##...##...##...#",
  i: "..#........##....#....#....#...###.", j: "...#........##....#....#.#..#..##..",
  k: "#....#....#..#.#.#..##...#.#..#..#.", l: ".##....#....#....#....#....#...###.",
  m: "..........##.#.#.#.##.#.##...##...#", n: "..........#.##.##..##...##...##...#",
  o: "...........###.#...##...##...#.###.", p: ".....####.#...##...#####.#....#....",
  q: "......#####...##...#.####....#....#", r: "..........#.##.##..##....#....#....",
  s: "...........#####.....###.....#####.", t: ".#....#...###...#....#....#..#..##.",
  u: "..........#...##...##...##..##.##.#", v: "..........#...##...##...#.#.#...#..",
  w: "..........#...##...##.#.##.#.#.#.#.", x: "..........#...#.#.#...#...#.#.#...#",
  y: ".....#...##...##...#.####....#.###.", z: "..........#####...#...#...#...#####",
  K: "#...##..#.#.#..##...#.#..#..#.#...#", M: "#...###.###.#.##.#.##...##...##...#",
  T: "#####..#....#....#....#....#....#..", ".": "..........................##...##..",
  ",": ".....................##....#...#...", "(": "...#...#...#....#....#.....#.....#.",
  ")": ".#.....#.....#....#....#...#...#...", "/": ".........#...#...#...#...#.........",
  "-": "...............#####...............", "=": "..........#####.....#####..........",
  ":": "......##...##........##...##.......", "%": "##...##..#...#...#...#...#..##...##",
  "_": "..............................#####",
  " ": "",
};

function glyph(ch: string): string {
  return (FONT[ch] ?? FONT[ch.toLowerCase()] ?? "").padEnd(35, ".");
}

class Canvas {
  readonly px: Uint8Array;
  constructor(readonly w: number, readonly h: number) {
    this.px = new Uint8Array(w * h * 3).fill(255);
  }
  set(x: number, y: number, c: [number, number, number]): void {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.w || y >= this.h) return;
    this.px.set(c, (y * this.w + x) * 3);
  }
  rect(x0: number, y0: number, x1: number, y1: number, c: [number, number, number]): void {
    for (let y = Math.round(y0); y <= Math.round(y1); y++) for (let x = Math.round(x0); x <= Math.round(x1); x++) this.set(x, y, c);
  }
  line(x0: number, y0: number, x1: number, y1: number, c: [number, number, number], thick = 1, dash = 0): void {
    const n = Math.max(1, Math.ceil(Math.hypot(x1 - x0, y1 - y0)));
    for (let i = 0; i <= n; i++) {
      if (dash && Math.floor(i / dash) % 2 === 1) continue;
      const x = x0 + ((x1 - x0) * i) / n;
      const y = y0 + ((y1 - y0) * i) / n;
      this.rect(x - (thick - 1) / 2, y - (thick - 1) / 2, x + thick / 2 - 0.5, y + thick / 2 - 0.5, c);
    }
  }
  /** Text at (x, y) = top-left, scale s; returns its width. */
  text(x: number, y: number, s: string, c: [number, number, number] = [0, 0, 0], scale = 2, measure = false): number {
    const adv = 6 * scale;
    if (!measure)
      for (let k = 0; k < s.length; k++) {
        const g = glyph(s[k]);
        for (let r = 0; r < 7; r++)
          for (let q = 0; q < 5; q++) if (g[r * 5 + q] === "#") this.rect(x + k * adv + q * scale, y + r * scale, x + k * adv + q * scale + scale - 1, y + r * scale + scale - 1, c);
      }
    return s.length * adv;
  }
  png(): Buffer {
    const raw = Buffer.alloc((this.w * 3 + 1) * this.h);
    for (let y = 0; y < this.h; y++) {
      raw[y * (this.w * 3 + 1)] = 0;
      raw.set(this.px.subarray(y * this.w * 3, (y + 1) * this.w * 3), y * (this.w * 3 + 1) + 1);
    }
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(this.w, 0);
    ihdr.writeUInt32BE(this.h, 4);
    ihdr.set([8, 2, 0, 0, 0], 8);
    return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk("IHDR", ihdr), chunk("IDAT", deflateSync(raw)), chunk("IEND", Buffer.alloc(0))]);
  }
}

const CRC = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(b: Buffer): number {
  let c = 0xffffffff;
  for (const v of b) c = CRC[(c ^ v) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type: string, data: Buffer): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, "ascii");
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

const PALETTE: [number, number, number][] = [[214, 39, 40], [31, 119, 180], [44, 160, 44], [255, 127, 14], [148, 103, 189], [140, 86, 75], [23, 190, 207]];

export function formatTokens(x: number): string {
  if (x >= 1 << 20 && x % (1 << 20) === 0) return `${x / (1 << 20)}M`;
  if (x >= 1024 && x % 1024 === 0) return `${x / 1024}K`;
  return String(Math.round(x));
}

export function linePlotPng(spec: PlotSpec): Buffer {
  const W = spec.width ?? 900, H = spec.height ?? 540;
  const cv = new Canvas(W, H);
  const L = 90, R = 190, T = 50, B = 70;
  const pts = spec.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!spec.xLog || x > 0));
  if (!pts.length) return cv.png();
  const fx = (x: number) => (spec.xLog ? Math.log2(x) : x);
  let x0 = Math.min(...pts.map((p) => fx(p[0]))), x1 = Math.max(...pts.map((p) => fx(p[0])));
  if (x1 === x0) x1 = x0 + 1;
  let y0 = Math.min(...pts.map((p) => p[1])), y1 = Math.max(...pts.map((p) => p[1]));
  const pad = (y1 - y0 || Math.abs(y1) || 1) * 0.08;
  y0 -= pad;
  y1 += pad;
  x0 = spec.xLog ? Math.floor(x0) : x0;
  x1 = spec.xLog ? Math.ceil(x1) : x1;
  const X = (x: number) => L + ((fx(x) - x0) / (x1 - x0)) * (W - L - R);
  const Y = (y: number) => H - B - ((y - y0) / (y1 - y0)) * (H - T - B);
  const grid: [number, number, number] = [225, 225, 225];
  // axes, grid, ticks
  if (spec.xLog)
    for (let e = x0; e <= x1; e++) {
      const x = X(2 ** e);
      cv.line(x, T, x, H - B, grid);
      if ((e - x0) % Math.max(1, Math.ceil((x1 - x0) / 10)) === 0) {
        const label = formatTokens(2 ** e);
        cv.text(x - cv.text(0, 0, label, undefined, 2, true) / 2, H - B + 8, label);
      }
    }
  const digits = Math.max(0, Math.min(6, Math.ceil(-Math.log10((y1 - y0) / 5)) + 1));
  for (let k = 0; k <= 5; k++) {
    const y = y0 + ((y1 - y0) * k) / 5;
    cv.line(L, Y(y), W - R, Y(y), grid);
    const label = y.toFixed(digits);
    cv.text(L - 8 - cv.text(0, 0, label, undefined, 2, true), Y(y) - 7, label);
  }
  cv.line(L, T, L, H - B, [0, 0, 0], 2);
  cv.line(L, H - B, W - R, H - B, [0, 0, 0], 2);
  if (spec.marker && (!spec.xLog || spec.marker.x > 0) && X(spec.marker.x) >= L && X(spec.marker.x) <= W - R) {
    const mx = X(spec.marker.x);
    cv.line(mx, T, mx, H - B, [120, 120, 120], 2, 6);
    cv.text(mx + 6, T + 4, spec.marker.label, [90, 90, 90]);
  }
  spec.series.forEach((s, i) => {
    const c = PALETTE[i % PALETTE.length];
    const ps = s.points.filter(([x, y]) => Number.isFinite(y) && (!spec.xLog || x > 0)).sort((a, b) => a[0] - b[0]);
    for (let k = 1; k < ps.length; k++) cv.line(X(ps[k - 1][0]), Y(ps[k - 1][1]), X(ps[k][0]), Y(ps[k][1]), c, 3);
    for (const [x, y] of ps) cv.rect(X(x) - 3, Y(y) - 3, X(x) + 3, Y(y) + 3, c);
    const ly = T + 10 + i * 24;
    cv.line(W - R + 16, ly + 7, W - R + 44, ly + 7, c, 3);
    cv.text(W - R + 52, ly, s.name);
  });
  const titleScale = cv.text(0, 0, spec.title, undefined, 2, true) <= W - 16 ? 2 : 1;
  cv.text(Math.max(8, (W - cv.text(0, 0, spec.title, undefined, titleScale, true)) / 2), 6, spec.title, [0, 0, 0], titleScale);
  cv.text(L + (W - L - R - cv.text(0, 0, spec.xLabel, undefined, 2, true)) / 2, H - B + 36, spec.xLabel);
  cv.text(8, T - 20, spec.yLabel);
  return cv.png();
}
