import { Controller, Get, Headers, Param, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiNotFoundResponse, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { pipeline } from 'node:stream/promises';
import { AllowDevices, RequireRole } from '../auth/auth.guard';
import { parseRange } from '../http/range';
import { RegistryService } from '../services/registry.service';

@ApiTags('blobs')
@ApiBearerAuth()
@Controller('blobs')
export class BlobsController {
  constructor(private readonly registry: RegistryService) {}

  @Get(':sha256')
  @RequireRole('viewer')
  @AllowDevices()
  @ApiOperation({ summary: 'Download a blob by its sha256; honours a single HTTP Range for resumable downloads' })
  @ApiResponse({ status: 200, description: 'the whole blob' })
  @ApiResponse({ status: 206, description: 'the requested byte range' })
  @ApiResponse({ status: 416, description: 'the range is past the end' })
  @ApiNotFoundResponse({ description: 'no registered version references this blob' })
  async download(@Param('sha256') sha256: string, @Headers('range') range: string | undefined, @Res() res: Response) {
    const size = await this.registry.blobSize(sha256);
    const wanted = parseRange(range, size);
    res.setHeader('Accept-Ranges', 'bytes');
    res.setHeader('ETag', `"${sha256}"`);
    res.setHeader('Content-Type', 'application/octet-stream');
    res.setHeader('Cache-Control', 'private, max-age=31536000, immutable');
    if (wanted.kind === 'unsatisfiable') {
      res.status(416).setHeader('Content-Range', `bytes */${size}`);
      res.json({ error: 'range_not_satisfiable', message: `the blob has ${size} bytes`, details: [] });
      return;
    }
    const [start, end] = wanted.kind === 'partial' ? [wanted.start, wanted.end] : [0, size - 1];
    if (wanted.kind === 'partial') {
      res.status(206).setHeader('Content-Range', `bytes ${start}-${end}/${size}`);
    } else res.status(200);
    res.setHeader('Content-Length', String(end - start + 1));
    if (size === 0) {
      res.end();
      return;
    }
    const body = await this.registry.readBlob(sha256, start, end);
    await pipeline(body, res).catch(() => res.destroy());
  }
}
