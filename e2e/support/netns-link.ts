import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

/** Why a network-namespace test cannot run here, or undefined when it can. */
export function namespaceUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (ip netns, tc, nft)';
  for (const tool of ['ip', 'tc', 'nft']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `needs \`${tool}\` on the PATH (apt-get install iproute2 nftables)`;
  }
  const probe = `elprobe${process.pid % 100_000}`;
  const added = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (added.status !== 0) return `network namespaces are not permitted here (ip netns add: ${added.stderr.trim()})`;
  spawnSync('ip', ['netns', 'del', probe]);
  return undefined;
}

export function run(args: string[]): void {
  const result = spawnSync(args[0], args.slice(1), { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${args.join(' ')}: ${result.stderr.trim()}`);
}

/**
 * A network namespace joined to the host by a veth pair, each end shaped to `rateKbit` with tbf (this kernel
 * has no netem): the host end at `hostIp`, the namespace end at `nsIp`, a /30 of its own. Loss is an nftables
 * `numgen random` drop on what the namespace receives, a partition a silent drop both ways (no FIN, no RST),
 * a flap the namespace's end of the pair set down and up again.
 */
export class NetnsLink {
  readonly ns: string;
  readonly hostDev: string;
  readonly nsDev: string;
  readonly hostIp: string;
  readonly nsIp: string;

  /** `tag`: a few letters that keep this link's names apart from another test file's; `octet`: the /30's first address. */
  constructor(tag: string, octet: number) {
    const id = `${process.pid % 10_000}`;
    const subnet = `10.${150 + (process.pid % 50)}.${process.pid % 250}`;
    this.ns = `${tag}-${id}`;
    [this.hostDev, this.nsDev] = [`${tag}${id}a`, `${tag}${id}b`];
    [this.hostIp, this.nsIp] = [`${subnet}.${octet}`, `${subnet}.${octet + 1}`];
  }

  up(rateKbit = 400): void {
    const tbf = ['root', 'tbf', 'rate', `${rateKbit}kbit`, 'burst', '16kbit', 'latency', '400ms'];
    this.remove();
    run(['ip', 'netns', 'add', this.ns]);
    run(['ip', 'link', 'add', this.hostDev, 'type', 'veth', 'peer', 'name', this.nsDev]);
    run(['ip', 'link', 'set', this.nsDev, 'netns', this.ns]);
    run(['ip', 'addr', 'add', `${this.hostIp}/30`, 'dev', this.hostDev]);
    run(['ip', 'link', 'set', this.hostDev, 'up']);
    run(['tc', 'qdisc', 'add', 'dev', this.hostDev, ...tbf]);
    this.inNs('ip', 'addr', 'add', `${this.nsIp}/30`, 'dev', this.nsDev);
    this.inNs('ip', 'link', 'set', this.nsDev, 'up');
    this.inNs('ip', 'link', 'set', 'lo', 'up');
    this.inNs('tc', 'qdisc', 'add', 'dev', this.nsDev, ...tbf);
  }

  inNs(...args: string[]): void {
    run(['ip', 'netns', 'exec', this.ns, ...args]);
  }

  /**
   * `node main` (this process's node) inside the namespace, from `root` with its node_modules, with `env` and
   * PATH only; its stdout and stderr kept together in `output()`.
   */
  spawnNode(root: string, main: string, env: Record<string, string>): { child: ChildProcess; output: () => string } {
    const child = spawn('ip', ['netns', 'exec', this.ns, process.execPath, main], {
      cwd: root,
      env: { PATH: process.env.PATH, NODE_PATH: join(root, 'node_modules'), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    return { child, output: () => output };
  }

  /** Drops `percent` % of the packets the namespace receives, at random (nftables numgen). */
  loss(percent: number): void {
    this.inNs('nft', 'add', 'table', 'inet', 'elloss');
    this.inNs('nft', 'add', 'chain', 'inet', 'elloss', 'in', '{ type filter hook input priority 0 ; }');
    this.inNs('nft', 'add', 'rule', 'inet', 'elloss', 'in', 'iifname', this.nsDev, 'numgen', 'random', 'mod', '100', '<', String(percent), 'counter', 'drop');
  }

  /** Packets the loss rule dropped so far. */
  lossDropped(): number {
    const listed = spawnSync('ip', ['netns', 'exec', this.ns, 'nft', 'list', 'table', 'inet', 'elloss'], { encoding: 'utf8' });
    return Number(/counter packets (\d+)/.exec(listed.stdout)?.[1] ?? 0);
  }

  noLoss(): void {
    this.inNs('nft', 'delete', 'table', 'inet', 'elloss');
  }

  /** A silent partition: everything in and out of the namespace's end dropped. */
  partition(): void {
    this.inNs('nft', 'add', 'table', 'inet', 'elcut');
    this.inNs('nft', 'add', 'chain', 'inet', 'elcut', 'in', '{ type filter hook input priority 0 ; }');
    this.inNs('nft', 'add', 'chain', 'inet', 'elcut', 'out', '{ type filter hook output priority 0 ; }');
    this.inNs('nft', 'add', 'rule', 'inet', 'elcut', 'in', 'iifname', this.nsDev, 'drop');
    this.inNs('nft', 'add', 'rule', 'inet', 'elcut', 'out', 'oifname', this.nsDev, 'drop');
  }

  heal(): void {
    this.inNs('nft', 'delete', 'table', 'inet', 'elcut');
  }

  /** The link goes down (both ends lose carrier) for `ms`, then comes back up. */
  async flap(ms: number): Promise<void> {
    this.inNs('ip', 'link', 'set', this.nsDev, 'down');
    await new Promise((resolve) => setTimeout(resolve, ms));
    this.inNs('ip', 'link', 'set', this.nsDev, 'up');
  }

  /** Deletes the namespace (and with it the veth pair); safe to call when it does not exist. */
  remove(): void {
    spawnSync('ip', ['netns', 'del', this.ns]);
  }
}
