import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { PredictionMetricsQuerySchema } from '@edgeloop/contracts';
import { z } from 'zod';
import { RequireRole } from '../auth/auth.guard';
import { ZodValidationPipe } from '../http/zod-validation.pipe';
import { MetricsService } from '../services/metrics.service';

@ApiTags('metrics')
@ApiBearerAuth()
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Get('predictions')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'Prediction aggregates by model version, device or group, and time range' })
  @ApiQuery({ name: 'model', required: false, description: 'name@version or name@alias' })
  @ApiQuery({ name: 'device', required: false })
  @ApiQuery({ name: 'group', required: false })
  @ApiQuery({ name: 'from', required: false, description: 'ISO timestamp' })
  @ApiQuery({ name: 'to', required: false, description: 'ISO timestamp' })
  @ApiQuery({ name: 'bucket', required: false, enum: ['minute', 'hour', 'day'] })
  predictions(@Query(new ZodValidationPipe(PredictionMetricsQuerySchema, 'invalid_query')) query: z.output<typeof PredictionMetricsQuerySchema>) {
    return this.metrics.predictionMetrics({
      model: query.model ? { name: query.model.name, ...(query.model.kind === 'version' ? { version: query.model.version } : { alias: query.model.alias }) } : undefined,
      device: query.device,
      group: query.group,
      from: query.from ? new Date(query.from) : undefined,
      to: query.to ? new Date(query.to) : undefined,
      bucket: query.bucket,
    });
  }
}
