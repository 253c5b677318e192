import { PipeTransform } from '@nestjs/common';
import { describeZodError, fieldIssues, type ErrorCode } from '@edgeloop/contracts';
import type { z } from 'zod';
import { BadRequestError } from '../errors/domain.errors';

/** Validates a request body (or param) with a zod schema: 400 `invalid_body` naming every bad field. */
export class ZodValidationPipe<S extends z.ZodType> implements PipeTransform<unknown, z.output<S>> {
  constructor(
    readonly schema: S,
    readonly code: ErrorCode = 'invalid_body',
  ) {}

  transform(value: unknown): z.output<S> {
    const parsed = this.schema.safeParse(value);
    if (!parsed.success) throw new BadRequestError(this.code, describeZodError(parsed.error), fieldIssues(parsed.error));
    return parsed.data;
  }
}
