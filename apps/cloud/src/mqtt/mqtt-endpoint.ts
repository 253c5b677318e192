import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { canDevicePublish, canDeviceSubscribe, MQTT_MAX_CONNECT_BYTES, MQTT_MAX_PACKET_BYTES } from '@edgeloop/contracts';
import { holdReading, startEmbeddedBroker, type EmbeddedBroker } from '@edgeloop/embedded/broker';
import type { Client as AedesClient } from 'aedes';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { CloudConfig } from '../config/cloud.config';
import { DeviceRepository } from '../repositories/device.repository';
import { hashToken } from '../services/token.service';
import { DynsecAdmin } from './dynsec-admin';

const CLOUD_USERNAME = 'edgeloop-cloud';

/**
 * Where the broker is and how device access is enforced on it, with the same rules either way:
 * - embedded (EDGELOOP_EMBEDDED_BROKER_PORT): aedes in this process; its authenticate/authorize hooks
 *   check device credentials in SQL and the topic rules of libs/contracts;
 * - external Mosquitto with MQTT_ACL=dynsec: the cloud drives the dynamic-security plugin over MQTT
 *   (a role per device: publish under its own topics, subscribe to its own desired and acks);
 * - external with MQTT_ACL=none: the broker's own configuration is trusted.
 */
@Injectable()
export class MqttEndpoint implements OnApplicationShutdown {
  private readonly logger = new Logger(MqttEndpoint.name);
  private embedded: EmbeddedBroker | undefined;
  private readonly cloudSecret = randomBytes(24).toString('base64url');
  private dynsec: DynsecAdmin | undefined;
  /** Set by QuotaService: true drops a device's message before the embedded broker forwards it to the cloud. */
  dropBeforeCloud: ((topic: string, bytes: number) => boolean) | undefined;
  /** Set by QuarantineService: true while this replica is cutting a device off (the embedded broker refuses its connects and publishes). */
  refuseDevice: ((deviceId: string) => boolean) | undefined;
  /**
   * Set by QuotaService: for how many ms the embedded broker stops reading a device's connection as it publishes on
   * `topic` (0: not at all) — while the device is over its quota there, so a flood waits in TCP's buffers rather than
   * being read, acknowledged and dropped message by message.
   */
  holdDevice: ((deviceId: string, topic: string) => number) | undefined;
  /** Holds the embedded broker of this process started (Prometheus `edgeloop_quota_read_holds`). */
  readonly counters = { readHolds: 0 };

  constructor(
    private readonly config: CloudConfig,
    private readonly devices: DeviceRepository,
  ) {}

  get mode(): 'embedded' | 'dynsec' | 'none' {
    if (this.config.embeddedBrokerPort !== undefined) return 'embedded';
    return this.config.mqtt?.acl ?? 'none';
  }

  /** Starts the embedded broker when configured; connects the dynamic-security admin otherwise. */
  async start(): Promise<void> {
    if (this.config.embeddedBrokerPort !== undefined) {
      this.embedded = await startEmbeddedBroker({
        port: this.config.embeddedBrokerPort,
        host: this.config.embeddedBrokerHost,
        // aedes buffers a packet whole before parsing it: refuse an oversized one from its header
        limits: { maxPacketBytes: MQTT_MAX_PACKET_BYTES, maxConnectBytes: MQTT_MAX_CONNECT_BYTES },
        logger: this.logger,
        authenticate: (client, username, password, done) => {
          void this.authenticate(client, username, password).then(
            (ok) => done(ok ? null : Object.assign(new Error('bad credentials'), { returnCode: 4 }), ok),
            (err: Error) => done(Object.assign(err, { returnCode: 3 }), false),
          );
        },
        authorizePublish: (client, packet, done) => {
          if (!client) return done(null);
          const allowed = isCloud(client) || (canDevicePublish(client.id, packet.topic) && !this.refuseDevice?.(client.id));
          if (allowed && !isCloud(client)) {
            const holdMs = this.holdDevice?.(client.id, packet.topic) ?? 0;
            if (holdMs > 0 && holdReading(client.conn, holdMs)) this.counters.readHolds++;
          }
          done(allowed ? null : new Error(`${client.id} may not publish to ${packet.topic}`));
        },
        // over quota: dropped (and counted) before the broker writes it to the cloud's connection
        authorizeForward: (client, packet) => (isCloud(client) && this.dropBeforeCloud?.(packet.topic, packet.payload.length) ? null : packet),
        authorizeSubscribe: (client, subscription, done) => {
          if (!client) return done(null, subscription);
          const allowed = isCloud(client) || canDeviceSubscribe(client.id, subscription.topic);
          if (!allowed) this.logger.warn(`refused: ${client.id} subscribing to ${subscription.topic}`);
          // a refused subscription is answered with a failure code, not a disconnect
          done(null, allowed ? subscription : null);
        },
      });
      this.logger.log(`embedded MQTT broker on ${this.embedded.url}`);
    } else if (this.mode === 'dynsec') {
      this.dynsec = new DynsecAdmin(await this.cloudCredentials());
      await this.dynsec.connect();
      await this.dynsec.ensureCloudRole(this.config.mqtt!.username!);
      await this.dynsec.ensureDeviceRoles();
    }
  }

  /** The URL devices connect to (returned at provisioning). */
  deviceUrl(): string {
    if (this.embedded) return this.config.mqttPublicUrl ?? this.embedded.url;
    return this.config.mqttPublicUrl ?? this.config.mqtt?.url ?? '';
  }

  /**
   * Client ids and usernames the cloud itself uses on the broker, besides the reserved `edgeloop…`
   * prefix: a device with one of them would take over the cloud's session.
   */
  reservedClientIds(): string[] {
    return [CLOUD_USERNAME, this.config.mqtt?.username, this.config.mqttClientId].filter((id): id is string => id !== undefined);
  }

  async cloudCredentials(): Promise<{ url: string; username?: string; password?: string }> {
    if (this.embedded) return { url: this.embedded.url, username: CLOUD_USERNAME, password: this.cloudSecret };
    if (!this.config.mqtt) throw new Error('MQTT is not configured (MQTT_URL or EDGELOOP_EMBEDDED_BROKER_PORT)');
    return { url: this.config.mqtt.url, username: this.config.mqtt.username, password: this.config.mqtt.password };
  }

  /** Lets a newly provisioned device connect. */
  async addDevice(deviceId: string, mqttPassword: string): Promise<void> {
    await this.dynsec?.addDevice(deviceId, mqttPassword);
  }

  /** Stops a device's credentials at once and disconnects it if connected. */
  async disableDevice(deviceId: string): Promise<void> {
    if (this.dynsec) await this.dynsec.disableDevice(deviceId);
    // aedes keeps connected clients by id (not in its type definitions)
    const client = (this.embedded?.broker as unknown as { clients?: Record<string, AedesClient> } | undefined)?.clients?.[deviceId];
    client?.close();
  }

  async enableDevice(deviceId: string): Promise<void> {
    await this.dynsec?.enableDevice(deviceId);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.dynsec?.close();
    await this.embedded?.stop();
  }

  private async authenticate(client: AedesClient, username: string | undefined, password: Buffer | undefined): Promise<boolean> {
    if (!username || !password) return false;
    if (username === CLOUD_USERNAME) {
      const ok = safeEqual(password.toString(), this.cloudSecret);
      if (ok) (client as AedesClient & { edgeloopCloud?: boolean }).edgeloopCloud = true;
      return ok;
    }
    // a device's username and client id are its id
    if (client.id !== username || this.refuseDevice?.(username)) return false;
    const credentials = await this.devices.credentials(username);
    return credentials !== undefined && safeEqual(hashToken(password.toString()), credentials.mqttPasswordHash);
  }
}

function isCloud(client: AedesClient): boolean {
  return (client as AedesClient & { edgeloopCloud?: boolean }).edgeloopCloud === true;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
