import type { CallFrame, CpuProfile } from '../common/cpu-profile';

/**
 * The ingest stages a sample of the cloud's main thread belongs to: the first rule (in this order) that a frame of
 * the sample's stack matches names it, so a decode called from the MQTT handler counts as the decode, not as MQTT,
 * and Node's socket code under a BullMQ call as BullMQ. Garbage collection, V8's own time and the bench's probe
 * are told by the sample's innermost frame.
 */
const STAGES: Array<[stage: string, matches: (frame: CallFrame) => boolean]> = [
  ['decode at the MQTT side (decodeDeviceMessage)', (f) => f.functionName === 'decodeDeviceMessage'],
  ['decode again at the worker (predictionBatchOfJob)', (f) => f.functionName === 'predictionBatchOfJob'],
  ['PGlite (statements: WebAssembly and its JavaScript)', (f) => f.url.startsWith('wasm://') || packageOf(f).startsWith('@electric-sql/')],
  ['pg client (PostgreSQL protocol)', (f) => ['pg', 'pg-protocol', 'pg-pool', 'pg-types'].includes(packageOf(f))],
  ['raw payloads to S3 (msgpack, minio)', (f) => ['putRaw', 'putRawBatches', 'storeRaw'].includes(f.functionName) || packageOf(f) === 'minio'],
  [
    'aggregation (bucketing, merging, stored stats read and written)',
    (f) => f.url.includes('/libs/drift/') || ['bucketed', 'mergeAggregates', 'recordBatches', 'incrementCounters', 'writeGroup'].includes(f.functionName),
  ],
  ['queue add (PredictionsQueue → Redis)', (f) => f.url.includes('/apps/cloud/src/queues/') && !f.url.includes('processor')],
  ['MQTT receive in the cloud (channel, quota, dispatch, acks)', (f) => /\/apps\/cloud\/src\/(mqtt|quotas)\//.test(f.url)],
  [
    'BullMQ / ioredis (worker fetch and finish, job JSON)',
    (f) => ['bullmq', 'ioredis', 'redis-parser', 'msgpackr', 'denque', 'cluster-key-slot', 'standard-as-callback'].includes(packageOf(f)),
  ],
  [
    'MQTT libraries (aedes, mqtt.js, mqtt-packet, Nest microservices)',
    (f) =>
      [
        'aedes',
        'aedes-persistence',
        'mqemitter',
        'mqtt-packet',
        'aedes-packet',
        'bl',
        'mqtt',
        'fastparallel',
        'fastfall',
        'fastseries',
        'reusify',
        'hyperid',
        'retimer',
        'readable-stream',
        '@nestjs/microservices',
      ].includes(packageOf(f)),
  ],
  [
    'HTTP (Nest, Express, /metrics, /health)',
    (f) =>
      packageOf(f).startsWith('@nestjs/') ||
      ['express', 'router', 'body-parser', 'prom-client', 'finalhandler', 'send', 'path-to-regexp'].includes(packageOf(f)),
  ],
  ['other cloud code', (f) => f.url.includes('/apps/cloud/')],
  ['other libs code', (f) => f.url.includes('/libs/')],
];

function packageOf(frame: CallFrame): string {
  return /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(frame.url)?.[1] ?? '';
}

/** Main-thread time by ingest stage (`STAGES`), in ms, largest first; idle samples left out. */
export function stageTimes(profile: CpuProfile): Array<{ stage: string; ms: number }> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const stageOf = new Map<number, string | null>();
  const classify = (id: number): string | null => {
    if (stageOf.has(id)) return stageOf.get(id)!;
    const leaf = byId.get(id)!.callFrame;
    let stage: string | null;
    if (leaf.functionName === '(idle)') stage = null;
    else if (leaf.functionName === '(garbage collector)') stage = 'garbage collection';
    else if (leaf.functionName === '(program)' || leaf.functionName === '(root)') stage = 'V8 / native (program)';
    else if (leaf.url === 'node:inspector' || leaf.url.includes('/bench/')) stage = 'bench probe (profiler, timing hooks)';
    else {
      const stack: CallFrame[] = [];
      for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) stack.push(byId.get(at)!.callFrame);
      stage = STAGES.find(([, matches]) => stack.some(matches))?.[0] ?? 'Node.js with no cloud frame (sockets, streams, timers)';
    }
    stageOf.set(id, stage);
    return stage;
  };
  const times = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const stage = classify(id);
    if (stage !== null) times.set(stage, (times.get(stage) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  });
  return [...times.entries()].sort((a, b) => b[1] - a[1]).map(([stage, ms]) => ({ stage, ms }));
}
