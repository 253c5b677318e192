import { Controller, Get, HttpCode, Param, Post, Query, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiNotFoundResponse, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { GroupSchema, ProvisionDeviceRequestSchema, SetDeviceDisabledRequestSchema } from '@edgeloop/contracts';
import { z } from 'zod';
import { AuthenticatedRequest, RequireRole } from '../auth/auth.guard';
import { ZodBody } from '../http/openapi';
import { ZodValidationPipe } from '../http/zod-validation.pipe';
import { DeviceService } from '../services/device.service';


@ApiTags('devices')
@ApiBearerAuth()
@Controller('devices')
export class DevicesController {
  constructor(private readonly devices: DeviceService) {}

  @Post()
  @RequireRole('operator')
  @ApiOperation({ summary: 'Provision a device; its MQTT and HTTP credentials are in this answer only' })
  @ApiCreatedResponse({ description: '{ device, credentials: { mqtt, http }, signingKey, mqttUrl }' })
  provision(@ZodBody(ProvisionDeviceRequestSchema) body: z.infer<typeof ProvisionDeviceRequestSchema>, @Req() req: AuthenticatedRequest) {
    return this.devices.provision(body, req.principal?.tokenId ?? null);
  }

  @Get()
  @RequireRole('viewer')
  @ApiOperation({ summary: 'Devices with presence, last seen, reported state (version, fps, latency, memory)' })
  @ApiQuery({ name: 'group', required: false })
  async list(@Query('group', new ZodValidationPipe(GroupSchema.optional(), 'invalid_query')) group?: string) {
    return { devices: await this.devices.list({ group }) };
  }

  @Get(':id')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'One device' })
  @ApiNotFoundResponse({ description: 'no such device' })
  get(@Param('id') id: string) {
    return this.devices.get(id);
  }

  @Post(':id/disabled')
  @RequireRole('operator')
  @HttpCode(200)
  @ApiOperation({ summary: 'Disable (or re-enable) a device: its credentials stop working at once' })
  @ApiNotFoundResponse({ description: 'no such device' })
  setDisabled(@Param('id') id: string, @ZodBody(SetDeviceDisabledRequestSchema) body: z.infer<typeof SetDeviceDisabledRequestSchema>, @Req() req: AuthenticatedRequest) {
    return this.devices.setDisabled(id, body.disabled, req.principal?.tokenId ?? null);
  }
}
