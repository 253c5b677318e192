import { Logger } from '@nestjs/common';
import { dynsecDeviceAcls, isValidDeviceId, type DynsecAcl } from '@edgeloop/contracts';
import mqtt, { type MqttClient } from 'mqtt';
import { randomBytes } from 'node:crypto';

const CONTROL = '$CONTROL/dynamic-security/v1';
const RESPONSE = `${CONTROL}/response`;
const CLOUD_ROLE = 'edgeloop-cloud';
const DEVICE_ROLE_PREFIX = 'device-';

interface DynsecResponse {
  command: string;
  error?: string;
  correlationData?: string;
  data?: unknown;
}

/**
 * Drives Mosquitto's dynamic-security plugin over its MQTT control topic: one role per device that
 * allows publishing its four edge-to-cloud topics and subscribing to its own desired state and acks, one
 * client per device (username and client id = the device id). Disabling a client disconnects it at once.
 */
export class DynsecAdmin {
  private readonly logger = new Logger(DynsecAdmin.name);
  private client: MqttClient | undefined;
  /** Commands sent and not yet answered, by correlation data: sent again after a reconnect. */
  private readonly pending = new Map<string, { payload: string; kicksSelf: boolean; answer: (response: DynsecResponse) => void }>();
  private connectedOnce = false;

  constructor(private readonly credentials: { url: string; username?: string; password?: string }) {}

  async connect(): Promise<void> {
    const client = mqtt.connect(this.credentials.url, {
      clientId: `edgeloop-dynsec-${randomBytes(6).toString('hex')}`,
      username: this.credentials.username,
      password: this.credentials.password,
      reconnectPeriod: 1000,
    });
    this.client = client;
    client.on('error', (err) => this.logger.warn(`dynamic-security client: ${err.message}`));
    // Another cloud process giving this user a role makes the plugin drop every connection of the user (this
    // one too): a command whose answer was lost with the connection is sent again — they are all idempotent
    // or tolerate their own repetition. A command that itself changed this user's roles is done by then.
    client.on('connect', () => {
      if (!this.connectedOnce) {
        this.connectedOnce = true;
        return;
      }
      for (const entry of this.pending.values()) if (!entry.kicksSelf) client.publish(CONTROL, entry.payload, { qos: 1 });
    });
    client.on('message', (_topic, payload) => {
      try {
        const { responses } = JSON.parse(payload.toString()) as { responses: DynsecResponse[] };
        for (const response of responses ?? []) {
          const entry = response.correlationData ? this.pending.get(response.correlationData) : undefined;
          if (entry) {
            this.pending.delete(response.correlationData!);
            entry.answer(response);
          }
        }
      } catch (err) {
        this.logger.warn(`unreadable dynamic-security response: ${(err as Error).message}`);
      }
    });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    await client.subscribeAsync(RESPONSE, { qos: 1 });
  }

  /** Gives the cloud's own client the right to publish desired states (idempotent). */
  async ensureCloudRole(username: string): Promise<void> {
    await this.command(
      {
        command: 'createRole',
        rolename: CLOUD_ROLE,
        acls: [
          { acltype: 'publishClientSend', topic: 'edgeloop/#', priority: 0, allow: true },
          { acltype: 'publishClientReceive', topic: 'edgeloop/#', priority: 0, allow: true },
          { acltype: 'subscribePattern', topic: 'edgeloop/#', priority: 0, allow: true },
          { acltype: 'subscribePattern', topic: '$share/+/edgeloop/#', priority: 0, allow: true },
        ],
      },
      ['Role already exists'],
    );
    const client = (await this.command({ command: 'getClient', username }, [])) as { client?: { roles?: Array<{ rolename: string }> } } | undefined;
    if (client?.client?.roles?.some((r) => r.rolename === CLOUD_ROLE)) return;
    // the plugin disconnects a client whose roles change, so the answer may be lost: a reconnect counts as done;
    // another cloud process starting at the same moment may have added it first
    await this.command({ command: 'addClientRole', username, rolename: CLOUD_ROLE }, ['Client is already in this role'], { kicksSelf: true });
  }

  /**
   * Adds to every existing device role the ACLs it lacks (a role made before a topic was added — the `acks`
   * subscription — would otherwise refuse it); returns how many entries were added. Idempotent.
   */
  async ensureDeviceRoles(): Promise<number> {
    const data = (await this.command({ command: 'listRoles', verbose: true, count: -1, offset: 0 }, [])) as
      { roles?: Array<{ rolename?: string; acls?: Array<Pick<DynsecAcl, 'acltype' | 'topic'>> }> } | undefined;
    let added = 0;
    for (const role of data?.roles ?? []) {
      const deviceId = role.rolename?.startsWith(DEVICE_ROLE_PREFIX) ? role.rolename.slice(DEVICE_ROLE_PREFIX.length) : undefined;
      if (deviceId === undefined || !isValidDeviceId(deviceId)) continue;
      const has = new Set((role.acls ?? []).map((acl) => `${acl.acltype} ${acl.topic}`));
      for (const acl of dynsecDeviceAcls(deviceId)) {
        if (has.has(`${acl.acltype} ${acl.topic}`)) continue;
        await this.command({ command: 'addRoleACL', rolename: role.rolename, ...acl }, ['ACL with this topic already exists']);
        added++;
      }
    }
    if (added > 0) this.logger.log(`added ${added} missing ACL entries to device roles`);
    return added;
  }

  async addDevice(deviceId: string, password: string): Promise<void> {
    const role = `${DEVICE_ROLE_PREFIX}${deviceId}`;
    await this.command(
      {
        command: 'createRole',
        rolename: role,
        // the same topics as the embedded broker's hooks (libs/contracts acl.ts): the four it publishes, its desired
        acls: dynsecDeviceAcls(deviceId),
      },
      ['Role already exists'],
    );
    await this.command({ command: 'createClient', username: deviceId, clientid: deviceId, password, roles: [{ rolename: role }] }, []);
  }

  async disableDevice(deviceId: string): Promise<void> {
    await this.command({ command: 'disableClient', username: deviceId }, []);
  }

  async enableDevice(deviceId: string): Promise<void> {
    await this.command({ command: 'enableClient', username: deviceId }, []);
  }

  async close(): Promise<void> {
    await this.client?.endAsync().catch(() => undefined);
  }

  private command(command: Record<string, unknown>, tolerated: string[], options: { kicksSelf?: boolean } = {}): Promise<unknown> {
    const client = this.client;
    if (!client) return Promise.reject(new Error('dynamic-security admin is not connected'));
    const correlationData = randomBytes(8).toString('hex');
    const payload = JSON.stringify({ commands: [{ ...command, correlationData }] });
    return new Promise<unknown>((resolve, reject) => {
      const settle = (outcome: () => void) => {
        clearTimeout(timer);
        this.pending.delete(correlationData);
        client.off('connect', reconnected);
        outcome();
      };
      const reconnected = () => settle(() => resolve(undefined));
      if (options.kicksSelf) client.once('connect', reconnected);
      const timer = setTimeout(
        () => settle(() => reject(new Error(`dynamic-security ${String(command.command)}: no answer within 5 s (is the plugin loaded?)`))),
        5000,
      );
      this.pending.set(correlationData, {
        payload,
        kicksSelf: options.kicksSelf === true,
        answer: (response) =>
          settle(() => {
            if (response.error && !tolerated.includes(response.error)) reject(new Error(`dynamic-security ${response.command}: ${response.error}`));
            else resolve(response.data);
          }),
      });
      client.publish(CONTROL, payload, { qos: 1 }, (err) => {
        if (err) settle(() => reject(err));
      });
    });
  }
}
