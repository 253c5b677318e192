import type { ErrorCode } from '@edgeloop/contracts';

/**
 * Domain errors carry a stable code from the catalogue in `@edgeloop/contracts` (`ERROR_STATUS`); one
 * filter turns them into the JSON error shape with the catalogue's status for the code. The `status`
 * a subclass passes must equal the catalogue's: error-catalogue.spec.ts checks every literal pair.
 */
export class DomainError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly details: unknown[] = [],
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class BadRequestError extends DomainError {
  constructor(code: ErrorCode, message: string, details: unknown[] = []) {
    super(400, code, message, details);
  }
}

export class UnauthorizedError extends DomainError {
  constructor(message = 'a valid bearer token is required') {
    super(401, 'unauthorized', message);
  }
}

export class ForbiddenError extends DomainError {
  constructor(message: string) {
    super(403, 'forbidden', message);
  }
}

export class NotFoundError extends DomainError {
  constructor(what: string) {
    super(404, 'not_found', `${what} not found`);
  }
}

export class ConflictError extends DomainError {
  constructor(message: string, details: unknown[] = []) {
    super(409, 'conflict', message, details);
  }
}

export class PayloadTooLargeError extends DomainError {
  constructor(limit: number) {
    super(413, 'payload_too_large', `the request body exceeds the limit of ${limit} bytes`);
  }
}

export class InvalidArtifactError extends DomainError {
  constructor(message: string, details: unknown[] = []) {
    super(422, 'invalid_artifact', message, details);
  }
}
