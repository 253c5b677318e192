import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { requireBinary, startRedis, trackStarted, type EmbeddedLogger, type RedisServer } from '@edgeloop/embedded';

const run = promisify(execFile);

export interface RedisClusterOptions {
  /** Primary nodes (no replicas); default 3, the smallest cluster `redis-cli --cluster create` accepts. */
  nodes?: number;
  /** How long to wait for `cluster_state:ok` on every node after the slots are assigned. */
  readyTimeoutMs?: number;
  logger?: EmbeddedLogger;
}

export interface RedisCluster {
  readonly nodes: readonly RedisServer[];
  /** `redis://127.0.0.1:<port>` of the first node: a seed from which a cluster client finds the others. */
  readonly url: string;
  /** `127.0.0.1:<port>` of every node. */
  readonly addresses: readonly string[];
  /** `redis-cli -c -p <first port> <args>` output, trimmed. */
  cli(...args: string[]): Promise<string>;
  /** `redis-cli -p <port of node i> <args>` (no redirects: node-local commands such as DBSIZE), trimmed. */
  nodeCli(index: number, ...args: string[]): Promise<string>;
  /** Stops every node and removes their dirs. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * A Redis Cluster of `nodes` primaries on free ports of 127.0.0.1: each node is `redis-server` with
 * `cluster-enabled yes` (append-only file on), the slots are split by `redis-cli --cluster create …
 * --cluster-replicas 0 --cluster-yes`, and the cluster is returned once every node says
 * `cluster_state:ok`.
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  const redisCli = requireBinary('redis-cli');
  const count = options.nodes ?? 3;
  if (count < 3) throw new Error('a Redis Cluster needs at least 3 primaries');
  const nodes: RedisServer[] = [];
  const stop = async (): Promise<void> => {
    await Promise.allSettled(nodes.map((node) => node.stop()));
  };
  try {
    for (let i = 0; i < count; i++) nodes.push(await startRedis({ cluster: true, logger: options.logger }));
    const addresses = nodes.map((node) => `${node.host}:${node.port}`);
    await run(redisCli, ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 });
    const deadline = Date.now() + (options.readyTimeoutMs ?? 20_000);
    for (const node of nodes) {
      for (;;) {
        const { stdout } = await run(redisCli, ['-h', node.host, '-p', String(node.port), 'cluster', 'info']);
        if (/cluster_state:ok/.test(stdout) && /cluster_known_nodes:(\d+)/.exec(stdout)?.[1] === String(count)) break;
        if (Date.now() > deadline) throw new Error(`redis cluster node ${node.port} not ok:\n${stdout}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    const first = nodes[0];
    return trackStarted({
      nodes,
      url: first.url,
      addresses,
      async cli(...args: string[]) {
        const { stdout } = await run(redisCli, ['-c', '-h', first.host, '-p', String(first.port), ...args]);
        return stdout.trim();
      },
      async nodeCli(index: number, ...args: string[]) {
        const node = nodes[index];
        const { stdout } = await run(redisCli, ['-h', node.host, '-p', String(node.port), ...args]);
        return stdout.trim();
      },
      stop,
    });
  } catch (error) {
    await stop();
    throw error;
  }
}
