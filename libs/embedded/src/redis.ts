import { writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { requireBinary } from '@edgeloop/binaries';
import { silentLogger, type EmbeddedLogger } from './logger';
import { RestartableServer, startOnPort, type RestartableServerHandle } from './restartable-server';
import { ServerProcess } from './server-process';
import { makeWorkDir, type WorkDir } from './work-dir';

export interface RedisOptions {
  /** Where the append-only file lives (the embedded mode passes ./data/redis); default a temp dir. */
  dir?: string;
  /** `appendonly yes` (default) so data survives `restart()`. */
  appendOnly?: boolean;
  /** Fixed port; default a free one. */
  port?: number;
  /** `cluster-enabled yes` with its node file in the work dir (see `startRedisCluster`). */
  cluster?: boolean;
  startTimeoutMs?: number;
  logger?: EmbeddedLogger;
}

export interface RedisServer extends RestartableServerHandle {
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  readonly host: string;
}

const HOST = '127.0.0.1';

function redisConfig(port: number, dir: string, appendOnly: boolean, cluster: boolean): string {
  return [
    `bind ${HOST}`,
    `port ${port}`,
    'protected-mode yes',
    'daemonize no',
    `dir "${dir}"`,
    'logfile ""',
    `appendonly ${appendOnly ? 'yes' : 'no'}`,
    'appendfsync everysec',
    'save ""',
    ...(cluster ? ['cluster-enabled yes', 'cluster-config-file nodes.conf', 'cluster-node-timeout 2000'] : []),
    '',
  ].join('\n');
}

/** True once redis answers PING with PONG (not while it still loads the AOF). */
export function pingRedis(port: number, host = HOST, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
    socket.connect(port, host, () => socket.write('PING\r\n'));
  });
}

class RedisServerHandle extends RestartableServer implements RedisServer {
  readonly name = 'redis-server';
  readonly host = HOST;

  constructor(
    port: number,
    workDir: WorkDir,
    private readonly binary: string,
    private readonly appendOnly: boolean,
    private readonly cluster: boolean,
    startTimeoutMs: number,
    logger: EmbeddedLogger,
  ) {
    super(port, workDir, startTimeoutMs, logger);
  }

  get url(): string {
    return `redis://${this.host}:${this.port}`;
  }

  get logFile(): string {
    return join(this.dir, 'redis.log');
  }

  protected spawnProcess(): ServerProcess {
    const configFile = join(this.dir, 'redis.conf');
    writeFileSync(configFile, redisConfig(this.port, this.dir, this.appendOnly, this.cluster));
    return ServerProcess.spawn({
      name: this.name,
      command: this.binary,
      args: [configFile],
      logFile: this.logFile,
      cwd: this.dir,
      stopSignal: 'SIGTERM',
    });
  }

  protected isReady(): Promise<boolean> {
    return pingRedis(this.port, this.host);
  }
}

/** Starts `redis-server` from the PATH on a free port with an append-only file in its dir. */
export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  const binary = requireBinary('redis-server');
  const workDir = makeWorkDir('redis', options.dir);
  return startOnPort(
    workDir,
    options.port,
    (port) =>
      new RedisServerHandle(
        port,
        workDir,
        binary,
        options.appendOnly ?? true,
        options.cluster ?? false,
        options.startTimeoutMs ?? 10_000,
        options.logger ?? silentLogger,
      ),
  );
}
