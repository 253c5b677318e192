import { Controller, Get, Param, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiNotFoundResponse, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { HEAD_DELTA_CONTENT_TYPE, Sha256Schema } from '@edgeloop/contracts';
import type { Response } from 'express';
import { z } from 'zod';
import { AllowDevices, RequireRole } from '../auth/auth.guard';
import { NotFoundError } from '../errors/domain.errors';
import { ZodValidationPipe } from '../http/zod-validation.pipe';
import { HeadDeltaService } from './head-delta.service';

const DeltaQuerySchema = z.strictObject({ from: Sha256Schema });

/**
 * `GET /api/v1/blobs/{sha256}/delta?from={base sha256}`: the head delta from the head a device has to this
 * head (@edgeloop/contracts `head-delta.ts`) — the one a retraining run stored, or one made now for any two
 * registered heads (`HeadDeltaService`) —, or 404 when none can be made for that pair; the device then
 * downloads the whole blob. The delta is not signed: the device keeps what it rebuilds only when it hashes
 * to the signed manifest's sha256.
 */
@ApiTags('blobs')
@ApiBearerAuth()
@Controller('blobs')
export class HeadDeltaController {
  constructor(private readonly deltas: HeadDeltaService) {}

  @Get(':sha256/delta')
  @RequireRole('viewer')
  @AllowDevices()
  @ApiOperation({ summary: "The delta from a base head (?from=sha256) to this head: the identities that changed; apply it, then check the head's sha256" })
  @ApiResponse({ status: 200, description: `the delta (${HEAD_DELTA_CONTENT_TYPE}, gzip)` })
  @ApiNotFoundResponse({ description: 'no delta can be made from that base to this head (not both registered heads, or heads of other kinds)' })
  async download(
    @Param('sha256', new ZodValidationPipe(Sha256Schema, 'invalid_sha256')) sha256: string,
    @Query(new ZodValidationPipe(DeltaQuerySchema, 'invalid_query')) query: z.output<typeof DeltaQuerySchema>,
    @Res() res: Response,
  ): Promise<void> {
    const delta = await this.deltas.delta(sha256, query.from);
    if (!delta) throw new NotFoundError(`a delta from head ${query.from} to ${sha256}`);
    res.status(200);
    res.setHeader('Content-Type', HEAD_DELTA_CONTENT_TYPE);
    res.setHeader('Content-Length', String(delta.length));
    res.setHeader('Cache-Control', 'private, max-age=31536000, immutable');
    res.end(delta);
  }
}
