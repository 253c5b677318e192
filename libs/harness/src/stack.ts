import { join } from 'node:path';
import { startDatabase, type DatabaseHandle, type DatabaseOptions } from './database';
import {
  silentLogger,
  startEmbeddedBroker,
  startMosquitto,
  startRedis,
  startS3,
  trackStarted,
  type EmbeddedBroker,
  type EmbeddedBrokerOptions,
  type EmbeddedLogger,
  type MosquittoOptions,
  type MosquittoServer,
  type RedisOptions,
  type RedisServer,
  type S3Options,
  type S3Server,
} from '@edgeloop/embedded';

export interface StackOptions {
  /** MQTT broker: in-process aedes (default) or a spawned mosquitto. */
  broker?: 'embedded' | 'mosquitto';
  /**
   * Persistent root for the embedded mode (e.g. ./data): redis/, s3/, pglite/ (or postgres/),
   * mosquitto/ below it. Default: temp dirs and in-memory PGlite, all removed at stop.
   */
  dataDir?: string;
  redis?: Omit<RedisOptions, 'logger'>;
  mosquitto?: Omit<MosquittoOptions, 'logger'>;
  embeddedBroker?: Omit<EmbeddedBrokerOptions, 'logger'>;
  s3?: Omit<S3Options, 'logger'>;
  database?: Omit<DatabaseOptions, 'logger'>;
  logger?: EmbeddedLogger;
}

export type StackBroker =
  | { readonly kind: 'embedded'; readonly url: string; readonly port: number; readonly embedded: EmbeddedBroker }
  | { readonly kind: 'mosquitto'; readonly url: string; readonly port: number; readonly mosquitto: MosquittoServer };

export interface StackEndpoint {
  readonly service: 'redis' | 'mqtt' | 's3' | 'database';
  /** Where it listens (a URL), or `in-process` for PGlite. */
  readonly url: string;
  readonly detail: string;
}

export interface Stack {
  readonly redis: RedisServer;
  readonly broker: StackBroker;
  readonly s3: S3Server;
  readonly database: DatabaseHandle;
  endpoints(): StackEndpoint[];
  /** One line per service: what listens where. The harness prints nothing itself. */
  describe(): string;
  /** Stops every service in parallel; safe to call twice. */
  stop(): Promise<void>;
}

interface Stoppable {
  stop(): Promise<void>;
}

async function startBroker(options: StackOptions, logger: EmbeddedLogger): Promise<StackBroker> {
  if (options.broker === 'mosquitto') {
    const dir = options.mosquitto?.dir ?? (options.dataDir ? join(options.dataDir, 'mosquitto') : undefined);
    const mosquitto = await startMosquitto({ ...options.mosquitto, dir, logger });
    return { kind: 'mosquitto', url: mosquitto.url, port: mosquitto.port, mosquitto };
  }
  const embedded = await startEmbeddedBroker({ ...options.embeddedBroker, logger });
  return { kind: 'embedded', url: embedded.url, port: embedded.port, embedded };
}

function stopBroker(broker: StackBroker): Promise<void> {
  return broker.kind === 'embedded' ? broker.embedded.stop() : broker.mosquitto.stop();
}

function describeDatabase(database: DatabaseHandle): StackEndpoint {
  if (database.kind === 'pglite') {
    return { service: 'database', url: 'in-process', detail: `PGlite ${database.dir ? `in ${database.dir}` : 'in memory'}` };
  }
  return {
    service: 'database',
    url: database.url,
    detail: database.server ? `PostgreSQL cluster in ${database.server.dir}` : `PostgreSQL database ${database.database}`,
  };
}

async function stopAll(services: readonly Stoppable[]): Promise<void> {
  const results = await Promise.allSettled(services.map((service) => service.stop()));
  const failures = results.filter((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failures.length > 0) {
    throw new AggregateError(failures.map((failure) => failure.reason), 'some services did not stop cleanly');
  }
}

/**
 * Redis, an MQTT broker, an S3 server and a SQL database, started in parallel. When one fails to
 * start the others are stopped again and the error names every failure.
 */
export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const logger = options.logger ?? silentLogger;
  const under = (name: string): string | undefined => (options.dataDir ? join(options.dataDir, name) : undefined);
  const database = options.database ?? {};
  const databaseDir = database.dir ?? under(database.engine === 'postgres' ? 'postgres' : 'pglite');

  const [redis, broker, s3, sql] = await Promise.allSettled([
    startRedis({ ...options.redis, dir: options.redis?.dir ?? under('redis'), logger }),
    startBroker(options, logger),
    startS3({ ...options.s3, dir: options.s3?.dir ?? under('s3'), logger }),
    startDatabase({ ...database, dir: databaseDir, logger }),
  ]);

  if (redis.status === 'rejected' || broker.status === 'rejected' || s3.status === 'rejected' || sql.status === 'rejected') {
    const started: Stoppable[] = [];
    if (redis.status === 'fulfilled') started.push(redis.value);
    if (broker.status === 'fulfilled') started.push({ stop: () => stopBroker(broker.value) });
    if (s3.status === 'fulfilled') started.push(s3.value);
    if (sql.status === 'fulfilled') started.push(sql.value);
    await stopAll(started).catch(() => undefined);
    const reasons = [redis, broker, s3, sql]
      .filter((result): result is PromiseRejectedResult => result.status === 'rejected')
      .map((result) => result.reason as unknown);
    throw new AggregateError(
      reasons,
      `startStack: ${reasons.map((reason) => (reason instanceof Error ? reason.message : String(reason))).join('\n')}`,
    );
  }

  const stack = {
    redis: redis.value,
    broker: broker.value,
    s3: s3.value,
    database: sql.value,
  };
  let stopping: Promise<void> | undefined;
  const endpoints = (): StackEndpoint[] => [
    { service: 'redis', url: stack.redis.url, detail: `redis-server pid ${stack.redis.pid ?? '-'}, AOF in ${stack.redis.dir}` },
    {
      service: 'mqtt',
      url: stack.broker.url,
      detail: stack.broker.kind === 'embedded' ? 'embedded aedes broker' : `mosquitto pid ${stack.broker.mosquitto.pid ?? '-'}`,
    },
    { service: 's3', url: stack.s3.url, detail: `s3rver in ${stack.s3.dir} (access key ${stack.s3.accessKey})` },
    describeDatabase(stack.database),
  ];
  return trackStarted<Stack>({
    ...stack,
    endpoints,
    describe: () => endpoints().map((endpoint) => `${endpoint.service.padEnd(9)}${endpoint.url.padEnd(32)}${endpoint.detail}`).join('\n'),
    stop: () => {
      stopping ??= stopAll([stack.redis, { stop: () => stopBroker(stack.broker) }, stack.s3, stack.database]);
      return stopping;
    },
  });
}
