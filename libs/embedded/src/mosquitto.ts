import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'mqtt';
import { requireBinary } from '@edgeloop/binaries';
import { silentLogger, type EmbeddedLogger } from './logger';
import { RestartableServer, startOnPort, type RestartableServerHandle } from './restartable-server';
import { ServerProcess } from './server-process';
import { isRoot, makeWorkDir, type WorkDir } from './work-dir';

/** What goes into the generated mosquitto.conf besides the listener. */
export interface MosquittoConfig {
  /** Default true; set false together with a password file or a plugin. */
  allowAnonymous?: boolean;
  /** A file made with `mosquitto_passwd`. */
  passwordFile?: string;
  /** An ACL file (`user`, `topic`, `pattern` lines). */
  aclFile?: string;
  /** Path of a plugin, e.g. `dynamicSecurityPluginPath()`. */
  plugin?: string;
  /** `plugin_opt_<key> <value>` lines, e.g. `{ config_file: '/…/dynamic-security.json' }`. */
  pluginOptions?: Readonly<Record<string, string>>;
  /** Keep retained messages, sessions and queued QoS 1 messages across restarts; default true. */
  persistence?: boolean;
  /**
   * QoS 1/2 messages queued per client beyond those in flight (`max_queued_messages`); past it Mosquitto drops
   * messages for that client, from every publisher. Default 1,000,000 (Mosquitto's own is 1000): the cloud's one
   * subscription carries every device's messages, and a device flooding faster than the cloud drains must not
   * push the others' out before it is quarantined. `0` is unlimited.
   */
  maxQueuedMessages?: number;
  /** QoS 1/2 messages in flight (sent, not yet acknowledged) per client (`max_inflight_messages`); default 100 as in deploy/, `0` unlimited. */
  maxInflightMessages?: number;
  /** Bytes queued per client (`max_queued_bytes`); default 1 GiB, `0` unlimited. */
  maxQueuedBytes?: number;
  /** Appended verbatim. */
  extraLines?: readonly string[];
}

export interface MosquittoOptions {
  config?: MosquittoConfig;
  /** Directory for config, persistence and log; default a temp dir. */
  dir?: string;
  /** Fixed port; default a free one. */
  port?: number;
  startTimeoutMs?: number;
  logger?: EmbeddedLogger;
}

export interface MosquittoServer extends RestartableServerHandle {
  /** `mqtt://127.0.0.1:<port>` */
  readonly url: string;
  readonly host: string;
  readonly configFile: string;
}

const HOST = '127.0.0.1';

/** Path of mosquitto's dynamic-security plugin, if installed. */
export function dynamicSecurityPluginPath(): string | undefined {
  for (const dir of ['/usr/lib', '/usr/local/lib']) {
    const direct = join(dir, 'mosquitto_dynamic_security.so');
    try {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        if (entry.name === 'mosquitto_dynamic_security.so') return direct;
        if (entry.isDirectory() && readdirSync(join(dir, entry.name)).includes('mosquitto_dynamic_security.so')) {
          return join(dir, entry.name, 'mosquitto_dynamic_security.so');
        }
      }
    } catch {
      // directory missing or unreadable
    }
  }
  return undefined;
}

export function mosquittoConfig(port: number, dir: string, config: MosquittoConfig = {}): string {
  const lines: string[] = [];
  // Started as root, mosquitto 2 switches to the `mosquitto` user, which cannot write our temp dir.
  if (isRoot()) lines.push('user root');
  lines.push('per_listener_settings false', `listener ${port} ${HOST}`, `allow_anonymous ${(config.allowAnonymous ?? true) ? 'true' : 'false'}`);
  if (config.persistence ?? true) {
    lines.push('persistence true', `persistence_location ${dir}/`);
  } else {
    lines.push('persistence false');
  }
  lines.push(`max_queued_messages ${config.maxQueuedMessages ?? 1_000_000}`, `max_queued_bytes ${config.maxQueuedBytes ?? 1024 ** 3}`);
  // as deploy/mosquitto/mosquitto.conf: Mosquitto's default (20) let 20 messages of one device the cloud handles
  // slowly (garbage being dead-lettered) hold back every other device's messages at the broker
  lines.push(`max_inflight_messages ${config.maxInflightMessages ?? 100}`);
  // as deploy/: without it a message written right after another small packet waits for the client's delayed
  // ACK (Nagle's algorithm) — a device's publish → the cloud's answer took 42 ms median on loopback, 1 ms with it
  lines.push('set_tcp_nodelay true');
  if (config.passwordFile) lines.push(`password_file ${config.passwordFile}`);
  if (config.aclFile) lines.push(`acl_file ${config.aclFile}`);
  if (config.plugin) lines.push(`plugin ${config.plugin}`);
  for (const [key, value] of Object.entries(config.pluginOptions ?? {})) lines.push(`plugin_opt_${key} ${value}`);
  lines.push('log_dest stdout', 'log_type error', 'log_type warning', 'log_type notice', 'log_type information');
  lines.push('connection_messages true', 'log_timestamp_format %Y-%m-%dT%H:%M:%S');
  lines.push(...(config.extraLines ?? []), '');
  return lines.join('\n');
}

/**
 * True once the broker answers a CONNECT with a CONNACK. A refusal (bad credentials, not
 * authorised) also proves that the broker is up.
 */
export function probeMqtt(url: string, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const client = connect(url, {
      reconnectPeriod: 0,
      connectTimeout: timeoutMs,
      clientId: `edgeloop-embedded-probe-${process.pid}-${Math.random().toString(16).slice(2, 10)}`,
    });
    const done = (ready: boolean): void => {
      client.removeAllListeners();
      client.on('error', () => undefined);
      client.end(true);
      resolve(ready);
    };
    client.once('connect', () => done(true));
    client.once('error', (error: Error & { code?: unknown }) => done(typeof error.code === 'number'));
    client.once('close', () => done(false));
  });
}

class MosquittoHandle extends RestartableServer implements MosquittoServer {
  readonly name = 'mosquitto';
  readonly host = HOST;

  constructor(
    port: number,
    workDir: WorkDir,
    private readonly binary: string,
    private readonly config: MosquittoConfig,
    startTimeoutMs: number,
    logger: EmbeddedLogger,
  ) {
    super(port, workDir, startTimeoutMs, logger);
  }

  get url(): string {
    return `mqtt://${this.host}:${this.port}`;
  }

  get logFile(): string {
    return join(this.dir, 'mosquitto.log');
  }

  get configFile(): string {
    return join(this.dir, 'mosquitto.conf');
  }

  protected spawnProcess(): ServerProcess {
    writeFileSync(this.configFile, mosquittoConfig(this.port, this.dir, this.config));
    return ServerProcess.spawn({
      name: this.name,
      command: this.binary,
      args: ['-c', this.configFile],
      logFile: this.logFile,
      cwd: this.dir,
      stopSignal: 'SIGTERM',
    });
  }

  protected isReady(): Promise<boolean> {
    return probeMqtt(this.url);
  }
}

/** Starts `mosquitto -c <generated conf>` on a free port of 127.0.0.1 with persistence in its dir. */
export async function startMosquitto(options: MosquittoOptions = {}): Promise<MosquittoServer> {
  const binary = requireBinary('mosquitto');
  const workDir = makeWorkDir('mosquitto', options.dir);
  return startOnPort(
    workDir,
    options.port,
    (port) => new MosquittoHandle(port, workDir, binary, options.config ?? {}, options.startTimeoutMs ?? 10_000, options.logger ?? silentLogger),
  );
}
