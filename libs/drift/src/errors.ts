/** Domain errors of the drift statistics. Each carries a stable `code` that callers can switch on. */
export type DriftErrorCode =
  | 'INVALID_HISTOGRAM_SPEC'
  | 'INCOMPATIBLE_HISTOGRAMS'
  | 'DIMENSION_MISMATCH'
  | 'INVALID_WINDOW_STATS'
  | 'INVALID_ALARM_STATE'
  | 'INVALID_DRIFT_SETTINGS';

export class DriftError extends Error {
  constructor(
    readonly code: DriftErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }

  toJSON(): { error: DriftErrorCode; message: string } {
    return { error: this.code, message: this.message };
  }
}
