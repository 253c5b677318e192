import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { DomainError } from './domain.errors';

interface ErrorBody {
  error: string;
  message: string;
  details: unknown[];
}

const statusCodes: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  422: 'unprocessable_entity',
  429: 'too_many_requests',
};

/** Maps every error to `{ error, message, details }` with the right status; unknown errors are a logged 500 naming the route. */
@Catch()
export class ErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger(ErrorFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const res = ctx.getResponse<Response>();
    const req = ctx.getRequest<Request>();
    const [status, body] = this.toBody(exception, req);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.status(status).json(body);
  }

  private toBody(exception: unknown, req: Request): [number, ErrorBody] {
    if (exception instanceof DomainError) {
      return [exception.status, { error: exception.code, message: exception.message, details: exception.details }];
    }
    const cause = (exception as { cause?: { type?: string } })?.cause ?? (exception as { type?: string });
    if (cause?.type === 'entity.parse.failed') {
      return [400, { error: 'invalid_json', message: 'the request body is not valid JSON', details: [] }];
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const response = exception.getResponse();
      const message =
        typeof response === 'string'
          ? response
          : String((response as { message?: unknown }).message ?? exception.message);
      return [status, { error: statusCodes[status] ?? `http_${status}`, message, details: [] }];
    }
    this.logger.error(
      `unhandled error on ${req.method} ${req.originalUrl ?? req.url}: ${(exception as Error)?.stack ?? String(exception)}`,
    );
    return [500, { error: 'internal', message: `internal error on ${req.method} ${req.route?.path ?? req.path}`, details: [] }];
  }
}
