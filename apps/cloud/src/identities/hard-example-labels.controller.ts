import { Controller, Get, HttpCode, Post, Query, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import {
  HardExampleClustersQuerySchema,
  LabelHardExamplesRequestSchema,
  type HardExampleClustersResponse,
  type LabelHardExamplesRequest,
  type LabelHardExamplesResponse,
} from '@edgeloop/contracts';
import type { z } from 'zod';
import { AuthenticatedRequest, RequireRole } from '../auth/auth.guard';
import { ZodBody } from '../http/openapi';
import { ZodValidationPipe } from '../http/zod-validation.pipe';
import { HardExampleLabelsService } from './hard-example-labels.service';

/** Bulk labelling and new-person suggestions, next to the one-at-a-time queue of HardExamplesController. */
@ApiTags('hard-examples')
@ApiBearerAuth()
@Controller('hard-examples')
export class HardExampleLabelsController {
  constructor(private readonly labels: HardExampleLabelsService) {}

  @Get('clusters')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'Unknown, unlabelled hard examples grouped into suggested new people' })
  @ApiQuery({ name: 'model', required: false, description: 'whose embedder, e.g. face-id@production (the default)' })
  @ApiQuery({ name: 'threshold', required: false })
  @ApiQuery({ name: 'minSize', required: false })
  @ApiQuery({ name: 'limit', required: false })
  async clusters(
    @Query(new ZodValidationPipe(HardExampleClustersQuerySchema, 'invalid_query')) query: z.output<typeof HardExampleClustersQuerySchema>,
  ): Promise<HardExampleClustersResponse> {
    const { models, considered, clusters } = await this.labels.clusters(query.model, query);
    return {
      model: { ...models.version, embedderSha256: models.embedderSha256 },
      considered,
      clusters: clusters.map((c) => ({
        ids: c.ids,
        size: c.ids.length,
        cohesion: c.cohesion,
        representativeId: c.representativeId,
        representativeCropUrl: c.representativeHasCrop ? `/api/v1/hard-examples/${encodeURIComponent(c.representativeId)}/crop` : null,
      })),
    };
  }

  @Post('labels')
  @RequireRole('operator')
  @HttpCode(200)
  @ApiOperation({ summary: 'Label many hard examples at once (an identity, not a face, or a confirmed unknown); all or nothing' })
  async label(@ZodBody(LabelHardExamplesRequestSchema) body: LabelHardExamplesRequest, @Req() req: AuthenticatedRequest): Promise<LabelHardExamplesResponse> {
    return { labelled: await this.labels.label(body.ids, body.label, req.principal?.tokenId ?? null), label: body.label };
  }
}
