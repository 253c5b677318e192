import { connect as connectTcp } from 'node:net';
import { CloudConfig } from '../config/cloud.config';
import type { DeviceRepository } from '../repositories/device.repository';
import { MqttEndpoint } from './mqtt-endpoint';

/** Whether a TCP connection to host:port is accepted. */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connectTcp({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * The embedded broker listens where EDGELOOP_EMBEDDED_BROKER_HOST says (edges on other hosts need a LAN
 * address or 0.0.0.0), and on loopback only by default. 127.0.0.2 stands for "another interface": on Linux
 * the whole 127/8 is local, and a listener on 127.0.0.1 does not accept it.
 */
describe('the embedded broker host (EDGELOOP_EMBEDDED_BROKER_HOST)', () => {
  const devices = {} as DeviceRepository; // no device connects in this test
  let endpoint: MqttEndpoint | undefined;

  afterEach(async () => {
    await endpoint?.onApplicationShutdown();
    endpoint = undefined;
  });

  async function start(env: Record<string, string>): Promise<number> {
    endpoint = new MqttEndpoint(CloudConfig.fromEnv({ EDGELOOP_EMBEDDED_BROKER_PORT: '0', ...env }), devices);
    await endpoint.start();
    return Number(new URL((await endpoint.cloudCredentials()).url).port);
  }

  it('listens on loopback only by default', async () => {
    const port = await start({});
    expect(await accepts('127.0.0.1', port)).toBe(true);
    expect(await accepts('127.0.0.2', port)).toBe(false);
  });

  it('listens on the configured interface', async () => {
    const port = await start({ EDGELOOP_EMBEDDED_BROKER_HOST: '127.0.0.2' });
    expect(await accepts('127.0.0.2', port)).toBe(true);
    expect(await accepts('127.0.0.1', port)).toBe(false);
  });

  it('listens on every interface with 0.0.0.0', async () => {
    const port = await start({ EDGELOOP_EMBEDDED_BROKER_HOST: '0.0.0.0' });
    expect(await accepts('127.0.0.1', port)).toBe(true);
    expect(await accepts('127.0.0.2', port)).toBe(true);
  });
});
