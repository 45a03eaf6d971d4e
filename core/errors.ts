// Typed errors. Each names the file, tensor or option at fault and says what was expected,
// so the CLI can print one clear line instead of a stack trace.

export class ScanstreamError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A checkpoint file is unreadable, truncated, malformed, or lacks / mis-shapes a tensor. */
export class CheckpointError extends ScanstreamError {
  constructor(
    message: string,
    readonly file?: string,
    readonly tensor?: string,
  ) {
    super([file && `${file}`, tensor && `tensor ${tensor}`, message].filter(Boolean).join(": "));
  }
}

/** config.json is missing, malformed, or describes a model scanstream cannot run. */
export class ConfigError extends ScanstreamError {
  constructor(
    message: string,
    readonly file?: string,
    readonly field?: string,
  ) {
    super([file, field && `field ${field}`, message].filter(Boolean).join(": "));
  }
}

/** A backend cannot initialise or an op failed on it. */
export class BackendError extends ScanstreamError {
  constructor(
    message: string,
    readonly backend?: string,
  ) {
    super(backend ? `backend ${backend}: ${message}` : message);
  }
}

/** A user-supplied option or argument is invalid. */
export class OptionError extends ScanstreamError {
  constructor(
    message: string,
    readonly option?: string,
  ) {
    super(option ? `option ${option}: ${message}` : message);
  }
}

/** A state snapshot is corrupt or belongs to another model. */
export class SnapshotError extends ScanstreamError {}

/** The tokenizer file is missing or malformed. */
export class TokenizerError extends ScanstreamError {}
