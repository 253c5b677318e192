/** Domain errors of the face pipeline. Each carries a stable `code` that callers can switch on. */
export type VisionErrorCode =
  | 'IMAGE_NOT_FOUND'
  | 'IMAGE_UNDECODABLE'
  | 'IMAGE_TOO_LARGE'
  | 'INVALID_VISION_OPTIONS'
  | 'MODEL_LOAD_FAILED'
  | 'INVALID_HEAD'
  | 'PIPELINE_RELEASED';

export class VisionError extends Error {
  constructor(
    readonly code: VisionErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }

  toJSON(): { error: VisionErrorCode; message: string } {
    return { error: this.code, message: this.message };
  }
}

/**
 * The input could not be read (missing file) or decoded as an image, or it has more pixels than the limit
 * (`IMAGE_TOO_LARGE`, found from its header before decoding). Never a crash: callers skip the frame.
 */
export class InvalidImageError extends VisionError {
  constructor(
    code: 'IMAGE_NOT_FOUND' | 'IMAGE_UNDECODABLE' | 'IMAGE_TOO_LARGE',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

export interface OptionIssue {
  /** Dotted path of the bad field, e.g. `models.detector` or `detectionThreshold`. */
  field: string;
  message: string;
}

/** Options failed validation; `issues` lists every bad field, not only the first. */
export class InvalidVisionOptionsError extends VisionError {
  constructor(readonly issues: OptionIssue[]) {
    super(
      'INVALID_VISION_OPTIONS',
      `invalid vision options: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`,
    );
  }
}

/** A model file or buffer could not be loaded into onnxruntime. */
export class ModelLoadError extends VisionError {
  constructor(
    readonly role: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('MODEL_LOAD_FAILED', `${role}: ${message}`, options);
  }
}

/** An identity head whose shape or labels do not fit the embedder. */
export class InvalidHeadError extends VisionError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('INVALID_HEAD', message, options);
  }
}
