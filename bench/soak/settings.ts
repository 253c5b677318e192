/** What one soak run does; from the command line (`npm run bench:soak -- --minutes 8`). */
export interface SoakSettings {
  /** How long the fleet sends, after it has joined. */
  minutes: number;
  devices: number;
  /** Frames per second of each device and frames per batch: the edge worker's defaults (EDGE_FPS 5, EDGE_BATCH_MAX_ITEMS 25). */
  fps: number;
  framesPerBatch: number;
  /** Each device's retained reported state, as often as the edge worker's heartbeat (EDGE_HEARTBEAT_S 30). */
  heartbeatSeconds: number;
  /** One sample of every series this often; the table prints one row a minute. */
  sampleSeconds: number;
  /** Samples before this are left out of the slopes (capped at a third of the run). */
  warmUpMinutes: number;
  /** The predictions queue keeps completed jobs this long (removeOnComplete age): Redis fills until then. */
  redisFillMinutes: number;
}

const DEFAULTS: SoakSettings = {
  minutes: 30,
  devices: 200,
  fps: 5,
  framesPerBatch: 25,
  heartbeatSeconds: 30,
  sampleSeconds: 15,
  warmUpMinutes: 5,
  redisFillMinutes: 10,
};

const OPTIONS: Record<string, { key: keyof SoakSettings; min: number; max: number }> = {
  '--minutes': { key: 'minutes', min: 1, max: 24 * 60 },
  '--devices': { key: 'devices', min: 1, max: 2000 },
  '--fps': { key: 'fps', min: 0.1, max: 30 },
  '--frames-per-batch': { key: 'framesPerBatch', min: 1, max: 100 },
  '--heartbeat-seconds': { key: 'heartbeatSeconds', min: 1, max: 3600 },
  '--sample-seconds': { key: 'sampleSeconds', min: 1, max: 60 },
  '--warm-up-minutes': { key: 'warmUpMinutes', min: 0, max: 24 * 60 },
};

/** `--name value` pairs over the defaults; an unknown option or a value out of range is an error naming it. */
export function settingsFromArgs(argv: readonly string[]): SoakSettings {
  const settings = { ...DEFAULTS };
  for (let i = 0; i < argv.length; i += 2) {
    const option = OPTIONS[argv[i]];
    if (!option) throw new Error(`unknown option ${argv[i]} (known: ${Object.keys(OPTIONS).join(', ')})`);
    const value = Number(argv[i + 1]);
    if (!Number.isFinite(value) || value < option.min || value > option.max) {
      throw new Error(`${argv[i]} must be a number from ${option.min} to ${option.max} (got ${argv[i + 1] ?? 'nothing'})`);
    }
    settings[option.key] = value;
  }
  return settings;
}

/** Minutes left out of the slopes: the warm-up, at most a third of the run. */
export function warmUpOf(settings: SoakSettings): number {
  return Math.min(settings.warmUpMinutes, settings.minutes / 3);
}
