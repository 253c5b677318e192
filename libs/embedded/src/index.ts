/**
 * What the embedded mode (`npm start`) runs on one machine, and what the test harness (@edgeloop/harness)
 * builds on: Redis and Mosquitto spawned on free loopback ports, an S3-protocol server (s3rver) and an MQTT
 * broker (aedes) in this process; binary lookup (re-exported from @edgeloop/binaries). Spawned servers die
 * with the process that started them.
 *
 * `@edgeloop/embedded/broker` loads the broker alone (the cloud: no spawners, no s3rver).
 */
export * from '@edgeloop/binaries';
export type { EmbeddedLogger } from './logger';
export { silentLogger } from './logger';
export { freePort, isListening, isPortFree, listenOn, mentionsAddressInUse } from './ports';
export {
  ServerProcess,
  ServerStartError,
  isProcessAlive,
  readLogTail,
  runningServerProcesses,
  waitUntilReady,
  withPortRetry,
  type ExitStatus,
  type ReadinessOptions,
  type ServerProcessOptions,
} from './server-process';
export { RestartableServer, startOnPort, type RestartableServerHandle } from './restartable-server';
export { chownTo, isRoot, makeWorkDir, removeWorkDir, userIds, type WorkDir } from './work-dir';
export { startedCount, stopAllStarted, trackStarted } from './started-handles';
export { pingRedis, startRedis, type RedisOptions, type RedisServer } from './redis';
export {
  dynamicSecurityPluginPath,
  mosquittoConfig,
  probeMqtt,
  startMosquitto,
  type MosquittoConfig,
  type MosquittoOptions,
  type MosquittoServer,
} from './mosquitto';
export { S3RVER_CREDENTIALS, startS3, type S3ClientOptions, type S3Options, type S3Server } from './s3';
export * from './broker';
