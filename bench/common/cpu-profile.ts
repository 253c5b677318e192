/** Reading a V8 CPU profile of the cloud process: self time by origin and by function, and inclusive time. */

export interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface CpuProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

/** The V8 `.cpuprofile` format, as `Profiler.stop` returns it. */
export interface CpuProfile {
  nodes: CpuProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Sampled time of a profile in ms, unrounded; lists largest first. */
export interface SampledTime {
  /** Every sample, idle ones included. */
  totalMs: number;
  idleMs: number;
  /** Self time of the non-idle samples by origin. */
  byOrigin: Array<{ origin: string; ms: number }>;
  /** Self time of the non-idle samples by function and where it is defined. */
  functions: Array<{ fn: string; where: string; ms: number }>;
  /** Time with each function of `inclusiveOf` on the stack (a sample counted once per name). */
  inclusive: Array<{ fn: string; ms: number }>;
}

/** Self time of every sample, grouped by origin (`originOf`) and by function; and inclusive time of the functions named. */
export function sampledTime(profile: CpuProfile, originOf: (frame: CallFrame) => string, inclusiveOf: readonly string[] = []): SampledTime {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000));
  let total = 0;
  let idle = 0;
  const origins = new Map<string, number>();
  const functions = new Map<string, { fn: string; where: string; ms: number }>();
  const inclusive = new Map<string, number>();
  for (const [id, ms] of self) {
    const frame = byId.get(id)!.callFrame;
    total += ms;
    if (frame.functionName === '(idle)') {
      idle += ms;
      continue;
    }
    const origin = originOf(frame);
    origins.set(origin, (origins.get(origin) ?? 0) + ms);
    const where = frame.url ? `${shortUrl(frame.url)}:${frame.lineNumber + 1}` : '';
    const key = `${frame.functionName}@${where}`;
    const entry = functions.get(key) ?? { fn: frame.functionName || '(anonymous)', where, ms: 0 };
    entry.ms += ms;
    functions.set(key, entry);
    if (inclusiveOf.length === 0) continue;
    // every distinct function of interest on this sample's stack gets the sample once
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const name = byId.get(at)!.callFrame.functionName;
      if (inclusiveOf.includes(name) && !seen.has(name)) {
        seen.add(name);
        inclusive.set(name, (inclusive.get(name) ?? 0) + ms);
      }
    }
  }
  return {
    totalMs: total,
    idleMs: idle,
    byOrigin: [...origins.entries()].sort((a, b) => b[1] - a[1]).map(([origin, ms]) => ({ origin, ms })),
    functions: [...functions.values()].sort((a, b) => b.ms - a.ms),
    inclusive: [...inclusive.entries()].sort((a, b) => b[1] - a[1]).map(([fn, ms]) => ({ fn, ms })),
  };
}

/** How a bench names the parts of the cloud process; the first rule that matches a frame names it. */
export interface OriginRules {
  /** By npm package: an entry ending in `/` or `-` (`@nestjs/`, `pg-`) matches the packages it starts, any other the package of that name. */
  packages: Array<[origin: string, packages: readonly string[]]>;
  /** By a part of the compiled file's path (`/dist/apps/cloud/`). */
  code: Array<[origin: string, pathPart: string]>;
  /** The bench's own code in the cloud process (the probe hook) and node:inspector. */
  bench: string;
  /** Node.js internals (`node:` URLs) and builtins without a URL. */
  node: string;
}

/** Which part of the cloud process a frame belongs to, named by `rules`. */
export function originClassifier(rules: OriginRules): (frame: CallFrame) => string {
  const matches = (pkg: string, entry: string) => (entry.endsWith('/') || entry.endsWith('-') ? pkg.startsWith(entry) : pkg === entry);
  return ({ url, functionName }) => {
    if (functionName === '(garbage collector)') return 'garbage collection';
    if (functionName === '(program)' || functionName === '(root)') return 'V8 / native (program)';
    if (url.startsWith('wasm://')) return 'PGlite (Postgres in WebAssembly)';
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1];
    if (pkg) {
      if (pkg.startsWith('@electric-sql/')) return 'PGlite (JavaScript side)';
      return rules.packages.find(([, entries]) => entries.some((entry) => matches(pkg, entry)))?.[0] ?? `other package: ${pkg}`;
    }
    const code = rules.code.find(([, part]) => url.includes(part));
    if (code) return code[0];
    if (url.includes('/dist/bench/') || url === 'node:inspector') return rules.bench;
    if (url.startsWith('node:') || url === '') return rules.node;
    return 'other';
  };
}

function shortUrl(url: string): string {
  const clean = url.replace(/^file:\/\//, '');
  const modules = clean.lastIndexOf('node_modules/');
  if (modules >= 0) return clean.slice(modules + 'node_modules/'.length);
  const dist = clean.lastIndexOf('/dist/');
  return dist >= 0 ? clean.slice(dist + 1) : clean;
}
