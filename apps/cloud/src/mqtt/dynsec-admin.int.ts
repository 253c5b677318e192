import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { dynamicSecurityPluginPath, requireBinary, startMosquitto, stopAllStarted, type MosquittoServer } from '@edgeloop/embedded';
import { DynsecAdmin } from './dynsec-admin';

const plugin = dynamicSecurityPluginPath();
const describeWithPlugin = plugin ? describe : describe.skip;

/**
 * Two cloud processes starting at once on a fresh Mosquitto (the compose stack's API and worker services):
 * each gives the shared admin user the cloud role, and dynamic security drops every connection of a user
 * whose roles change — the other process's admin connection too, with its commands in flight.
 */
describeWithPlugin('DynsecAdmin against Mosquitto with dynamic security', () => {
  let dir: string;
  let mosquitto: MosquittoServer;
  const admins: DynsecAdmin[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'edgeloop-dynsec-admin-'));
    const configFile = join(dir, 'dynamic-security.json');
    execFileSync(requireBinary('mosquitto_ctrl'), ['dynsec', 'init', configFile, 'admin', 'admin-password']);
    mosquitto = await startMosquitto({ config: { allowAnonymous: false, plugin, pluginOptions: { config_file: configFile } } });
  });

  afterAll(async () => {
    for (const admin of admins) await admin.close();
    await stopAllStarted();
    rmSync(dir, { recursive: true, force: true });
  });

  const connectAdmin = async () => {
    const admin = new DynsecAdmin({ url: mosquitto.url, username: 'admin', password: 'admin-password' });
    admins.push(admin);
    await admin.connect();
    return admin;
  };

  it("a command in flight when another process changes the admin user's roles is answered, and both role changes finish", async () => {
    const [a, b] = await Promise.all([connectAdmin(), connectAdmin()]);
    // b keeps asking while a gives the admin user the cloud role, which drops b's connection mid-command
    let asking = true;
    let answered = 0;
    const questions = (async () => {
      while (asking) {
        await b.ensureDeviceRoles();
        answered++;
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 200));
    await a.ensureCloudRole('admin');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    asking = false;
    await questions;
    expect(answered).toBeGreaterThan(0);
    // the second process finds the role there (or adds it at the same moment) and goes on
    await Promise.all([a.ensureCloudRole('admin'), b.ensureCloudRole('admin')]);
    await Promise.all([a.addDevice('cam-1', 'secret-1'), b.addDevice('cam-2', 'secret-2')]);

    // the admin user may now subscribe to device topics (the cloud role), and both devices exist
    const cloud = await mqtt.connectAsync(mosquitto.url, { username: 'admin', password: 'admin-password', reconnectPeriod: 0 });
    const granted = await cloud.subscribeAsync('edgeloop/#', { qos: 1 });
    expect(granted.map((g) => g.qos)).toEqual([1]);
    for (const id of ['cam-1', 'cam-2']) {
      const device = await mqtt.connectAsync(mosquitto.url, { clientId: id, username: id, password: id.replace('cam', 'secret'), reconnectPeriod: 0 });
      await device.endAsync();
    }
    await cloud.endAsync();
  });
});
