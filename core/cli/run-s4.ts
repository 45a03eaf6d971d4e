// `scanstream run <model-dir> --input x.npy --out y.npy [--pooled]`: runs an S4 / S4D sequence model
// (float inputs) over a .npy of shape [L, d_input] and writes the per-step outputs [L, d_output]
// (before pooling), or with --pooled the pooled output [d_output] (the config's pooling: mean, last or
// sum). The input is read and the output written in chunks of --chunk steps, with the recurrent state
// carried across chunks, so memory does not grow with L. The output goes to a temporary file that is
// renamed at the end: never a half-written file.
import fs from "node:fs";
import { parseArgs } from "node:util";
import { CheckpointError, OptionError } from "../errors.ts";
import { openCheckpoint } from "../formats/checkpoint.ts";
import { WeightReader } from "../formats/weights.ts";
import { buildS4, type S4Mode, type S4Model } from "../models/s4.ts";
import { checkBackendChoice, createBackend } from "../../kernels/registry.ts";
import type { WeightDType } from "../../kernels/backend.ts";
import type { BackendChoice } from "../../kernels/registry.ts";

export const RUN_USAGE = `usage: scanstream run <model-dir> --input X.npy --out Y.npy [--pooled]
  runs an S4 / S4D sequence model on float inputs [L, d_input] (.npy float32 or float64, C order)
  and writes float32 per-step outputs [L, d_output], or with --pooled the pooled output [d_output]
options
  --backend NAME   auto | cpu | wasm | gpu | webgpu (default auto)
  --mode M         auto | conv | recurrent: how blocks of steps run (default auto = recurrent)
  --chunk N        steps per block (and conv kernel length), default 256
  --weights DTYPE  f32 | f16 | bf16 | int8 storage of the linear layers (default f32)
  --threads N      wasm worker threads`;

interface NpyHeader {
  shape: number[];
  dtype: "<f4" | "<f8";
  dataOffset: number;
}

/** Reads only the header of a .npy file (so the data can be streamed). */
function readNpyHeader(fd: number, file: string): NpyHeader {
  const head = Buffer.alloc(12);
  if (fs.readSync(fd, head, 0, 12, 0) < 10 || head[0] !== 0x93 || head.toString("latin1", 1, 6) !== "NUMPY") {
    throw new CheckpointError("not a .npy file (bad magic)", file);
  }
  const major = head[6];
  const hlen = major === 1 ? head.readUInt16LE(8) : head.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  if (hlen > 1 << 20) throw new CheckpointError(`header of ${hlen} bytes is implausible`, file);
  const hb = Buffer.alloc(hlen);
  if (fs.readSync(fd, hb, 0, hlen, start) !== hlen) throw new CheckpointError("truncated header", file);
  const header = hb.toString("latin1");
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (/'fortran_order':\s*True/.test(header)) throw new CheckpointError("Fortran-order arrays are not supported (save with C order)", file);
  if (descr !== "<f4" && descr !== "<f8") throw new CheckpointError(`dtype ${descr} not supported (expected float32 <f4 or float64 <f8)`, file);
  if (shapeText === undefined) throw new CheckpointError(`unreadable header ${header.trim()}`, file);
  const shape = shapeText.split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  return { shape, dtype: descr, dataOffset: start + hlen };
}

function npyHeaderBytes(shape: number[]): Buffer {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeText}, }`;
  header += " ".repeat((64 - ((10 + header.length + 1) % 64)) % 64) + "\n";
  const out = Buffer.alloc(10 + header.length);
  out.set([0x93, ...Buffer.from("NUMPY", "latin1"), 1, 0]);
  out.writeUInt16LE(header.length, 8);
  out.write(header, 10, "latin1");
  return out;
}

export async function runCommand(args: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        input: { type: "string" },
        out: { type: "string" },
        pooled: { type: "boolean", default: false },
        model: { type: "string" },
        backend: { type: "string", default: "auto" },
        mode: { type: "string", default: "auto" },
        chunk: { type: "string", default: "256" },
        weights: { type: "string", default: "f32" },
        threads: { type: "string" },
        debug: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (e) {
    throw new OptionError((e as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(RUN_USAGE);
    return;
  }
  const dir = positionals[0] ?? values.model;
  if (!dir) throw new OptionError("give the model folder: scanstream run <model-dir> --input X.npy --out Y.npy", "model-dir");
  if (!values.input) throw new OptionError("required (the .npy of float inputs [L, d_input])", "--input");
  if (!values.out) throw new OptionError("required (the .npy file to write)", "--out");
  const chunk = Number(values.chunk);
  if (!Number.isInteger(chunk) || chunk < 1) throw new OptionError(`expected a positive integer, got "${values.chunk}"`, "--chunk");
  if (!["auto", "conv", "recurrent"].includes(values.mode!)) throw new OptionError(`expected auto, conv or recurrent, got "${values.mode}"`, "--mode");
  const weights = values.weights as WeightDType;
  if (!["f32", "f16", "bf16", "int8"].includes(weights)) throw new OptionError(`expected f32, f16, bf16 or int8, got "${weights}"`, "--weights");
  const threads = values.threads === undefined ? undefined : Number(values.threads);
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1)) throw new OptionError(`expected a positive integer, got "${values.threads}"`, "--threads");

  // open the input first: a bad input file is reported before the model is loaded
  let fd: number;
  try {
    fd = fs.openSync(values.input, "r");
  } catch (e) {
    throw new OptionError(`cannot open ${values.input}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, "--input");
  }
  let tmp: string | undefined;
  try {
    const h = readNpyHeader(fd, values.input);
    checkBackendChoice(values.backend!);
    const ckpt = await openCheckpoint(dir);
    let model: S4Model;
    try {
      const cfg = ckpt.config;
      if (cfg.family !== "s4" || cfg.task !== "sequence") {
        throw new OptionError(`${dir} is ${cfg.family === "s4" ? "an S4 language model" : `a ${cfg.family} language model`}: \`run\` takes sequence models on float inputs (use generate / logits)`, "model-dir");
      }
      const backend = await createBackend(values.backend as BackendChoice, { threads });
      model = buildS4(cfg, new WeightReader(ckpt), backend, { weights, s4Mode: values.mode as S4Mode, chunk, maxBlock: chunk });
    } finally {
      ckpt.close();
    }
    try {
      const c = model.config;
      const I = c.d_input, O = c.d_output;
      const [L, cols = 1] = h.shape;
      if (h.shape.length < 1 || h.shape.length > 2 || cols !== I) {
        throw new OptionError(`${values.input} has shape [${h.shape.join(", ")}], expected [L, ${I}] (d_input of ${dir})`, "--input");
      }
      const esize = h.dtype === "<f4" ? 4 : 8;
      const size = fs.fstatSync(fd).size;
      if (size < h.dataOffset + L * I * esize) throw new CheckpointError(`truncated: ${size} bytes, the header promises ${L}×${I} values`, values.input);
      if (values.pooled && c.pooling === "none") throw new OptionError(`the config of ${dir} has pooling "none"`, "--pooled");

      tmp = `${values.out}.tmp-${process.pid}`;
      const out = fs.openSync(tmp, "w");
      const t0 = performance.now();
      try {
        fs.writeSync(out, npyHeaderBytes(values.pooled ? [O] : [L, O]));
        const state = model.newState();
        const acc = new Float64Array(O);
        let last = new Float32Array(O);
        const raw = Buffer.alloc(chunk * I * esize);
        for (let t0 = 0; t0 < L; t0 += chunk) {
          const n = Math.min(chunk, L - t0);
          fs.readSync(fd, raw, 0, n * I * esize, h.dataOffset + t0 * I * esize);
          const u = new Float32Array(n * I);
          for (let i = 0; i < n * I; i++) u[i] = esize === 4 ? raw.readFloatLE(4 * i) : raw.readDoubleLE(8 * i);
          const y = model.forwardFloat(u, n, state);
          if (!values.pooled) fs.writeSync(out, new Uint8Array(y.buffer, y.byteOffset, y.byteLength));
          for (let t = 0; t < n; t++) for (let o = 0; o < O; o++) acc[o] += y[t * O + o];
          if (n > 0) last = y.slice((n - 1) * O);
        }
        if (values.pooled) {
          const p = c.pooling === "last" ? last : Float32Array.from(acc, (v) => (c.pooling === "mean" ? v / Math.max(L, 1) : v));
          fs.writeSync(out, new Uint8Array(p.buffer, p.byteOffset, p.byteLength));
        }
      } finally {
        fs.closeSync(out);
      }
      fs.renameSync(tmp, values.out);
      tmp = undefined;
      const s = (performance.now() - t0) / 1000;
      process.stderr.write(
        `[scanstream] s4 (${c.block}, ${c.mode}) on ${model.backend.detail}; S4 ops: ${model.s4Ops}; mode ${model.mode}; ` +
          `${L} steps in ${s.toFixed(2)} s; wrote ${values.out}: float32 ${values.pooled ? `[${O}] (${c.pooling} pooled)` : `[${L}, ${O}]`}\n`,
      );
    } finally {
      model.backend.dispose();
    }
  } finally {
    fs.closeSync(fd);
    if (tmp) fs.rmSync(tmp, { force: true });
  }
}
