import { Controller, Get, HttpCode, Param, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiNotFoundResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CreateEnrolmentTokenRequestSchema, EnrolDeviceRequestSchema, type CreateEnrolmentTokenRequest, type EnrolDeviceRequest } from '@edgeloop/contracts';
import { AuthenticatedRequest, RequireRole } from '../auth/auth.guard';
import { ZodBody } from '../http/openapi';
import { EnrolmentService } from './enrolment.service';

@ApiTags('enrolment')
@ApiBearerAuth()
@Controller('enrolment-tokens')
export class EnrolmentTokensController {
  constructor(private readonly enrolment: EnrolmentService) {}

  @Post()
  @RequireRole('operator')
  @ApiOperation({ summary: 'Create an enrolment token for a group; the token is in this answer only' })
  @ApiCreatedResponse({ description: '{ id, token, group, labels, maxUses, uses, state, expiresAt, … }' })
  create(@ZodBody(CreateEnrolmentTokenRequestSchema) body: CreateEnrolmentTokenRequest, @Req() req: AuthenticatedRequest) {
    return this.enrolment.create(body, req.principal?.tokenId ?? null);
  }

  @Get()
  @RequireRole('operator')
  @ApiOperation({ summary: 'Enrolment tokens with their state, uses and the devices they enrolled (never the token itself)' })
  async list() {
    return { tokens: await this.enrolment.list() };
  }

  @Post(':id/revoke')
  @RequireRole('operator')
  @HttpCode(200)
  @ApiOperation({ summary: 'Revoke a token: no new enrolment with it; enrolled devices keep working' })
  @ApiNotFoundResponse({ description: 'no such token' })
  revoke(@Param('id') id: string, @Req() req: AuthenticatedRequest) {
    return this.enrolment.revoke(id, req.principal?.tokenId ?? null);
  }
}

/** The device side: no API token; the enrolment token in the body is the credential. */
@ApiTags('enrolment')
@Controller('devices/enrol')
export class DeviceEnrolmentController {
  constructor(private readonly enrolment: EnrolmentService) {}

  @Post()
  @ApiOperation({ summary: 'Enrol a new device once with an enrolment token: returns its id, MQTT and HTTP credentials' })
  @ApiCreatedResponse({ description: '{ device, credentials: { mqtt, http }, signingKey, mqttUrl }' })
  enrol(@ZodBody(EnrolDeviceRequestSchema) body: EnrolDeviceRequest) {
    return this.enrolment.enrol(body);
  }
}
