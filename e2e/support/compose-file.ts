import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CORE_SCHEMA, load, mergeTag } from 'js-yaml';
import { repoRoot } from './cloud-build';

export const composeFile = join(repoRoot, 'docker-compose.yml');

/** One service of the compose file after interpolation, with the fields a run without Docker needs. */
export interface ComposeService {
  name: string;
  image?: string;
  /** The Dockerfile it is built from, relative to the repository (`apps/cloud/Dockerfile`). */
  dockerfile?: string;
  command: string[];
  environment: Record<string, string>;
  /** `source:target[:mode]` entries: a source starting with `.` or `/` is a bind mount, any other a named volume. */
  volumes: { source: string; target: string }[];
  /** The restart policy (`no` when the file sets none). */
  restart: string;
}

/**
 * `$$`, `$NAME`, `${NAME}`, `${NAME:-default}`, `${NAME-default}`, `${NAME:?error}`, `${NAME?error}`,
 * `${NAME:+alt}`, `${NAME+alt}` — the interpolation of the Compose specification (no nesting).
 */
const REFERENCE = /\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g;

/** Replaces every reference in `text` as `docker compose` does; a required variable that is unset throws. */
export function interpolate(text: string, variables: Readonly<Record<string, string | undefined>>, where: string): string {
  return text.replace(REFERENCE, (_match, dollar: string | undefined, braced: string | undefined, op: string | undefined, arg = '', bare?: string) => {
    if (dollar) return '$';
    const name = (braced ?? bare)!;
    const value = variables[name];
    const missing = op?.startsWith(':') ? value === undefined || value === '' : value === undefined;
    switch (op) {
      case undefined:
        return value ?? '';
      case ':-':
      case '-':
        return missing ? arg : value!;
      case ':?':
      case '?':
        if (missing) throw new Error(`${where}: required variable ${name} is missing: ${arg}`);
        return value!;
      default:
        return missing ? '' : arg;
    }
  });
}

function interpolateAll(node: unknown, variables: Readonly<Record<string, string | undefined>>, where: string): unknown {
  if (typeof node === 'string') return interpolate(node, variables, where);
  if (Array.isArray(node)) return node.map((item) => interpolateAll(item, variables, where));
  if (node && typeof node === 'object') {
    return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, interpolateAll(value, variables, `${where}.${key}`)]));
  }
  return node;
}

function environmentOf(raw: unknown): Record<string, string> {
  if (raw === undefined || raw === null) return {};
  if (Array.isArray(raw)) {
    return Object.fromEntries(
      raw.map((entry: string) => {
        const at = entry.indexOf('=');
        return at < 0 ? [entry, ''] : [entry.slice(0, at), entry.slice(at + 1)];
      }),
    );
  }
  return Object.fromEntries(Object.entries(raw as Record<string, unknown>).map(([key, value]) => [key, value === null ? '' : String(value)]));
}

/**
 * The compose file's services with every `${…}` replaced from `variables` (the shell environment or the `.env`
 * file of `docker compose up`), anchors and merge keys (`<<: *cloud-env`) resolved.
 */
export function renderCompose(variables: Readonly<Record<string, string | undefined>>, file = composeFile): Map<string, ComposeService> {
  const document = load(readFileSync(file, 'utf8'), { schema: CORE_SCHEMA.withTags(mergeTag) }) as { services: Record<string, Record<string, unknown>> };
  const services = new Map<string, ComposeService>();
  for (const [name, raw] of Object.entries(document.services)) {
    const service = interpolateAll(raw, variables, `services.${name}`) as Record<string, any>;
    const command = service.command === undefined ? [] : Array.isArray(service.command) ? service.command.map(String) : [String(service.command)];
    services.set(name, {
      name,
      image: service.image,
      dockerfile: service.build?.dockerfile,
      command,
      environment: environmentOf(service.environment),
      volumes: ((service.volumes ?? []) as string[]).map((entry) => {
        const [source, target] = entry.split(':');
        return { source: source!, target: target! };
      }),
      restart: service.restart ?? 'no',
    });
  }
  return services;
}

/**
 * Each service's environment as `docker-compose config` renders it with the same variables and no `.env`
 * file, or undefined when docker-compose is not installed. A second opinion on `renderCompose`.
 */
export function environmentsByDockerCompose(variables: Readonly<Record<string, string>>, file = composeFile): Map<string, Record<string, string>> | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'edgeloop-compose-'));
  try {
    const emptyEnvFile = join(dir, 'empty.env');
    writeFileSync(emptyEnvFile, '');
    const run = spawnSync('docker-compose', ['-f', file, '--env-file', emptyEnvFile, 'config'], {
      env: { PATH: process.env.PATH, ...variables },
      encoding: 'utf8',
    });
    if ((run.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return undefined;
    if (run.status !== 0) throw new Error(`docker-compose config failed (${run.status}): ${run.stderr}`);
    const rendered = load(run.stdout) as { services: Record<string, { environment?: unknown }> };
    return new Map(Object.entries(rendered.services).map(([name, service]) => [name, environmentOf(service.environment)]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
