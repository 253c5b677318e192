import { Controller, Delete, Get, HttpCode, Param, Post, Query, Req } from '@nestjs/common';
import { ApiBadRequestResponse, ApiBearerAuth, ApiCreatedResponse, ApiForbiddenResponse, ApiNoContentResponse, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiQuery, ApiTags, ApiUnauthorizedResponse, ApiUnprocessableEntityResponse } from '@nestjs/swagger';
import { CreateWebhookRequestSchema, RecordIdSchema, WebhookDeliveryListResponseSchema, WebhookDeliverySchema } from '@edgeloop/contracts';
import { z } from 'zod';
import { AuthenticatedRequest, RequireRole } from '../auth/auth.guard';
import { responseBodySchema, ZodBody } from '../http/openapi';
import { ZodValidationPipe } from '../http/zod-validation.pipe';
import { WebhookService } from './webhook.service';

const DeliveriesQuerySchema = z.strictObject({ limit: z.coerce.number().int().min(1).max(500).default(50) });
const idPipe = () => new ZodValidationPipe(RecordIdSchema, 'invalid_id');

@ApiTags('webhooks')
@ApiBearerAuth()
@ApiUnauthorizedResponse({ description: 'no valid bearer token' })
@ApiForbiddenResponse({ description: 'the token role is too low' })
@Controller('webhooks')
export class WebhooksController {
  constructor(private readonly webhooks: WebhookService) {}

  @Post()
  @RequireRole('operator')
  @ApiOperation({ summary: 'Subscribe a URL to webhook events; the signing secret is in this answer only' })
  @ApiCreatedResponse({ description: '{ id, url, events, description, createdAt, secret }' })
  @ApiBadRequestResponse({ description: 'invalid body: not http(s), unknown or repeated event, secret under 16 characters' })
  @ApiUnprocessableEntityResponse({ description: 'webhook_url_refused: the host resolves to a private, loopback, link-local or other non-public address' })
  create(@ZodBody(CreateWebhookRequestSchema) body: z.output<typeof CreateWebhookRequestSchema>, @Req() req: AuthenticatedRequest) {
    return this.webhooks.create(body, req.principal?.tokenId ?? null);
  }

  @Get()
  @RequireRole('viewer')
  @ApiOperation({ summary: 'List subscriptions (never their secrets)' })
  @ApiOkResponse({ description: '{ webhooks: [{ id, url, events, description, createdAt }] }' })
  async list() {
    return { webhooks: await this.webhooks.list() };
  }

  @Get(':id')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'One subscription (without its secret)' })
  @ApiNotFoundResponse({ description: 'no such webhook' })
  get(@Param('id', idPipe()) id: string) {
    return this.webhooks.get(id);
  }

  @Delete(':id')
  @RequireRole('operator')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a subscription with its delivery log; pending retries stop' })
  @ApiNoContentResponse({ description: 'deleted' })
  @ApiNotFoundResponse({ description: 'no such webhook' })
  async delete(@Param('id', idPipe()) id: string, @Req() req: AuthenticatedRequest): Promise<void> {
    await this.webhooks.delete(id, req.principal?.tokenId ?? null);
  }

  @Get(':id/deliveries')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'Recent deliveries, newest first, each with every attempt (status, latency, answer excerpt, error, next retry)' })
  @ApiQuery({ name: 'limit', required: false, schema: { type: 'integer', minimum: 1, maximum: 500, default: 50 } })
  @ApiOkResponse({ schema: responseBodySchema(WebhookDeliveryListResponseSchema) })
  @ApiBadRequestResponse({ description: 'invalid id or limit' })
  @ApiNotFoundResponse({ description: 'no such webhook' })
  async deliveries(@Param('id', idPipe()) id: string, @Query(new ZodValidationPipe(DeliveriesQuerySchema, 'invalid_query')) query: z.output<typeof DeliveriesQuerySchema>) {
    return { deliveries: await this.webhooks.listDeliveries(id, query.limit) };
  }

  @Post(':id/deliveries/:deliveryId/redeliver')
  @RequireRole('operator')
  @ApiOperation({ summary: 'Deliver the same event again as a new delivery (same body and event id, new delivery id)' })
  @ApiCreatedResponse({ schema: responseBodySchema(WebhookDeliverySchema) })
  @ApiNotFoundResponse({ description: 'no such webhook, or no such delivery of it' })
  redeliver(@Param('id', idPipe()) id: string, @Param('deliveryId', idPipe()) deliveryId: string, @Req() req: AuthenticatedRequest) {
    return this.webhooks.redeliver(id, deliveryId, req.principal?.tokenId ?? null);
  }
}
