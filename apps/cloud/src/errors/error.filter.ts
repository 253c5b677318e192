import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import { ErrorBodySchema, errorCodeForStatus, errorStatus, isErrorCode, type ErrorBody } from '@edgeloop/contracts';
import type { Request, Response } from 'express';
import { isBackendUnavailable } from './backend-unavailable';
import { DomainError } from './domain.errors';

/**
 * Maps every error to `{ error, message, details }` (`ErrorBodySchema`) with the status the catalogue
 * (`ERROR_STATUS` in `@edgeloop/contracts`) gives its code; a backing service (S3, SQL, Redis) down or
 * restarting is a 503 `unavailable` with `Retry-After` (the request changed nothing the client cannot send
 * again); other unknown errors are a logged 500 naming the route.
 */
@Catch()
export class ErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger(ErrorFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const res = ctx.getResponse<Response>();
    const req = ctx.getRequest<Request>();
    const [status, body] = this.checked(...this.toBody(exception, req), req);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (status === 503) res.setHeader('retry-after', '5');
    res.status(status).json(body);
  }

  /** The body must parse as `ErrorBodySchema` and carry a catalogue code; anything else is a logged 500. */
  private checked(status: number, body: ErrorBody, req: Request): [number, ErrorBody] {
    if (ErrorBodySchema.safeParse(body).success && isErrorCode(body.error)) return [status, body];
    this.logger.error(
      `error body outside the catalogue on ${req.method} ${req.originalUrl ?? req.url} (add its code to ERROR_STATUS in libs/contracts/src/errors.ts): ${JSON.stringify(body).slice(0, 500)}`,
    );
    return [500, { error: 'internal', message: `internal error on ${req.method} ${req.route?.path ?? req.path}`, details: [] }];
  }

  private toBody(exception: unknown, req: Request): [number, ErrorBody] {
    if (exception instanceof DomainError) {
      const status = isErrorCode(exception.code) ? errorStatus(exception.code) : exception.status;
      return [status, { error: exception.code, message: exception.message, details: exception.details }];
    }
    const cause = (exception as { cause?: { type?: string } })?.cause ?? (exception as { type?: string });
    if (cause?.type === 'entity.parse.failed') {
      return [400, { error: 'invalid_json', message: 'the request body is not valid JSON', details: [] }];
    }
    if (exception instanceof HttpException) {
      const response = exception.getResponse();
      const message = typeof response === 'string' ? response : String((response as { message?: unknown }).message ?? exception.message);
      const code = errorCodeForStatus(exception.getStatus());
      return [errorStatus(code), { error: code, message, details: [] }];
    }
    if (isBackendUnavailable(exception)) {
      this.logger.warn(`backing service unavailable on ${req.method} ${req.originalUrl ?? req.url}: ${(exception as Error)?.message ?? String(exception)}`);
      return [503, { error: 'unavailable', message: 'a backing service is unavailable; try again shortly', details: [] }];
    }
    this.logger.error(`unhandled error on ${req.method} ${req.originalUrl ?? req.url}: ${(exception as Error)?.stack ?? String(exception)}`);
    return [500, { error: 'internal', message: `internal error on ${req.method} ${req.route?.path ?? req.path}`, details: [] }];
  }
}
