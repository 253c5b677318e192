/**
 * The test harness: everything @edgeloop/embedded starts (Redis, Mosquitto, s3rver, the aedes broker, binary
 * lookup), plus what only tests use — PostgreSQL clusters and isolated databases, PGlite, a Redis Cluster,
 * a whole stack in one call, and checks that a server really stopped. Production code imports
 * @edgeloop/embedded, never this (eslint.config.mjs enforces it).
 */
export * from '@edgeloop/embedded';
export {
  postgresAvailability,
  startPostgres,
  type PostgresAvailability,
  type PostgresOptions,
  type PostgresServer,
} from './postgres';
export {
  createIsolatedDatabase,
  openPglite,
  startDatabase,
  type DatabaseHandle,
  type DatabaseOptions,
  type PgliteDatabase,
  type PostgresDatabase,
} from './database';
export { startS3Process, type S3ProcessOptions } from './s3-process';
export { startRedisCluster, type RedisCluster, type RedisClusterOptions } from './redis-cluster';
export { startStack, type Stack, type StackBroker, type StackEndpoint, type StackOptions } from './stack';
export { waitUntilStopped, type StopCheck } from './stop-check';
export { seededRandom } from './seeded-random';
export { describeGc } from './gc-entries';
