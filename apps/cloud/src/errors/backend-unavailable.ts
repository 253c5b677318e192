/** Socket errors of a connection to a backing service (S3, SQL, Redis) that is down, restarting or unreachable. */
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'UND_ERR_SOCKET']);
/** PostgreSQL: the server is shutting down or starting (57P01–57P03) or the connection failed (class 08). */
const SQL_UNAVAILABLE = /^(57P0[123]|08...)$/;
/** What pg and ioredis say, without a code, when the connection ends under a query or is not there. */
const CONNECTION_MESSAGES = [
  /^Connection terminated/,
  /is not queryable$/,
  /^Connection is closed\.?$/,
  /^Reached the max retries per request limit/,
  /timeout exceeded when trying to connect/,
];

/**
 * Whether an error is a backing service being unavailable — a transient outage the client should retry
 * (503), not a fault of the cloud (500). Looks through `cause` chains and the errors of an AggregateError.
 */
export function isBackendUnavailable(error: unknown, depth = 0): boolean {
  if (depth > 5 || typeof error !== 'object' || error === null) return false;
  const { code, message, cause, errors } = error as { code?: unknown; message?: unknown; cause?: unknown; errors?: unknown };
  if (typeof code === 'string' && (CONNECTION_CODES.has(code) || SQL_UNAVAILABLE.test(code))) return true;
  if (typeof message === 'string' && CONNECTION_MESSAGES.some((pattern) => pattern.test(message))) return true;
  if (Array.isArray(errors) && errors.some((e) => isBackendUnavailable(e, depth + 1))) return true;
  return isBackendUnavailable(cause, depth + 1);
}
