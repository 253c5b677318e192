export interface BackoffOptions {
  /** First delay after a drop. */
  initialMs: number;
  /** Ceiling for the delay. */
  maxMs: number;
  /** Growth per failed attempt. */
  factor?: number;
  /** Fraction of each delay taken off at random (0 = none), so many devices do not reconnect in step. */
  jitter?: number;
  random?: () => number;
}

export const defaultReconnect: BackoffOptions = { initialMs: 500, maxMs: 30_000, factor: 2, jitter: 0.2 };

/** Exponential reconnect delays: initial, initial×factor, … up to max; reset() after a good connection. */
export class Backoff {
  private attempt = 0;
  private readonly factor: number;
  private readonly jitter: number;
  private readonly random: () => number;

  constructor(private readonly options: BackoffOptions) {
    if (!(options.initialMs >= 0) || !(options.maxMs >= options.initialMs)) {
      throw new RangeError(`reconnect delays must satisfy 0 <= initial (${options.initialMs}) <= max (${options.maxMs})`);
    }
    this.factor = options.factor ?? 2;
    this.jitter = Math.min(1, Math.max(0, options.jitter ?? 0));
    this.random = options.random ?? Math.random;
  }

  /** The delay before the next attempt. */
  next(): number {
    const base = Math.min(this.options.maxMs, this.options.initialMs * this.factor ** this.attempt);
    this.attempt++;
    return Math.round(base * (1 - this.jitter * this.random()));
  }

  reset(): void {
    this.attempt = 0;
  }
}
