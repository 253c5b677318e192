import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, Req } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiBody,
  ApiCreatedResponse,
  ApiForbiddenResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiQuery,
  ApiTags,
  ApiUnauthorizedResponse,
  ApiUnprocessableEntityResponse,
} from '@nestjs/swagger';
import { CreateWebhookRequestSchema, RecordIdSchema, WEBHOOK_ALL_EVENTS, WEBHOOK_EVENT_TYPES } from '@edgeloop/contracts';
import { z } from 'zod';
import { AuthenticatedRequest, RequireRole } from '../auth/auth.guard';
import { ZodValidationPipe } from '../http/zod-validation.pipe';
import { WebhookService } from './webhook.service';

const DeliveriesQuerySchema = z.strictObject({ limit: z.coerce.number().int().min(1).max(500).default(50) });
const idPipe = () => new ZodValidationPipe(RecordIdSchema, 'invalid_id');

const createBody = {
  type: 'object',
  required: ['url', 'events'],
  properties: {
    url: { type: 'string', format: 'uri', example: 'https://hooks.example.com/edgeloop', description: 'http(s); must resolve to public addresses unless EDGELOOP_WEBHOOK_ALLOW covers it' },
    events: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: [...WEBHOOK_EVENT_TYPES, WEBHOOK_ALL_EVENTS] } },
    secret: { type: 'string', minLength: 16, maxLength: 256, description: 'HMAC secret; generated and returned once when absent' },
    description: { type: 'string', maxLength: 500 },
  },
};

const attempt = {
  type: 'object',
  properties: {
    attempt: { type: 'integer' },
    at: { type: 'string', format: 'date-time' },
    statusCode: { type: 'integer', nullable: true },
    latencyMs: { type: 'number' },
    error: { type: 'string', nullable: true },
    responseExcerpt: { type: 'string', nullable: true, maxLength: 1024 },
    nextRetryAt: { type: 'string', format: 'date-time', nullable: true },
  },
};

const delivery = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    webhookId: { type: 'string' },
    eventId: { type: 'string' },
    event: { enum: [...WEBHOOK_EVENT_TYPES] },
    status: { enum: ['pending', 'succeeded', 'failed'] },
    redeliveryOf: { type: 'string', nullable: true },
    nextRetryAt: { type: 'string', format: 'date-time', nullable: true },
    createdAt: { type: 'string', format: 'date-time' },
    attempts: { type: 'array', items: attempt },
  },
};

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
  @ApiBody({ schema: createBody })
  @ApiCreatedResponse({ description: '{ id, url, events, description, createdAt, secret }' })
  @ApiBadRequestResponse({ description: 'invalid body: not http(s), unknown or repeated event, secret under 16 characters' })
  @ApiUnprocessableEntityResponse({ description: 'webhook_url_refused: the host resolves to a private, loopback, link-local or other non-public address' })
  create(@Body(new ZodValidationPipe(CreateWebhookRequestSchema)) body: z.output<typeof CreateWebhookRequestSchema>, @Req() req: AuthenticatedRequest) {
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
  @ApiOkResponse({ schema: { type: 'object', properties: { deliveries: { type: 'array', items: delivery } } } })
  @ApiBadRequestResponse({ description: 'invalid id or limit' })
  @ApiNotFoundResponse({ description: 'no such webhook' })
  async deliveries(@Param('id', idPipe()) id: string, @Query(new ZodValidationPipe(DeliveriesQuerySchema, 'invalid_query')) query: z.output<typeof DeliveriesQuerySchema>) {
    return { deliveries: await this.webhooks.listDeliveries(id, query.limit) };
  }

  @Post(':id/deliveries/:deliveryId/redeliver')
  @RequireRole('operator')
  @ApiOperation({ summary: 'Deliver the same event again as a new delivery (same body and event id, new delivery id)' })
  @ApiCreatedResponse({ schema: delivery })
  @ApiNotFoundResponse({ description: 'no such webhook, or no such delivery of it' })
  redeliver(@Param('id', idPipe()) id: string, @Param('deliveryId', idPipe()) deliveryId: string, @Req() req: AuthenticatedRequest) {
    return this.webhooks.redeliver(id, deliveryId, req.principal?.tokenId ?? null);
  }
}
