/**
 * The harness never prints. Callers that want to see what it does pass a logger; NestJS's
 * `Logger` and the global `console` both fit this shape.
 */
export interface HarnessLogger {
  log(message: string): void;
  warn(message: string): void;
}

export const silentLogger: HarnessLogger = {
  log: () => undefined,
  warn: () => undefined,
};
