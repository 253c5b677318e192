import {
  dynamicSecurityPluginPath,
  S3RVER_CREDENTIALS,
  startMosquitto,
  startPostgres,
  startRedis,
  startS3,
  type MosquittoConfig,
  type MosquittoServer,
  type PostgresServer,
  type RedisServer,
  type S3Server,
} from '@edgeloop/harness';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import Redis from 'ioredis';
import { Client } from 'pg';
import { repoRoot } from './cloud-build';
import type { ComposeService } from './compose-file';

/**
 * Where a compose service's addresses and volumes are on this machine when it runs without Docker: its
 * container ports mapped to the free ports the harness picked, its volumes to host folders.
 */
export class ComposeHost {
  /** `service:containerPort` → host port on 127.0.0.1. */
  private readonly ports = new Map<string, number>();
  /** `service|target` → host folder. */
  private readonly volumes = new Map<string, string>();
  private readonly temp: string[] = [];

  constructor(private readonly services: ReadonlyMap<string, ComposeService>) {}

  publish(service: string, containerPort: number, hostPort: number): void {
    this.ports.set(`${service}:${containerPort}`, hostPort);
  }

  port(service: string, containerPort: number): number {
    const port = this.ports.get(`${service}:${containerPort}`);
    if (port === undefined) throw new Error(`nothing runs for ${service}:${containerPort}`);
    return port;
  }

  /** The host folder of a volume of `service`: a bind mount's source in the repository, a temp folder for a named volume. */
  volume(service: string, target: string): string {
    const key = `${service}|${target}`;
    const known = this.volumes.get(key);
    if (known) return known;
    const volume = this.services.get(service)?.volumes.find((v) => v.target === target);
    if (!volume) throw new Error(`${service} has no volume at ${target}`);
    let host: string;
    if (volume.source.startsWith('.') || isAbsolute(volume.source)) {
      host = resolve(repoRoot, volume.source);
    } else {
      host = mkdtempSync(join(tmpdir(), `edgeloop-compose-${volume.source}-`));
      this.temp.push(host);
    }
    this.volumes.set(key, host);
    return host;
  }

  /** A container path of `service` (`/var/lib/edgeloop/x`, `folder:/samples`) with its volume prefix replaced by the host folder. */
  path(service: string, text: string): string {
    for (const volume of this.services.get(service)?.volumes ?? []) {
      const at = new RegExp(`(^|:)${volume.target.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?=/|$)`);
      if (at.test(text)) return text.replace(at, `$1${this.volume(service, volume.target)}`);
    }
    return text;
  }

  /**
   * A value of `service`'s environment as it must read here: a URL whose host is another service points at
   * 127.0.0.1 and the port the harness picked; a bare service name (S3_ENDPOINT) becomes 127.0.0.1; a path
   * under one of `service`'s volumes points into the volume's host folder.
   */
  rewrite(service: string, value: string): string {
    if (this.services.has(value)) return '127.0.0.1';
    const url = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? new URL(value) : undefined;
    if (url && this.services.has(url.hostname)) {
      const port = this.port(url.hostname, Number(url.port));
      return value.replace(`@${url.host}`, `@127.0.0.1:${port}`).replace(`//${url.host}`, `//127.0.0.1:${port}`);
    }
    return this.path(service, value);
  }

  /**
   * `service`'s environment as it must read here: `overrides` first; a listen address 0.0.0.0 → 127.0.0.1; a
   * bare service name (`S3_ENDPOINT: minio`) → 127.0.0.1, with its `…_PORT` sibling (`S3_PORT: "9000"`) → the
   * harness's port; every other value through `rewrite`. Fails if a value still names a service.
   */
  environment(service: ComposeService, overrides: Readonly<Record<string, string>> = {}): Record<string, string> {
    const env: Record<string, string> = {};
    for (const [name, value] of Object.entries(service.environment)) {
      const endpointOf = name.endsWith('_PORT') ? service.environment[name.replace(/_PORT$/, '_ENDPOINT')] : undefined;
      if (overrides[name] !== undefined) env[name] = overrides[name]!;
      else if (value === '0.0.0.0') env[name] = '127.0.0.1';
      else if (endpointOf !== undefined && this.services.has(endpointOf)) env[name] = String(this.port(endpointOf, Number(value)));
      else env[name] = this.rewrite(service.name, value);
    }
    const names = [...this.services.keys()].join('|');
    const left = Object.entries(env).filter(([, value]) => new RegExp(`^(${names})$|(//|@)(${names})(:|/|$)`).test(value));
    if (left.length > 0) throw new Error(`${service.name}: not rewritten: ${left.map(([name, value]) => `${name}=${value}`).join(', ')}`);
    return env;
  }

  /** Removes the folders made for named volumes. */
  remove(): void {
    for (const dir of this.temp) rmSync(dir, { recursive: true, force: true });
  }
}

/** Fails when a service's environment names a variable its stand-in does not apply. */
function onlyKnown(service: ComposeService, known: readonly string[]): void {
  const unknown = Object.keys(service.environment).filter((name) => !known.includes(name));
  if (unknown.length > 0) throw new Error(`${service.name}: the stand-in without Docker does not apply ${unknown.join(', ')}`);
}

/**
 * PostgreSQL from the harness, with the role and database the postgres image creates from POSTGRES_USER,
 * POSTGRES_PASSWORD and POSTGRES_DB (the harness's cluster trusts loopback, so the password is stored, not checked).
 */
export async function startComposePostgres(service: ComposeService, host: ComposeHost): Promise<PostgresServer> {
  onlyKnown(service, ['POSTGRES_USER', 'POSTGRES_PASSWORD', 'POSTGRES_DB']);
  const { POSTGRES_USER: user = 'postgres', POSTGRES_PASSWORD: password, POSTGRES_DB: database = user } = service.environment;
  const postgres = await startPostgres();
  const client = new Client({ connectionString: postgres.url });
  try {
    await client.connect();
    if (user !== 'postgres') await client.query(`create role ${client.escapeIdentifier(user)} login password ${client.escapeLiteral(password ?? '')}`);
    if (database !== 'postgres') await client.query(`create database ${client.escapeIdentifier(database)} owner ${client.escapeIdentifier(user)}`);
  } finally {
    await client.end();
  }
  host.publish(service.name, 5432, postgres.port);
  return postgres;
}

/** redis-server from the harness with the `--name value` options of the compose command (CONFIG SET for all but appendonly). */
export async function startComposeRedis(service: ComposeService, host: ComposeHost): Promise<RedisServer> {
  onlyKnown(service, []);
  const [binary, ...args] = service.command;
  if (binary !== 'redis-server' || args.length % 2 !== 0)
    throw new Error(`${service.name}: expected redis-server --name value …, got ${service.command.join(' ')}`);
  const options = new Map<string, string>();
  for (let i = 0; i < args.length; i += 2) options.set(args[i]!.replace(/^--/, ''), args[i + 1]!);
  const redis = await startRedis({ appendOnly: options.get('appendonly') === 'yes' });
  options.delete('appendonly');
  const client = new Redis(redis.port, '127.0.0.1', { lazyConnect: true });
  try {
    await client.connect();
    for (const [name, value] of options) await client.config('SET', name, value);
  } finally {
    client.disconnect();
  }
  host.publish(service.name, 6379, redis.port);
  return redis;
}

/**
 * Mosquitto from the harness with the compose's own mosquitto.conf (its bind mount) and dynamic security
 * initialised by the compose's own command. Rewritten: the listener (127.0.0.1 and a free port), the
 * persistence folder and the dynamic-security file (the named volume's host folder), the plugin's path
 * (Debian installs it under /usr/lib/<arch>/).
 */
export async function startComposeMosquitto(service: ComposeService, host: ComposeHost): Promise<MosquittoServer> {
  onlyKnown(service, ['MQTT_ADMIN_PASSWORD']);
  const script = service.command.join(' ');
  const [init, run] = script.split(/;\s*/);
  const confTarget = run?.match(/^exec mosquitto -c (\S+)$/)?.[1];
  if (!init?.includes('mosquitto_ctrl dynsec init') || !confTarget) throw new Error(`${service.name}: unexpected command ${script}`);
  // the compose's first-start step, run by the shell as in the container, on the volume's host folder
  execFileSync('/bin/sh', ['-c', init.replace(/(\[ -f |init )(\S+)/g, (_m, lead: string, file: string) => lead + host.path(service.name, file))], {
    env: { PATH: process.env.PATH, MQTT_ADMIN_PASSWORD: service.environment.MQTT_ADMIN_PASSWORD },
  });

  const config: MosquittoConfig & { extraLines: string[] } = { extraLines: [] };
  let port: number | undefined;
  let persistenceDir: string | undefined;
  const lines = readFileSync(host.volume(service.name, confTarget), 'utf8').split('\n');
  for (const line of lines.map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))) {
    const [key, ...rest] = line.split(/\s+/);
    const value = rest.join(' ');
    if (key === 'listener') port = Number(rest[0]);
    else if (key === 'per_listener_settings') {
      if (value !== 'false') throw new Error(`${service.name}: per_listener_settings ${value} is not supported here`);
    } else if (key === 'persistence') config.persistence = value === 'true';
    else if (key === 'persistence_location') persistenceDir = host.path(service.name, value.replace(/\/$/, ''));
    else if (key === 'allow_anonymous') config.allowAnonymous = value === 'true';
    else if (key === 'plugin') {
      if (!value.endsWith('/mosquitto_dynamic_security.so')) throw new Error(`${service.name}: unknown plugin ${value}`);
      config.plugin = dynamicSecurityPluginPath();
    } else if (key === 'plugin_opt_config_file') config.pluginOptions = { config_file: host.path(service.name, value) };
    else if (key === 'max_queued_messages') config.maxQueuedMessages = Number(value);
    else if (key === 'max_queued_bytes') config.maxQueuedBytes = Number(value);
    else config.extraLines.push(line);
  }
  if (port === undefined) throw new Error(`${service.name}: no listener in ${confTarget}`);
  const mosquitto = await startMosquitto({ config, dir: persistenceDir });
  host.publish(service.name, port, mosquitto.port);
  return mosquitto;
}

/**
 * s3rver from the harness in MinIO's place. It accepts one fixed key pair, so the variables MinIO's root user
 * comes from must hold it (the compose passes the same variables to the cloud as S3_ACCESS_KEY/S3_SECRET_KEY).
 */
export async function startComposeS3(service: ComposeService, host: ComposeHost, containerPort = 9000): Promise<S3Server> {
  onlyKnown(service, ['MINIO_ROOT_USER', 'MINIO_ROOT_PASSWORD']);
  const { MINIO_ROOT_USER: user, MINIO_ROOT_PASSWORD: password } = service.environment;
  if (user !== S3RVER_CREDENTIALS.accessKey || password !== S3RVER_CREDENTIALS.secretKey) {
    throw new Error(
      `${service.name}: s3rver takes only ${S3RVER_CREDENTIALS.accessKey}/${S3RVER_CREDENTIALS.secretKey} as MINIO_ROOT_USER/MINIO_ROOT_PASSWORD`,
    );
  }
  const s3 = await startS3();
  host.publish(service.name, containerPort, s3.port);
  return s3;
}
