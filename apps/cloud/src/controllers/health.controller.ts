import { Controller, Get, HttpCode, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { HealthService } from '../services/health.service';

@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(private readonly health: HealthService) {}

  @Get()
  @HttpCode(200)
  @ApiOperation({ summary: 'Liveness and readiness of the cloud and each infrastructure component' })
  @ApiOkResponse({ description: 'every component answers' })
  @ApiServiceUnavailableResponse({ description: 'a component is down; the body says which' })
  async get(@Res({ passthrough: true }) res: Response) {
    const report = await this.health.report();
    if (report.status !== 'ok') res.status(503);
    return report;
  }

  @Get('live')
  @HttpCode(200)
  @ApiOperation({ summary: 'Liveness only: the process answers HTTP. No component is checked, so Redis or S3 briefly away does not get it restarted' })
  @ApiOkResponse({ description: '{ status: "ok", version, uptimeSeconds }' })
  live() {
    return this.health.live();
  }
}
