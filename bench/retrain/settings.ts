/**
 * Knobs of the retraining bench, from flags (`npm run bench:retrain -- --sizes 100x20 --runs 3`) or the
 * environment (BENCH_RETRAIN_SIZES, BENCH_RETRAIN_RUNS, BENCH_RETRAIN_METHOD, BENCH_RETRAIN_ACCURACY,
 * BENCH_RETRAIN_PROBE_MS, BENCH_RETRAIN_PROFILE, BENCH_RETRAIN_LOG_LEVEL, BENCH_RETRAIN_PRODUCTION,
 * BENCH_RETRAIN_IDLE_CLOUD; BENCH_RETRAIN_PROFILE_FILE keeps the profiled run's raw CPU profile and late ticks for
 * stalls.ts; `--profile-first` or BENCH_RETRAIN_PROFILE=first profiles the first timed run instead — the one that reads
 * every embedding from SQL — and records that run with its profile).
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
  /** The first timed run of each size CPU-profiled (its figures then include the profiler's cost). */
  profileFirstRun: boolean;
  pollMs: number;
  logLevel: string;
  /**
   * The uploaded float32 production head: `blurred` (prototypes at cosine 0.3 to the truth: every row of the
   * first candidate moves) or `trained` (the float32 head the cloud's trainer makes of the same examples, and
   * 1 % new people labelled before run 1: the first retrain of an upload that knows the people).
   */
  production: 'blurred' | 'trained';
  /** Probe a second, idle cloud (its own process) at the same moments as the busy one. */
  idleCloud: boolean;
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
  const production = (flag('production') ?? env.BENCH_RETRAIN_PRODUCTION ?? 'blurred') as RetrainSettings['production'];
  if (!['blurred', 'trained'].includes(production)) throw new Error(`--production: ${production} is not blurred or trained`);
  return {
    sizes,
    runs,
    method,
    accuracy: !argv.includes('--no-accuracy') && env.BENCH_RETRAIN_ACCURACY !== '0',
    probeIntervalMs,
    profile: argv.includes('--profile') || env.BENCH_RETRAIN_PROFILE === '1',
    profileFirstRun: argv.includes('--profile-first') || env.BENCH_RETRAIN_PROFILE === 'first',
    pollMs: 250,
    logLevel: env.BENCH_RETRAIN_LOG_LEVEL ?? 'warn',
    production,
    idleCloud: !argv.includes('--no-idle-cloud') && env.BENCH_RETRAIN_IDLE_CLOUD !== '0',
  };
}
