import { envTypes } from '@edgeloop/config';
import { BULLMQ_PREFIX } from '@edgeloop/contracts';
import type { ConnectionOptions } from 'bullmq';
import { Cluster, type ClusterNode } from 'ioredis';
import { z } from 'zod';

/**
 * The first `{…}` with something inside, as Redis Cluster reads a key's hash tag: every key of every
 * queue under a prefix holding one lands in one slot, which BullMQ's multi-key Lua scripts need.
 */
export function hashTag(prefix: string): string | undefined {
  const open = prefix.indexOf('{');
  if (open < 0) return undefined;
  const close = prefix.indexOf('}', open + 1);
  return close > open + 1 ? prefix.slice(open + 1, close) : undefined;
}

const HOST_PORT = /^[A-Za-z0-9.-]+:\d{1,5}$|^\[[0-9A-Fa-f:]+\]:\d{1,5}$/;

/** The variables of BullMQ's connection; spread into the cloud's environment schema. */
export const bullmqEnvShape = {
  /** Key prefix of every queue; on Redis Cluster it must hold a hash tag such as `{edgeloop}`. */
  EDGELOOP_BULLMQ_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.:{}-]{1,64}$/, '1-64 of A-Z a-z 0-9 _ . : - { }')
    .default(BULLMQ_PREFIX),
  /** REDIS_URL is a seed node of a Redis Cluster: BullMQ connects through an ioredis `Cluster`. */
  REDIS_CLUSTER: envTypes.bool.default(false),
  /** More seed nodes besides REDIS_URL's, `host:port` separated by commas (the cluster is found from any one). */
  REDIS_CLUSTER_NODES: z
    .string()
    .max(4000)
    .optional()
    .superRefine((text, ctx) => {
      for (const node of (text ?? '').split(',').map((n) => n.trim())) {
        if (!HOST_PORT.test(node)) ctx.addIssue({ code: 'custom', message: `"${node}" is not host:port` });
      }
    }),
};

export interface BullmqSettings {
  prefix: string;
  /** Seed nodes of a Redis Cluster (REDIS_URL's first), or undefined for one Redis server. */
  cluster?: { nodes: ClusterNode[] };
}

type BullmqEnv = { EDGELOOP_BULLMQ_PREFIX: string; REDIS_CLUSTER: boolean; REDIS_CLUSTER_NODES?: string; REDIS_URL?: string };

/** What is wrong with the combination (REDIS_CLUSTER without REDIS_URL or without a hash tag); empty when fine. */
export function bullmqProblems(env: BullmqEnv): string[] {
  const problems: string[] = [];
  if (env.REDIS_CLUSTER && !env.REDIS_URL) problems.push('REDIS_CLUSTER=true needs REDIS_URL (a seed node, and the credentials)');
  if (env.REDIS_CLUSTER && !hashTag(env.EDGELOOP_BULLMQ_PREFIX)) {
    problems.push(`EDGELOOP_BULLMQ_PREFIX: on Redis Cluster the prefix needs a hash tag, e.g. {${env.EDGELOOP_BULLMQ_PREFIX.replace(/[{}]/g, '')}}`);
  }
  if (env.REDIS_CLUSTER_NODES && !env.REDIS_CLUSTER) problems.push('REDIS_CLUSTER_NODES is read only with REDIS_CLUSTER=true');
  return problems;
}

export function bullmqSettings(env: BullmqEnv): BullmqSettings {
  if (!env.REDIS_CLUSTER || !env.REDIS_URL) return { prefix: env.EDGELOOP_BULLMQ_PREFIX };
  const seed = new URL(env.REDIS_URL);
  const extra = (env.REDIS_CLUSTER_NODES ?? '')
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean)
    .map((node) => {
      const colon = node.lastIndexOf(':');
      return { host: node.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(node.slice(colon + 1)) };
    });
  return {
    prefix: env.EDGELOOP_BULLMQ_PREFIX,
    cluster: { nodes: [{ host: seed.hostname.replace(/^\[|\]$/g, ''), port: Number(seed.port || 6379) }, ...extra] },
  };
}

export interface BullmqConnection {
  /** The `prefix` option of every Queue, Worker, QueueEvents and FlowProducer. */
  readonly prefix: string;
  /** The `connection` option: plain options BullMQ turns into its own client, or a `Cluster` this object owns. */
  readonly connection: ConnectionOptions;
  /** Quits the `Cluster` made here, if any (BullMQ does not close a connection it was handed). */
  close(): Promise<void>;
}

/** Longest wait between two attempts to reach Redis again. */
export const REDIS_RETRY_MAX_MS = 2000;

/**
 * How long to wait before reconnect attempt `attempt` (1, 2, …) to Redis: 100 ms doubling up to
 * REDIS_RETRY_MAX_MS, plus up to a quarter of it at random so replicas do not all knock at once. BullMQ's own
 * default (e^attempt ms, at most 20 s) kept the cloud unready and its workers idle for up to 20 s after Redis
 * was back from an outage of ten seconds or more; here the cloud is back within about 2 s of Redis.
 */
export function redisRetryDelay(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(REDIS_RETRY_MAX_MS, 100 * 2 ** Math.min(Math.max(attempt, 1) - 1, 10));
  return Math.round(base + random() * (base / 4));
}

/**
 * The one place BullMQ's connection is built from the configuration: `{ url, maxRetriesPerRequest: null }`
 * for one Redis server, or an ioredis `Cluster` seeded from REDIS_URL (+ REDIS_CLUSTER_NODES) with the
 * URL's credentials and TLS for every node. Call it once per Queue/Worker (or once for a module that
 * shares it) and `close()` after them.
 */
export function createBullmqConnection(config: { redisUrl?: string; bullmq: BullmqSettings }, connectionName?: string): BullmqConnection {
  if (!config.redisUrl) throw new Error('BullMQ needs REDIS_URL');
  const { prefix, cluster } = config.bullmq;
  if (!cluster) {
    return {
      prefix,
      connection: {
        url: config.redisUrl,
        maxRetriesPerRequest: null,
        connectionName,
        retryStrategy: (attempt: number) => redisRetryDelay(attempt),
      } as ConnectionOptions,
      close: async () => undefined,
    };
  }
  const url = new URL(config.redisUrl);
  const client = new Cluster(cluster.nodes, {
    // only the keys that have a value: ioredis reads a present `tls: undefined` as "use TLS"
    redisOptions: {
      ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
      ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
      ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
      ...(connectionName ? { connectionName } : {}),
      maxRetriesPerRequest: null,
    },
    // BullMQ's blocking commands wait on one node; a slot moved meanwhile is followed by MOVED/ASK
    enableOfflineQueue: true,
  });
  return {
    prefix,
    connection: client,
    close: async () => {
      if (client.status !== 'end') client.disconnect();
    },
  };
}
