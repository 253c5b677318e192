export type { HarnessLogger } from './logger';
export { freePort, isListening, isPortFree, listenOn } from './ports';
export {
  MissingBinaryError,
  debianPackageFor,
  findBinary,
  findPostgresBinDir,
  requireBinary,
  requirePostgresBinDir,
  findFfmpeg,
  resolveFfmpeg,
  MissingFfmpegError,
  type FfmpegBinary,
} from './binaries';
export {
  ServerProcess,
  ServerStartError,
  isProcessAlive,
  readLogTail,
  runningServerProcesses,
  waitUntilReady,
  type ExitStatus,
  type ReadinessOptions,
  type ServerProcessOptions,
} from './server-process';
export type { RestartableServerHandle } from './restartable-server';
export { pingRedis, startRedis, type RedisOptions, type RedisServer } from './redis';
export { startRedisCluster, type RedisCluster, type RedisClusterOptions } from './redis-cluster';
export {
  dynamicSecurityPluginPath,
  mosquittoConfig,
  probeMqtt,
  startMosquitto,
  type MosquittoConfig,
  type MosquittoOptions,
  type MosquittoServer,
} from './mosquitto';
export { startEmbeddedBroker, type EmbeddedBroker, type EmbeddedBrokerOptions } from './embedded-broker';
export { S3RVER_CREDENTIALS, startS3, type S3ClientOptions, type S3Options, type S3Server } from './s3';
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
export { startStack, type Stack, type StackBroker, type StackEndpoint, type StackOptions } from './stack';
export { waitUntilStopped, type StopCheck } from './stop-check';
export { startedCount, stopAllStarted } from './started-handles';
