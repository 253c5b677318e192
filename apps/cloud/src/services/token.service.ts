import { Injectable, Logger } from '@nestjs/common';
import { createHash, randomBytes } from 'node:crypto';
import { CloudConfig } from '../config/cloud.config';
import { NotFoundError } from '../errors/domain.errors';
import { AuditRepository } from '../repositories/audit.repository';
import { DeviceRepository } from '../repositories/device.repository';
import { TokenRecord, TokenRepository, TokenRole } from '../repositories/token.repository';

export interface Principal {
  tokenId: string;
  name: string;
  /** `device` principals (HTTP device tokens) reach only routes that allow devices. */
  role: TokenRole | 'device';
  deviceId?: string;
}

const rank: Record<TokenRole, number> = { viewer: 1, operator: 2, admin: 3 };

export function roleAllows(have: TokenRole | 'device', need: TokenRole): boolean {
  return have !== 'device' && rank[have] >= rank[need];
}

export function hashToken(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Issues, checks and revokes bearer API tokens. */
@Injectable()
export class TokenService {
  private readonly logger = new Logger(TokenService.name);

  constructor(
    private readonly tokens: TokenRepository,
    private readonly devices: DeviceRepository,
    private readonly audit: AuditRepository,
    private readonly config: CloudConfig,
  ) {}

  async authenticate(secret: string): Promise<Principal | undefined> {
    if (/^eld_[A-Za-z0-9_-]{20,100}$/.test(secret)) {
      const device = await this.devices.findByHttpTokenHash(hashToken(secret));
      return device ? { tokenId: `device:${device.id}`, name: device.id, role: 'device', deviceId: device.id } : undefined;
    }
    if (!/^elt_[A-Za-z0-9_-]{20,100}$/.test(secret) && secret !== this.config.bootstrapToken) return undefined;
    const record = await this.tokens.findActiveByHash(hashToken(secret));
    return record ? { tokenId: record.id, name: record.name, role: record.role } : undefined;
  }

  /** Creates a token; the secret is returned once and only its hash is stored. */
  async issue(name: string, role: TokenRole, actor: string | null): Promise<{ token: string; record: TokenRecord }> {
    const token = `elt_${randomBytes(32).toString('base64url')}`;
    const record = await this.tokens.insert({ id: newId('tok'), name, role, hash: hashToken(token) });
    await this.audit.record({ actor, action: 'token.create', subject: record.id, details: { name, role } });
    return { token, record };
  }

  list(): Promise<TokenRecord[]> {
    return this.tokens.list();
  }

  async revoke(id: string, actor: string | null): Promise<void> {
    if (!(await this.tokens.revoke(id))) throw new NotFoundError(`token ${id}`);
    await this.audit.record({ actor, action: 'token.revoke', subject: id });
  }

  /**
   * At boot: a bootstrap token from the environment is registered as admin (production); with none and no
   * admin yet (embedded first start), an admin token is created and returned so the caller prints it once.
   */
  async bootstrap(): Promise<string | undefined> {
    if (this.config.bootstrapToken) {
      await this.tokens.upsertBootstrap(hashToken(this.config.bootstrapToken));
      return undefined;
    }
    if ((await this.tokens.countActive('admin')) > 0) return undefined;
    const { token } = await this.issue('first-admin', 'admin', null);
    this.logger.log('created the first admin token');
    return token;
  }
}

export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(9).toString('base64url')}`;
}
