/**
 * The embedded servers never print. Callers that want to see what they do pass a logger; NestJS's
 * `Logger` and the global `console` both fit this shape.
 */
export interface EmbeddedLogger {
  log(message: string): void;
  warn(message: string): void;
}

export const silentLogger: EmbeddedLogger = {
  log: () => undefined,
  warn: () => undefined,
};
