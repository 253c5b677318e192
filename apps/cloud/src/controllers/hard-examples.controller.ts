import { Controller, Get, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiNotFoundResponse, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { DeviceIdSchema, HARD_EXAMPLE_REASONS, LabelHardExampleRequestSchema, ModelNameSchema, type HardExampleLabel } from '@edgeloop/contracts';
import type { Response } from 'express';
import { z } from 'zod';
import { AuthenticatedRequest, RequireRole } from '../auth/auth.guard';
import { ZodBody } from '../http/openapi';
import { ZodValidationPipe } from '../http/zod-validation.pipe';
import type { HardExampleRecord } from '../repositories/hard-example.repository';
import { HardExampleService } from '../services/hard-example.service';

const ListQuerySchema = z.strictObject({
  model: ModelNameSchema.optional(),
  version: z.coerce.number().int().positive().optional(),
  device: DeviceIdSchema.optional(),
  reason: z.enum(HARD_EXAMPLE_REASONS).optional(),
  labelled: z.enum(['true', 'false']).transform((v) => v === 'true').optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

@ApiTags('hard-examples')
@ApiBearerAuth()
@Controller('hard-examples')
export class HardExamplesController {
  constructor(private readonly examples: HardExampleService) {}

  @Get()
  @RequireRole('viewer')
  @ApiOperation({ summary: 'Hard examples from devices (low score, small margin, unknown), newest first' })
  @ApiQuery({ name: 'model', required: false })
  @ApiQuery({ name: 'version', required: false })
  @ApiQuery({ name: 'device', required: false })
  @ApiQuery({ name: 'reason', required: false, enum: HARD_EXAMPLE_REASONS })
  @ApiQuery({ name: 'labelled', required: false, enum: ['true', 'false'] })
  @ApiQuery({ name: 'limit', required: false })
  async list(@Query(new ZodValidationPipe(ListQuerySchema, 'invalid_query')) query: z.output<typeof ListQuerySchema>) {
    return { hardExamples: (await this.examples.list(query)).map(present) };
  }

  @Post(':id/label')
  @RequireRole('operator')
  @HttpCode(200)
  @ApiOperation({ summary: 'Label a hard example with an identity, or as not a face' })
  @ApiNotFoundResponse({ description: 'no such hard example' })
  async label(@Param('id') id: string, @ZodBody(LabelHardExampleRequestSchema) body: HardExampleLabel, @Req() req: AuthenticatedRequest) {
    return present(await this.examples.label(id, body, req.principal?.tokenId ?? null));
  }

  @Get(':id/crop')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'The JPEG face crop, when the device sent one (checked to decode as a JPEG; never sniffed)' })
  @ApiNotFoundResponse({ description: 'no such example, or it has no (valid) crop' })
  async crop(@Param('id') id: string, @Res() res: Response) {
    const { bytes, contentType } = await this.examples.crop(id);
    res.status(200).setHeader('Content-Type', contentType);
    res.setHeader('Content-Length', String(bytes.length));
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Content-Security-Policy', "default-src 'none'; sandbox");
    res.setHeader('Cache-Control', 'private, max-age=3600');
    res.end(bytes);
  }
}

function present(record: HardExampleRecord) {
  const { cropKey, ...rest } = record;
  return { ...rest, cropUrl: cropKey ? `/api/v1/hard-examples/${encodeURIComponent(record.id)}/crop` : null };
}
