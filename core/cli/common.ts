// Shared CLI plumbing: flag parsing (node:util parseArgs), numbers, opening a model.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { load, type LoadedModel } from "../index.ts";
import { OptionError } from "../errors.ts";
import type { BackendChoice } from "../../kernels/registry.ts";
import type { WeightDType } from "../../kernels/backend.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const DEFAULT_MODEL = path.join(ROOT, "checkpoints/mamba2-text");

export const common = {
  model: { type: "string" },
  backend: { type: "string", default: "auto" },
  weights: { type: "string", default: "f32" },
  threads: { type: "string" },
  debug: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
} satisfies ParseArgsConfig["options"];

export function parse<O extends ParseArgsConfig["options"]>(args: string[], options: O) {
  try {
    return parseArgs({ args, options: { ...common, ...options }, allowPositionals: true, strict: true });
  } catch (e) {
    throw new OptionError((e as Error).message);
  }
}

export function num(value: string | undefined, option: string, integer = false): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n))) throw new OptionError(`expected a ${integer ? "whole " : ""}number, got "${value}"`, `--${option}`);
  return n;
}

export async function open(values: { model?: string; backend?: string; weights?: string; threads?: string }, positional?: string): Promise<LoadedModel> {
  const dir = positional ?? values.model ?? DEFAULT_MODEL;
  const weights = values.weights as WeightDType;
  if (!["f32", "f16", "bf16", "int8"].includes(weights)) throw new OptionError(`expected f32, f16, bf16 or int8, got "${weights}"`, "--weights");
  return load(dir, { backend: values.backend as BackendChoice, weights, threads: num(values.threads, "threads", true) });
}
