import { createServer, type Socket } from 'node:net';
import { Aedes, type AedesOptions } from 'aedes';
import { silentLogger, type EmbeddedLogger } from './logger';
import { limitMqttPackets, type MqttPacketLimits } from './mqtt-packet-limit';
import { listenOn } from './ports';
import { trackStarted } from './started-handles';

export interface EmbeddedBrokerOptions {
  /** Fixed port; default an ephemeral one chosen by the kernel (no reuse race). */
  port?: number;
  host?: string;
  authenticate?: AedesOptions['authenticate'];
  authorizePublish?: AedesOptions['authorizePublish'];
  authorizeSubscribe?: AedesOptions['authorizeSubscribe'];
  authorizeForward?: AedesOptions['authorizeForward'];
  /** Any other aedes option (persistence, mq, heartbeatInterval, …). */
  aedes?: Omit<AedesOptions, 'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'authorizeForward'>;
  logger?: EmbeddedLogger;
  /**
   * Largest packet and largest CONNECT, checked on the socket from each fixed header before aedes
   * buffers the body (aedes itself has no limit). The cloud passes the limits of @edgeloop/contracts.
   */
  limits?: Partial<MqttPacketLimits>;
}

/** 1 MiB of payload plus 8 KiB for topic and properties; 16 KiB for a CONNECT with its last will. */
export const DEFAULT_MQTT_PACKET_LIMITS: MqttPacketLimits = { maxPacketBytes: 1024 * 1024 + 8 * 1024, maxConnectBytes: 16 * 1024 };

export interface EmbeddedBroker {
  /** `mqtt://127.0.0.1:<port>` */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly broker: Aedes;
  /** Disconnects every client and closes the listener. Safe to call twice. */
  stop(): Promise<void>;
}

/** An in-process MQTT broker (aedes) on a TCP port; the ACL hooks are passed straight to aedes, packet sizes are capped on the socket. */
export async function startEmbeddedBroker(options: EmbeddedBrokerOptions = {}): Promise<EmbeddedBroker> {
  const logger = options.logger ?? silentLogger;
  const host = options.host ?? '127.0.0.1';
  const hooks: AedesOptions = { ...options.aedes };
  if (options.authenticate) hooks.authenticate = options.authenticate;
  if (options.authorizePublish) hooks.authorizePublish = options.authorizePublish;
  if (options.authorizeSubscribe) hooks.authorizeSubscribe = options.authorizeSubscribe;
  if (options.authorizeForward) hooks.authorizeForward = options.authorizeForward;
  const broker = await Aedes.createBroker(hooks);
  broker.on('clientError', (client, error) => logger.warn(`embedded broker: client ${client.id}: ${error.message}`));
  broker.on('connectionError', (client, error) => logger.warn(`embedded broker: connection ${client.id}: ${error.message}`));

  const limits: MqttPacketLimits = { ...DEFAULT_MQTT_PACKET_LIMITS, ...options.limits };
  const sockets = new Set<Socket>();
  // TCP_NODELAY: with Nagle's algorithm a PUBACK written right after another small packet waited for the peer's
  // delayed ACK, 40 ms on Linux — the median QoS 1 publish → PUBACK on loopback was 42 ms, 1 ms without it
  const server = createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    broker.handle(limitMqttPackets(socket, limits, (reason) => logger.warn(`embedded broker: closed ${peer}: ${reason}`)));
  });
  let port: number;
  try {
    port = await listenOn(server, options.port ?? 0, host);
  } catch (error) {
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    throw new Error(`embedded broker: cannot listen on ${host}:${options.port ?? 0}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  logger.log(`embedded MQTT broker (aedes) listening on mqtt://${host}:${port}`);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    })();
    return stopping;
  };

  return trackStarted({ url: `mqtt://${host}:${port}`, host, port, broker, stop });
}
