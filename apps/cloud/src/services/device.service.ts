import { Injectable, Optional } from '@nestjs/common';
import {
  isReservedDeviceId,
  SIGNATURE_ALGORITHM,
  type DecodedDeviceMessage,
  type DeviceSummary,
  type ProvisionDeviceRequest,
  type ProvisionDeviceResponse,
} from '@edgeloop/contracts';
import { randomBytes } from 'node:crypto';
import { BadRequestError, ConflictError, NotFoundError } from '../errors/domain.errors';
import { MqttEndpoint } from '../mqtt/mqtt-endpoint';
import { AuditRepository } from '../repositories/audit.repository';
import { DeviceRepository } from '../repositories/device.repository';
import { ManifestSigner } from '../repositories/manifest-signer';
import { hashToken } from './token.service';
import { DomainEvents } from '../events/domain-events';
import { QuotaService } from '../quotas/quota.service';

/** Device provisioning, credentials, presence and reported state. */
@Injectable()
export class DeviceService {
  constructor(
    private readonly devices: DeviceRepository,
    private readonly endpoint: MqttEndpoint,
    private readonly signer: ManifestSigner,
    private readonly audit: AuditRepository,
    private readonly events: DomainEvents,
    @Optional() private readonly quotas?: QuotaService,
  ) {}

  /** Creates a device and returns its credentials once; only their hashes are kept. */
  async provision(request: ProvisionDeviceRequest & { id?: string }, actor: string | null): Promise<ProvisionDeviceResponse & { mqttUrl: string }> {
    const id = request.id ?? `dev-${randomBytes(6).toString('hex')}`;
    if (isReservedDeviceId(id, this.endpoint.reservedClientIds())) {
      // the id is the device's MQTT client id: one equal to the cloud's would take over the cloud's session
      throw new BadRequestError('invalid_body', `device id ${id} is reserved for the cloud's own MQTT clients`, [
        { path: 'id', message: 'reserved: ids starting with "edgeloop" and the cloud\'s MQTT client id and username are not device ids', code: 'reserved' },
      ]);
    }
    if (await this.devices.get(id)) throw new ConflictError(`device ${id} exists`);
    const mqttPassword = randomBytes(24).toString('base64url');
    const httpToken = `eld_${randomBytes(32).toString('base64url')}`;
    const device = await this.devices.insert({
      id,
      name: request.name,
      group: request.group ?? null,
      labels: request.labels ?? {},
      mqttPasswordHash: hashToken(mqttPassword),
      httpTokenHash: hashToken(httpToken),
    });
    await this.endpoint.addDevice(id, mqttPassword);
    await this.audit.record({ actor, action: 'device.provision', subject: id, details: { name: request.name, group: request.group ?? null } });
    const key = this.signer.publicKey();
    return {
      device,
      credentials: { mqtt: { username: id, clientId: id, password: mqttPassword }, http: { token: httpToken } },
      signingKey: { keyId: key.keyId, alg: SIGNATURE_ALGORITHM, publicKey: key.publicKeyPem },
      mqttUrl: this.endpoint.deviceUrl(),
    };
  }

  list(filter: { group?: string } = {}): Promise<DeviceSummary[]> {
    return this.devices.list(filter);
  }

  async get(id: string): Promise<DeviceSummary> {
    const device = await this.devices.get(id);
    if (!device) throw new NotFoundError(`device ${id}`);
    // whether the cloud is dropping its messages over quota, and its quarantine (docs/quotas.md)
    return this.quotas ? { ...device, quota: await this.quotas.status(id).catch(() => undefined) } : device;
  }

  /** Disables (or re-enables) a device: its MQTT and HTTP credentials stop working at once. */
  async setDisabled(id: string, disabled: boolean, actor: string | null): Promise<DeviceSummary> {
    if (!(await this.devices.setDisabled(id, disabled))) throw new NotFoundError(`device ${id}`);
    if (disabled) await this.endpoint.disableDevice(id);
    else await this.endpoint.enableDevice(id);
    await this.audit.record({ actor, action: disabled ? 'device.disable' : 'device.enable', subject: id });
    return this.get(id);
  }

  /** An HTTP device token → the device id, for blob downloads. */
  async authenticateDevice(token: string): Promise<string | undefined> {
    return (await this.devices.findByHttpTokenHash(hashToken(token)))?.id;
  }

  /** Reported state and presence from the MQTT channel. */
  async onDeviceMessage(message: DecodedDeviceMessage, receivedAt: Date): Promise<void> {
    if (message.kind === 'status') {
      await this.devices.setPresence(message.deviceId, message.message.status, message.message.ts, receivedAt);
      await this.events.emit('device.changed', { deviceId: message.deviceId, online: message.message.status === 'online' });
    } else if (message.kind === 'reported') {
      await this.devices.setReported(message.deviceId, message.message, receivedAt);
      await this.events.emit('device.changed', { deviceId: message.deviceId });
    }
  }
}
