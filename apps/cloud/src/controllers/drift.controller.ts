import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { IsoTimestampSchema, ModelNameSchema } from '@edgeloop/contracts';
import { z } from 'zod';
import { RequireRole } from '../auth/auth.guard';
import { ZodValidationPipe } from '../http/zod-validation.pipe';
import { DriftService } from '../services/drift.service';

const EventsQuerySchema = z.strictObject({
  model: ModelNameSchema.optional(),
  version: z.coerce.number().int().positive().optional(),
  since: IsoTimestampSchema.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

@ApiTags('drift')
@ApiBearerAuth()
@Controller('drift')
export class DriftController {
  constructor(private readonly drift: DriftService) {}

  @Get('events')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'Drift events with their evidence (metric, value, threshold, window, devices), newest first' })
  @ApiQuery({ name: 'model', required: false })
  @ApiQuery({ name: 'version', required: false })
  @ApiQuery({ name: 'since', required: false })
  @ApiQuery({ name: 'limit', required: false })
  async events(@Query(new ZodValidationPipe(EventsQuerySchema, 'invalid_query')) query: z.output<typeof EventsQuerySchema>) {
    return { events: await this.drift.events({ ...query, since: query.since ? new Date(query.since) : undefined }) };
  }
}
