/** Domain errors of the trainer. Each carries a stable `code` that callers can switch on. */
export type TrainingErrorCode = 'INVALID_DATASET' | 'INVALID_OPTIONS' | 'NO_IDENTITIES' | 'DIMENSION_MISMATCH' | 'MISMATCHED_REPORTS';

export class TrainingError extends Error {
  constructor(
    readonly code: TrainingErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }

  toJSON(): { error: TrainingErrorCode; message: string } {
    return { error: this.code, message: this.message };
  }
}
