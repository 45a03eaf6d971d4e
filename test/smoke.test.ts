import { test } from "uvu";
import * as assert from "uvu/assert";
import { CheckpointError } from "../core/errors.ts";

test("typed errors name the file and tensor", () => {
  const e = new CheckpointError("missing", "model.safetensors", "lm_head.weight");
  assert.is(e.name, "CheckpointError");
  assert.match(e.message, "model.safetensors: tensor lm_head.weight: missing");
});

test.run();
