// Builds the model of the family the config names.
import type { Backend } from "../../kernels/backend.ts";
import type { ModelConfig } from "./config.ts";
import { buildMamba1 } from "./mamba1.ts";
import { buildMamba2 } from "./mamba2.ts";
import type { BuildOptions, Model, WeightSource } from "./model.ts";
import { buildMom } from "./mom.ts";
import { buildS4 } from "./s4.ts";

export function buildModel(config: ModelConfig, weights: WeightSource, backend: Backend, opts: BuildOptions = {}): Model {
  switch (config.family) {
    case "mamba2":
      return buildMamba2(config, weights, backend, opts);
    case "mamba1":
      return buildMamba1(config, weights, backend, opts);
    case "s4":
      return buildS4(config, weights, backend, opts);
    case "mom":
      return buildMom(config, weights, backend, opts);
  }
}
