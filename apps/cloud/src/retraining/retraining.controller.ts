import { Controller, Get, Param, Put, Post, Query, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiConflictResponse, ApiCreatedResponse, ApiNotFoundResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ModelNameSchema, RecordIdSchema, RetrainingSettingsSchema, StartRetrainingRequestSchema, type RetrainingSettingsInput } from '@edgeloop/contracts';
import { z } from 'zod';
import { AuthenticatedRequest, RequireRole } from '../auth/auth.guard';
import { ZodBody } from '../http/openapi';
import { ZodValidationPipe } from '../http/zod-validation.pipe';
import { RetrainingService } from './retraining.service';

const ListQuerySchema = z.strictObject({
  model: ModelNameSchema.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

@ApiTags('retraining')
@ApiBearerAuth()
@Controller('retraining')
export class RetrainingController {
  constructor(private readonly retraining: RetrainingService) {}

  @Post('jobs')
  @RequireRole('operator')
  @ApiOperation({ summary: 'Retrain the identity head of a model version: build dataset → train → calibrate → evaluate → register as candidate' })
  @ApiCreatedResponse({ description: 'the queued run' })
  @ApiConflictResponse({ description: 'retraining_in_progress: the model already has a queued or running run (details[0].runId)' })
  @ApiNotFoundResponse({ description: 'unknown model or version, or no production alias' })
  start(@ZodBody(StartRetrainingRequestSchema) body: z.output<typeof StartRetrainingRequestSchema>, @Req() req: AuthenticatedRequest) {
    return this.retraining.start(body, 'manual', req.principal?.tokenId ?? null);
  }

  @Get('jobs')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'Recent retraining runs, newest first (?model=, ?limit=)' })
  async list(@Query(new ZodValidationPipe(ListQuerySchema, 'invalid_query')) query: z.output<typeof ListQuerySchema>) {
    return { runs: await this.retraining.list({ modelName: query.model, limit: query.limit }) };
  }

  @Get('jobs/:id')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'A retraining run: status, step, progress, per-step timings, dataset sizes, evaluation report, candidate' })
  @ApiNotFoundResponse({ description: 'no such run' })
  get(@Param('id', new ZodValidationPipe(RecordIdSchema, 'invalid_id')) id: string) {
    return this.retraining.get(id);
  }

  @Get('settings/:model')
  @RequireRole('viewer')
  @ApiOperation({ summary: "A model's retraining settings (defaults where none are stored)" })
  settings(@Param('model', new ZodValidationPipe(ModelNameSchema, 'invalid_model_name')) model: string) {
    return this.retraining.settings(model);
  }

  @Put('settings/:model')
  @RequireRole('operator')
  @ApiOperation({ summary: "Replace a model's retraining settings (triggers, cool-down, FPIR target, gate, trainer, canary)" })
  putSettings(@Param('model') model: string, @ZodBody(RetrainingSettingsSchema) body: RetrainingSettingsInput) {
    return this.retraining.putSettings(model, body);
  }
}
