import { Controller, Get, HttpCode, Param, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiNotFoundResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CreateDeploymentRequestSchema, RollbackDeploymentRequestSchema } from '@edgeloop/contracts';
import { z } from 'zod';
import { AuthenticatedRequest, RequireRole } from '../auth/auth.guard';
import { ZodBody } from '../http/openapi';
import { RolloutService } from '../services/rollout.service';

@ApiTags('deployments')
@ApiBearerAuth()
@Controller('deployments')
export class DeploymentsController {
  constructor(private readonly rollouts: RolloutService) {}

  @Post()
  @RequireRole('operator')
  @ApiOperation({ summary: 'Roll a model version out to devices (all at once, or canary with batches and a health gate)' })
  @ApiCreatedResponse({ description: 'the deployment with per-device progress' })
  create(@ZodBody(CreateDeploymentRequestSchema) body: z.output<typeof CreateDeploymentRequestSchema>, @Req() req: AuthenticatedRequest) {
    return this.rollouts.create(body, req.principal?.tokenId ?? null);
  }

  @Get()
  @RequireRole('viewer')
  @ApiOperation({ summary: 'Recent deployments' })
  async list() {
    return { deployments: await this.rollouts.list() };
  }

  @Get(':id')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'A deployment with per-device progress' })
  @ApiNotFoundResponse({ description: 'no such deployment' })
  get(@Param('id') id: string) {
    return this.rollouts.get(id);
  }

  @Post(':id/rollback')
  @RequireRole('operator')
  @HttpCode(200)
  @ApiOperation({ summary: 'Put every device this deployment touched back on its previous version' })
  @ApiNotFoundResponse({ description: 'no such deployment' })
  rollback(
    @Param('id') id: string,
    @ZodBody(RollbackDeploymentRequestSchema) body: z.infer<typeof RollbackDeploymentRequestSchema>,
    @Req() req: AuthenticatedRequest,
  ) {
    return this.rollouts.rollback(id, body.reason, req.principal?.tokenId ?? null);
  }
}
