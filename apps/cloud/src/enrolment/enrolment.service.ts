import { Injectable, Logger } from '@nestjs/common';
import {
  ENROLMENT_TOKEN_PREFIX,
  type CreateEnrolmentTokenRequest,
  type CreateEnrolmentTokenResponse,
  type EnrolDeviceRequest,
  type EnrolDeviceResponse,
  type EnrolmentTokenState,
  type EnrolmentTokenSummary,
} from '@edgeloop/contracts';
import { randomBytes } from 'node:crypto';
import { ConflictError, DomainError, NotFoundError } from '../errors/domain.errors';
import { AuditRepository } from '../repositories/audit.repository';
import { DeviceService } from '../services/device.service';
import { hashToken } from '../services/token.service';
import { EnrolmentTokenRepository, type ClaimRefusal, type EnrolmentTokenRecord } from './enrolment-token.repository';

const DEFAULT_TTL_SECONDS = 24 * 3600;

/**
 * Enrolment tokens and the enrol-once exchange: a device presents a live token and a fresh nonce, and is
 * provisioned through DeviceService in the token's group with its labels. A refused enrolment creates
 * nothing: the use is taken and the enrolment recorded in one transaction, and given back if provisioning
 * fails.
 */
@Injectable()
export class EnrolmentService {
  private readonly logger = new Logger(EnrolmentService.name);

  constructor(
    private readonly tokens: EnrolmentTokenRepository,
    private readonly devices: DeviceService,
    private readonly audit: AuditRepository,
  ) {}

  async create(request: CreateEnrolmentTokenRequest, actor: string | null): Promise<CreateEnrolmentTokenResponse> {
    const token = `${ENROLMENT_TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
    const record = await this.tokens.insert({
      id: `enr-${randomBytes(6).toString('hex')}`,
      tokenHash: hashToken(token),
      group: request.group,
      labels: request.labels ?? {},
      description: request.description ?? null,
      maxUses: request.maxUses ?? 1,
      expiresAt: new Date(Date.now() + (request.expiresInSeconds ?? DEFAULT_TTL_SECONDS) * 1000),
      createdBy: actor,
    });
    await this.audit.record({ actor, action: 'enrolment-token.create', subject: record.id, details: { group: record.group, maxUses: record.maxUses } });
    return { ...summary(record), token };
  }

  async list(): Promise<EnrolmentTokenSummary[]> {
    return (await this.tokens.list()).map(summary);
  }

  /** Stops new enrolments with the token; devices it enrolled keep their own credentials. */
  async revoke(id: string, actor: string | null): Promise<EnrolmentTokenSummary> {
    if (!(await this.tokens.revoke(id))) throw new NotFoundError(`enrolment token ${id}`);
    await this.audit.record({ actor, action: 'enrolment-token.revoke', subject: id });
    return summary((await this.tokens.get(id))!);
  }

  async enrol(request: EnrolDeviceRequest): Promise<EnrolDeviceResponse> {
    const deviceId = request.deviceId ?? `dev-${randomBytes(6).toString('hex')}`;
    const tokenHash = hashToken(request.token);
    const claimed = await this.tokens.claim(tokenHash, request.nonce, deviceId);
    if ('refused' in claimed) throw refusal(claimed.refused, deviceId);
    try {
      const provisioned = await this.devices.provision(
        { id: deviceId, name: request.name ?? deviceId, group: claimed.token.group, labels: claimed.token.labels },
        `enrolment:${claimed.token.id}`,
      );
      this.logger.log(`device ${deviceId} enrolled with ${claimed.token.id} (${claimed.token.uses}/${claimed.token.maxUses})`);
      return provisioned;
    } catch (err) {
      await this.tokens.release(request.nonce);
      throw err;
    }
  }
}

function refusal(reason: ClaimRefusal, deviceId: string): DomainError {
  switch (reason) {
    case 'unknown':
      return new DomainError(401, 'enrolment_token_invalid', 'the enrolment token is unknown');
    case 'revoked':
      return new DomainError(403, 'enrolment_token_revoked', 'the enrolment token was revoked');
    case 'expired':
      return new DomainError(403, 'enrolment_token_expired', 'the enrolment token has expired');
    case 'used_up':
      return new DomainError(403, 'enrolment_token_used_up', 'the enrolment token has no use left');
    case 'replayed':
      return new DomainError(409, 'enrolment_replayed', 'this enrolment (its nonce) was already made; a device enrols once');
    case 'device_taken':
      return new ConflictError(`device ${deviceId} exists`);
  }
}

export function tokenState(token: EnrolmentTokenRecord, now = new Date()): EnrolmentTokenState {
  if (token.revokedAt) return 'revoked';
  if (token.expiresAt <= now) return 'expired';
  if (token.uses >= token.maxUses) return 'used_up';
  return 'active';
}

function summary(token: EnrolmentTokenRecord): EnrolmentTokenSummary {
  return {
    id: token.id,
    group: token.group,
    labels: token.labels,
    description: token.description,
    maxUses: token.maxUses,
    uses: token.uses,
    state: tokenState(token),
    expiresAt: token.expiresAt.toISOString(),
    createdAt: token.createdAt.toISOString(),
    revokedAt: token.revokedAt?.toISOString() ?? null,
    devices: token.devices,
  };
}
