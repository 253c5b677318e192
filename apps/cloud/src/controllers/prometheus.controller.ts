import { Controller, Get, Header } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { PrometheusService } from '../services/prometheus.service';

@ApiTags('health')
@Controller('metrics')
export class PrometheusController {
  constructor(private readonly prometheus: PrometheusService) {}

  @Get()
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  @ApiOperation({
    summary: 'Prometheus metrics (text format); served at /metrics, outside the /api/v1 prefix',
    description: 'Aggregate counters only. No token needed unless EDGELOOP_METRICS_PUBLIC=false, then a viewer token (checked in bootstrap.ts, before routing).',
  })
  metrics(): Promise<string> {
    return this.prometheus.registry.metrics();
  }
}
