import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import {
  chownTo,
  debianPackageFor,
  findBinary,
  findPostgresBinDir,
  isRoot,
  makeWorkDir,
  MissingBinaryError,
  readLogTail,
  RestartableServer,
  ServerProcess,
  ServerStartError,
  silentLogger,
  startOnPort,
  userIds,
  type EmbeddedLogger,
  type RestartableServerHandle,
  type WorkDir,
} from '@edgeloop/embedded';

export interface PostgresOptions {
  /** Directory holding `initdb` and `postgres`; default the newest /usr/lib/postgresql/<v>/bin. */
  binDir?: string;
  /** Cluster directory (initdb runs only when it holds no cluster yet); default a temp dir. */
  dir?: string;
  /** Fixed port; default a free one. */
  port?: number;
  /**
   * PostgreSQL refuses to run as root. When this process is root the cluster is created and run
   * as this user (default `postgres`, which the Debian package creates).
   */
  runAsWhenRoot?: string;
  /** fsync and full-page writes; default off for a temp cluster, on for a given dir. */
  durable?: boolean;
  startTimeoutMs?: number;
  logger?: EmbeddedLogger;
}

export interface PostgresServer extends RestartableServerHandle {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` (trust authentication on loopback). */
  readonly url: string;
  readonly host: string;
  readonly user: string;
  /** The OS user the server runs as. */
  readonly osUser: string | undefined;
}

export type PostgresAvailability =
  | { available: true; binDir: string; runAs: string | undefined }
  | { available: false; reason: string };

const HOST = '127.0.0.1';
const SUPERUSER = 'postgres';

/** Whether `startPostgres()` can work here, and if not, why (for `describe.skip` style guards). */
export function postgresAvailability(options: Pick<PostgresOptions, 'binDir' | 'runAsWhenRoot'> = {}): PostgresAvailability {
  const binDir = findPostgresBinDir(options.binDir);
  if (!binDir) return { available: false, reason: new MissingBinaryError('initdb/postgres', debianPackageFor('postgres')).message };
  if (!isRoot()) return { available: true, binDir, runAs: undefined };
  const runAs = options.runAsWhenRoot ?? 'postgres';
  try {
    userIds(runAs);
  } catch {
    return { available: false, reason: `running as root and user ${runAs} does not exist: PostgreSQL refuses to run as root` };
  }
  if (!findBinary('setpriv') && !findBinary('runuser') && !findBinary('su')) {
    return { available: false, reason: 'running as root and none of setpriv, runuser, su is available to switch user' };
  }
  return { available: true, binDir, runAs };
}

/** True once the server accepts a connection and answers a query. */
async function answersQuery(url: string): Promise<boolean> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function initCluster(binDir: string, dataDir: string, workDir: string, runAs: string | undefined): Promise<void> {
  const logFile = join(workDir, 'initdb.log');
  const initdb = ServerProcess.spawn({
    name: 'initdb',
    command: join(binDir, 'initdb'),
    args: ['-D', dataDir, '-A', 'trust', '-U', SUPERUSER, '-E', 'UTF8', '--locale=C', '--no-sync'],
    logFile,
    cwd: workDir,
    runAs,
  });
  const status = await initdb.exited;
  if (status.code !== 0) {
    throw new ServerStartError('initdb', initdb.describeExit(), logFile, readLogTail(logFile));
  }
}

class PostgresHandle extends RestartableServer implements PostgresServer {
  readonly name = 'postgres';
  readonly host = HOST;
  readonly user = SUPERUSER;

  constructor(
    port: number,
    workDir: WorkDir,
    private readonly binDir: string,
    private readonly dataDir: string,
    readonly osUser: string | undefined,
    private readonly durable: boolean,
    startTimeoutMs: number,
    logger: EmbeddedLogger,
  ) {
    super(port, workDir, startTimeoutMs, logger);
  }

  get url(): string {
    return `postgres://${this.user}@${this.host}:${this.port}/postgres`;
  }

  get logFile(): string {
    return join(this.dir, 'postgres.log');
  }

  protected spawnProcess(): ServerProcess {
    const settings = [
      `listen_addresses=${HOST}`,
      'unix_socket_directories=',
      ...(this.durable ? [] : ['fsync=off', 'synchronous_commit=off', 'full_page_writes=off']),
    ];
    return ServerProcess.spawn({
      name: this.name,
      command: join(this.binDir, 'postgres'),
      args: ['-D', this.dataDir, '-p', String(this.port), ...settings.flatMap((setting) => ['-c', setting])],
      logFile: this.logFile,
      cwd: this.dir,
      runAs: this.osUser,
      // SIGINT is PostgreSQL's "fast" shutdown: it does not wait for clients to disconnect.
      stopSignal: 'SIGINT',
    });
  }

  protected isReady(): Promise<boolean> {
    return answersQuery(this.url);
  }
}

/**
 * Spawns a throwaway PostgreSQL cluster (initdb + postgres) on a free port of 127.0.0.1. As root,
 * both run as the `postgres` user on a work dir chowned to it.
 */
export async function startPostgres(options: PostgresOptions = {}): Promise<PostgresServer> {
  const availability = postgresAvailability(options);
  if (!availability.available) throw new Error(`cannot start PostgreSQL: ${availability.reason}`);
  const { binDir, runAs } = availability;
  const workDir = makeWorkDir('postgres', options.dir);
  const dataDir = join(workDir.path, 'data');
  const initOnce = async (): Promise<void> => {
    if (runAs) chownTo(workDir.path, runAs);
    if (existsSync(join(dataDir, 'PG_VERSION'))) return;
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    if (runAs) chownTo(dataDir, runAs);
    await initCluster(binDir, dataDir, workDir.path, runAs);
  };
  return startOnPort(
    workDir,
    options.port,
    (port) =>
      new PostgresHandle(
        port,
        workDir,
        binDir,
        dataDir,
        runAs,
        options.durable ?? !workDir.owned,
        options.startTimeoutMs ?? 10_000,
        options.logger ?? silentLogger,
      ),
    initOnce,
  );
}
