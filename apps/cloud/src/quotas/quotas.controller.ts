import { Controller, Delete, Get, HttpCode, Param, Post, Put, Query, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiConflictResponse, ApiNotFoundResponse, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { DeviceIdSchema, GroupSchema, IsoTimestampSchema } from '@edgeloop/contracts';
import { z } from 'zod';
import { AuthenticatedRequest, RequireRole } from '../auth/auth.guard';
import { CloudConfig } from '../config/cloud.config';
import { BadRequestError, NotFoundError } from '../errors/domain.errors';
import { ZodBody } from '../http/openapi';
import { ZodValidationPipe } from '../http/zod-validation.pipe';
import { DeadLetterRepository } from '../repositories/dead-letter.repository';
import { QuarantineService } from './quarantine.service';
import { QuotaRepository } from './quota.repository';
import { QuotaService } from './quota.service';
import { applyOverride, QuotaOverrideSchema, type QuotaOverride } from './quota-settings';

const DeadLetterQuerySchema = z.strictObject({
  device: DeviceIdSchema.optional(),
  code: z
    .string()
    .regex(/^[a-z0-9_.-]{1,100}$/)
    .optional(),
  since: IsoTimestampSchema.optional(),
  until: IsoTimestampSchema.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().max(200).optional(),
});

/** Cursor of a dead-letter page: `<at ISO>|<id>` in base64url. */
function encodeCursor(next: { at: Date; id: string }): string {
  return Buffer.from(`${next.at.toISOString()}|${next.id}`).toString('base64url');
}

function decodeCursor(cursor: string): { at: Date; id: string } {
  const [at, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const date = new Date(at ?? '');
  if (!id || !/^\d{1,19}$/.test(id) || Number.isNaN(date.getTime())) {
    throw new BadRequestError('invalid_query', 'cursor: not a cursor from a previous page', [{ path: 'cursor', message: 'not a cursor from a previous page' }]);
  }
  return { at: date, id };
}

@ApiTags('quotas')
@ApiBearerAuth()
@Controller()
export class QuotasController {
  constructor(
    private readonly config: CloudConfig,
    private readonly quotas: QuotaService,
    private readonly quarantine: QuarantineService,
    private readonly repository: QuotaRepository,
    private readonly deadLetters: DeadLetterRepository,
  ) {}

  @Get('quotas')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'Default per-device quotas, per-group overrides, quarantine threshold' })
  async settings() {
    const overrides = await this.repository.overrides();
    const settings = this.config.quotas;
    return {
      enabled: settings.enabled,
      defaults: settings.defaults,
      quarantine: settings.quarantine,
      groups: Object.fromEntries([...overrides].map(([group, override]) => [group, { override, effective: applyOverride(settings.defaults, override) }])),
    };
  }

  @Put('quotas/groups/:group')
  @RequireRole('operator')
  @ApiOperation({ summary: "Set a device group's quota override (any subset of the limits; 0 = unlimited)" })
  async setGroup(
    @Param('group', new ZodValidationPipe(GroupSchema, 'invalid_id')) group: string,
    @ZodBody(QuotaOverrideSchema) body: QuotaOverride,
    @Req() req: AuthenticatedRequest,
  ) {
    await this.repository.setOverride(group, body, req.principal?.tokenId ?? null);
    this.quotas.forgetLimits();
    return { group, override: body, effective: applyOverride(this.config.quotas.defaults, body) };
  }

  @Delete('quotas/groups/:group')
  @RequireRole('operator')
  @HttpCode(204)
  @ApiOperation({ summary: "Remove a device group's quota override (its devices get the defaults)" })
  @ApiNotFoundResponse({ description: 'the group has no override' })
  async deleteGroup(@Param('group', new ZodValidationPipe(GroupSchema, 'invalid_id')) group: string) {
    if (!(await this.repository.deleteOverride(group))) throw new NotFoundError(`quota override of group ${group}`);
    this.quotas.forgetLimits();
  }

  @Get('devices/:id/quota')
  @RequireRole('viewer')
  @ApiOperation({ summary: "A device's quota: limits, messages dropped per kind, invalid messages, throttled, quarantine" })
  @ApiNotFoundResponse({ description: 'no such device' })
  async deviceQuota(@Param('id', new ZodValidationPipe(DeviceIdSchema, 'invalid_id')) id: string) {
    if (!(await this.repository.deviceGroup(id))) throw new NotFoundError(`device ${id}`);
    const [status, limits] = await Promise.all([this.quotas.status(id), this.quotas.limitsOf(id)]);
    return { deviceId: id, ...status, limits };
  }

  @Get('quarantines')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'Devices in quarantine now' })
  async quarantines() {
    return { quarantines: await this.quarantine.list() };
  }

  @Post('devices/:id/quarantine/lift')
  @RequireRole('operator')
  @HttpCode(200)
  @ApiOperation({ summary: "Lift a device's quarantine: its buckets and strikes reset and its broker access comes back (unless it is disabled)" })
  @ApiNotFoundResponse({ description: 'no such device' })
  @ApiConflictResponse({ description: 'the device is not quarantined' })
  async lift(@Param('id', new ZodValidationPipe(DeviceIdSchema, 'invalid_id')) id: string, @Req() req: AuthenticatedRequest) {
    return { quarantine: await this.quarantine.lift(id, req.principal?.tokenId ?? null) };
  }

  @Get('dead-letters')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'Dead letters kept (a sample per device and code), newest first, paginated; counts by code in `totals`' })
  @ApiQuery({ name: 'device', required: false })
  @ApiQuery({ name: 'code', required: false })
  @ApiQuery({ name: 'since', required: false, description: 'ISO 8601, inclusive' })
  @ApiQuery({ name: 'until', required: false, description: 'ISO 8601, exclusive' })
  @ApiQuery({ name: 'limit', required: false })
  @ApiQuery({ name: 'cursor', required: false, description: '`next` of the previous page' })
  async listDeadLetters(@Query(new ZodValidationPipe(DeadLetterQuerySchema, 'invalid_query')) query: z.output<typeof DeadLetterQuerySchema>) {
    const page = await this.deadLetters.list({
      deviceId: query.device,
      code: query.code,
      since: query.since ? new Date(query.since) : undefined,
      until: query.until ? new Date(query.until) : undefined,
      limit: query.limit,
      cursor: query.cursor ? decodeCursor(query.cursor) : undefined,
    });
    return { deadLetters: page.deadLetters, next: page.next ? encodeCursor(page.next) : null, totals: await this.deadLetters.totals() };
  }
}
