/**
 * Knobs of the retraining bench, from flags (`npm run bench:retrain -- --sizes 100x20 --runs 3`) or the
 * environment (BENCH_RETRAIN_SIZES, BENCH_RETRAIN_RUNS, BENCH_RETRAIN_METHOD, BENCH_RETRAIN_ACCURACY,
 * BENCH_RETRAIN_PROBE_MS, BENCH_RETRAIN_PROFILE, BENCH_RETRAIN_LOG_LEVEL).
 */
export interface RetrainSize {
  identities: number;
  perIdentity: number;
  /** Target for trigger → candidate registered. */
  targetMs: number;
}

export interface RetrainSettings {
  sizes: RetrainSize[];
  runs: number;
  method: 'auto' | 'prototypes' | 'logistic';
  /** Run the real-photo accuracy scenario. */
  accuracy: boolean;
  probeIntervalMs: number;
  /** One extra run per size with the main thread CPU-profiled. */
  profile: boolean;
  pollMs: number;
  logLevel: string;
}

/** The targets of the retraining issue: 100 × 20 in ≤ 60 s, 1,000 × 10 in ≤ 5 min; other sizes ≤ 5 min. */
function targetFor(identities: number, perIdentity: number): number {
  return identities === 100 && perIdentity === 20 ? 60_000 : 300_000;
}

export function settingsFrom(argv: readonly string[], env: NodeJS.ProcessEnv): RetrainSettings {
  const flag = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const sizesText = flag('sizes') ?? env.BENCH_RETRAIN_SIZES ?? '100x20,1000x10';
  const sizes = sizesText.split(',').map((text) => {
    const match = /^(\d+)x(\d+)$/.exec(text.trim());
    if (!match) throw new Error(`--sizes: "${text}" is not IDENTITIESxPER_IDENTITY`);
    const [identities, perIdentity] = [Number(match[1]), Number(match[2])];
    return { identities, perIdentity, targetMs: targetFor(identities, perIdentity) };
  });
  const runs = Number(flag('runs') ?? env.BENCH_RETRAIN_RUNS ?? 3);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs: ${runs} is not a positive integer`);
  const method = (flag('method') ?? env.BENCH_RETRAIN_METHOD ?? 'auto') as RetrainSettings['method'];
  if (!['auto', 'prototypes', 'logistic'].includes(method)) throw new Error(`--method: ${method} is not auto, prototypes or logistic`);
  const probeIntervalMs = Number(flag('probe-ms') ?? env.BENCH_RETRAIN_PROBE_MS ?? 75);
  if (!(probeIntervalMs >= 10)) throw new Error(`--probe-ms: ${probeIntervalMs} is below 10`);
  return {
    sizes,
    runs,
    method,
    accuracy: !argv.includes('--no-accuracy') && env.BENCH_RETRAIN_ACCURACY !== '0',
    probeIntervalMs,
    profile: argv.includes('--profile') || env.BENCH_RETRAIN_PROFILE === '1',
    pollMs: 250,
    logLevel: env.BENCH_RETRAIN_LOG_LEVEL ?? 'warn',
  };
}
