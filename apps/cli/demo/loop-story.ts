import type { ApiClient } from '@edgeloop/client';
import { apiPaths, identityPaths, type HardExampleClustersResponse, type ModelVersionResponse, type PredictionMetricsResponse } from '@edgeloop/contracts';
import { ensureIdentity } from '../commands/identities';
import type { PushCamera } from './camera';
import { NEWCOMER, newcomerScenes } from './newcomer';
import { followCanary, followRun, setDemoCanary, setDemoSplit, startRun } from './retraining-story';
import { StoryClock, StoryLog, StoryStopped } from './story-clock';
import { namedInFrame, WorkerLines } from './worker-lines';

/**
 * The rest of the demo's loop, after the drift: a person the gallery does not know walks past a demo camera
 * five times, with strangers; the worker sends their faces as unknown hard examples; the cloud suggests them
 * as a new person; the demo labels them (printing what a person would do); a retraining run with an
 * automatic canary trains, calibrates, evaluates and registers a candidate; the canary goes to one worker,
 * then the other, `production` moves; and the worker names the newcomer.
 *
 * Why five passes 24 s apart: the retraining split keeps frames of one person on one camera that are less than
 * `nearDuplicateSeconds` apart in one block (near-duplicates must not be in train and holdout at once; 60 s by
 * default, the demo model's setting is 10 s, which its 8 s passes allow), and an identity needs 4 blocks to be
 * held out at all. The demo labels the same number of faces from each pass
 * (4 of the newcomer, 3 strangers), so the split — and the gate's verdict — is the same on every run.
 */
export const STORY = {
  model: 'face-id',
  passes: 5,
  passMs: 8_000,
  /** From the start of one pass to the next: a gap of more than `nearDuplicateSeconds` between them. */
  passEveryMs: 24_000,
  /** The demo model's near-duplicate gap (retraining setting): a pass is one block, the next pass another. */
  nearDuplicateSeconds: 10,
  newcomerPerPass: 4,
  strangersPerPass: 3,
  driftTimeoutMs: 300_000,
  arrivalTimeoutMs: 30_000,
  runTimeoutMs: 300_000,
  canaryTimeoutMs: 240_000,
  recognitionTimeoutMs: 90_000,
} as const;

/**
 * The settings of the worker behind the story's camera: its privacy policy lets face crops leave (so the
 * dashboard can show the faces to label), and it may send a hard example every 2 s (the default, 6 a minute,
 * would bring only a few faces of each short pass) — with the drift's strangers and the passes, a few hundred
 * in the first hour, under the cloud's quota of 600 an hour per device.
 */
export const STORY_CAMERA_ENV: Record<string, string> = {
  EDGE_SEND_CROPS: 'true',
  EDGE_HARD_EXAMPLES_PER_MIN: '30',
  EDGE_HARD_EXAMPLES_BURST: '10',
};

export interface LoopStoryOptions {
  api: ApiClient;
  cloudUrl: string;
  camera: PushCamera;
  /** The worker the camera feeds. */
  cameraDevice: string;
  /** What the camera shows between passes (the ordinary scene). */
  calm: Buffer[];
  repoRoot: string;
  /** Where the story's frames are cached. */
  cacheDir: string;
  /** The workers' output, read for the frame lines that name people. */
  workers: Array<{ id: string; output: NodeJS.ReadableStream | null | undefined }>;
  report(line: string): void;
  warn(line: string): void;
}

/** Starts the story in the background; its failure is reported and never ends `edgeloop start`. */
export function startLoopStory(options: LoopStoryOptions): void {
  const log = new StoryLog(options.report, options.warn);
  runLoopStory(options, log).catch((err: unknown) => {
    if (err instanceof StoryStopped || options.camera.stopped) return;
    log.warn('story', `the loop story stopped: ${(err as Error).message} (everything else keeps running)`);
  });
}

interface UnknownExample {
  id: string;
  capturedAt: string;
  cropUrl: string | null;
}

async function runLoopStory(options: LoopStoryOptions, log: StoryLog): Promise<void> {
  const { api, camera, cameraDevice } = options;
  const clock = new StoryClock(() => camera.stopped);
  const started = Date.now();
  const production = await api.get<ModelVersionResponse>(apiPaths.modelVersion(STORY.model, 'production'));
  if (production.manifest.labels?.includes(NEWCOMER.name)) {
    log.say(
      'story',
      `${STORY.model}@${production.version} already knows ${NEWCOMER.name}: the loop story ran in this data folder before (use a new --data-dir to see it again)`,
    );
    return;
  }
  const scenes = await newcomerScenes(options.repoRoot, options.cacheDir, options.calm);

  await waitForDrift(api, clock, log, production.version);

  // 1. the newcomer walks past the camera, with strangers (each pass one block of the retraining split)
  await setDemoSplit(api, STORY.model, STORY.nearDuplicateSeconds, log);
  const windows: Array<{ from: number; to: number }> = [];
  for (let pass = 1; pass <= STORY.passes; pass++) {
    const from = Date.now();
    camera.play(scenes.passing);
    log.say('camera', `${NEWCOMER.name} (not in the gallery) walks past ${cameraDevice} with strangers — pass ${pass} of ${STORY.passes}`);
    await clock.sleep(STORY.passMs);
    camera.play(options.calm);
    windows.push({ from, to: Date.now() + 1500 });
    if (pass < STORY.passes) {
      await clock.sleep(6_000);
      const seen = await unknownsIn(api, cameraDevice, windows[pass - 1]);
      log.say(
        'hard-ex',
        `${seen.length} unknown faces of pass ${pass} arrived from ${cameraDevice} (${seen.filter((x) => x.cropUrl).length} with a crop); next pass in ${Math.round((from + STORY.passEveryMs - Date.now()) / 1000)} s`,
      );
      await clock.sleep(Math.max(0, from + STORY.passEveryMs - Date.now()));
    }
  }

  // 2. the cloud suggests a new person; the demo labels what a person would label
  const { newcomer, strangers } = await pickExamples(api, cameraDevice, windows, clock, log);
  await ensureIdentity(api, NEWCOMER.name, NEWCOMER.displayName);
  log.say(
    'label',
    `what a person does now: in the dashboard (${options.cloudUrl}/hard-examples, “Unknown people”), type “${NEWCOMER.name}” under the cluster and press “Label all”, and mark the strangers unknown`,
  );
  log.say('label', `  or from a terminal, the person first: npx edgeloop identities add ${NEWCOMER.name} --display-name "${NEWCOMER.displayName}"`);
  log.say(
    'label',
    `  then the faces: npx edgeloop hard-examples ls --device ${cameraDevice} --unlabelled, and npx edgeloop hard-examples label <id...> --identity ${NEWCOMER.name} (--unknown for the strangers)`,
  );
  await api.post(identityPaths.hardExampleLabels(), { ids: newcomer, label: { verdict: 'identity', identity: NEWCOMER.name } });
  if (strangers.length > 0) await api.post(identityPaths.hardExampleLabels(), { ids: strangers, label: { verdict: 'unknown' } });
  log.say(
    'label',
    `labelled ${newcomer.length} faces ${NEWCOMER.name} and confirmed ${strangers.length} strangers unknown (the same number from each pass) with POST /api/v1/hard-examples/labels`,
  );

  // 3. a run with an automatic canary, followed step by step
  await setDemoCanary(api, STORY.model, log);
  const queued = await startRun(api, `${STORY.model}@production`, log);
  const run = await followRun(api, queued.id, clock, log, STORY.runTimeoutMs);
  if (run.status !== 'completed' || !run.candidate) throw new Error(`run ${run.id} ended ${run.status}: no candidate to roll out`);

  // 4. the canary: one worker, then the fleet, then production moves
  const canaryFrom = new Date().toISOString();
  const canaried = await followCanary(api, run, clock, log, STORY.canaryTimeoutMs);
  if (canaried.canary.state !== 'promoted') throw new Error(`the canary of ${run.id} ended ${canaried.canary.state}`);

  // 5. the newcomer comes back and is named
  await showRecognition(options, scenes.back, clock, log, run.candidate.version, canaryFrom);
  log.say(
    'story',
    `the loop is closed in ${Math.round((Date.now() - started) / 1000)} s: drift → hard examples → labels → retraining → canary → production ${STORY.model}@${run.candidate.version} → ${NEWCOMER.name} recognised on ${cameraDevice}`,
  );
}

async function waitForDrift(api: ApiClient, clock: StoryClock, log: StoryLog, version: number): Promise<void> {
  const deadline = Date.now() + STORY.driftTimeoutMs;
  while (Date.now() < deadline) {
    const { events } = await api.get<{ events: Array<{ model: { name: string; version: number } }> }>(apiPaths.driftEvents());
    if (events.some((e) => e.model.name === STORY.model && e.model.version === version)) {
      log.say('story', `drift on ${STORY.model}@${version} is detected: next, a person the gallery does not know starts passing the camera`);
      return;
    }
    await clock.sleep(2000);
  }
  log.say('story', `no drift event within ${STORY.driftTimeoutMs / 1000} s; the story goes on without it`);
}

/** The camera worker's unknown, unlabelled hard examples captured in `window`, oldest first. */
async function unknownsIn(api: ApiClient, device: string, window: { from: number; to: number }): Promise<UnknownExample[]> {
  const query = `?model=${STORY.model}&device=${encodeURIComponent(device)}&reason=unknown&labelled=false&limit=1000`;
  const { hardExamples } = await api.get<{ hardExamples: UnknownExample[] }>(`${apiPaths.hardExamples()}${query}`);
  return hardExamples
    .filter((x) => {
      const t = Date.parse(x.capturedAt);
      return t >= window.from && t <= window.to;
    })
    .sort((a, b) => a.capturedAt.localeCompare(b.capturedAt));
}

/**
 * The newcomer's faces: the suggested cluster with the most members in the passes; the strangers: members of
 * the other clusters. From each pass, the same number of each (the oldest), so the split is reproducible.
 */
async function pickExamples(
  api: ApiClient,
  device: string,
  windows: Array<{ from: number; to: number }>,
  clock: StoryClock,
  log: StoryLog,
): Promise<{ newcomer: string[]; strangers: string[] }> {
  const deadline = Date.now() + STORY.arrivalTimeoutMs;
  let perPass: UnknownExample[][] = [];
  let clusters: HardExampleClustersResponse['clusters'] = [];
  let newcomerCluster = new Set<string>();
  for (;;) {
    perPass = await Promise.all(windows.map((w) => unknownsIn(api, device, w)));
    ({ clusters } = await api.get<HardExampleClustersResponse>(`${identityPaths.hardExampleClusters()}?model=${STORY.model}@production`));
    const inPasses = new Set(perPass.flat().map((x) => x.id));
    const best = [...clusters].sort((a, b) => b.ids.filter((id) => inPasses.has(id)).length - a.ids.filter((id) => inPasses.has(id)).length)[0];
    newcomerCluster = new Set(best?.ids ?? []);
    const enough = perPass.every((xs) => xs.filter((x) => newcomerCluster.has(x.id)).length >= STORY.newcomerPerPass);
    if (enough || Date.now() > deadline) break;
    await clock.sleep(2000);
  }
  const cluster = clusters.find((c) => newcomerCluster.has(c.representativeId));
  if (!cluster) throw new Error(`no cluster of unknown faces from ${device} was suggested (${perPass.flat().length} unknown faces in the passes)`);
  log.say(
    'hard-ex',
    `the cloud suggests a new person: ${cluster.size} look-alike unknown faces (cohesion ${cluster.cohesion.toFixed(2)}), and ${clusters.length - 1} other groups of unknowns`,
  );
  const inOtherCluster = new Set(clusters.filter((c) => c !== cluster).flatMap((c) => c.ids));
  const newcomerCounts = perPass.map((xs) => xs.filter((x) => newcomerCluster.has(x.id)).length);
  const strangerCounts = perPass.map((xs) => xs.filter((x) => inOtherCluster.has(x.id)).length);
  const k = Math.min(STORY.newcomerPerPass, ...newcomerCounts);
  const m = Math.min(STORY.strangersPerPass, ...strangerCounts);
  if (k < STORY.newcomerPerPass || m < STORY.strangersPerPass) {
    log.warn(
      'label',
      `fewer faces than planned arrived (newcomer per pass ${newcomerCounts.join('/')}, strangers ${strangerCounts.join('/')}): labelling ${k} and ${m} from each pass`,
    );
  }
  if (k === 0) throw new Error(`a pass brought no face of the suggested new person (per pass: ${newcomerCounts.join('/')})`);
  return {
    newcomer: perPass.flatMap((xs) =>
      xs
        .filter((x) => newcomerCluster.has(x.id))
        .slice(0, k)
        .map((x) => x.id),
    ),
    strangers: perPass.flatMap((xs) =>
      xs
        .filter((x) => inOtherCluster.has(x.id))
        .slice(0, m)
        .map((x) => x.id),
    ),
  };
}

/** The camera shows the newcomer and franck again: the workers' frame lines must name them. */
async function showRecognition(options: LoopStoryOptions, back: Buffer[], clock: StoryClock, log: StoryLog, version: number, since: string): Promise<void> {
  const watchers = options.workers.filter((w) => w.output).map((w) => ({ id: w.id, lines: new WorkerLines(w.output!) }));
  try {
    const camera = watchers.find((w) => w.id === options.cameraDevice);
    if (!camera) throw new Error(`the output of ${options.cameraDevice} cannot be read`);
    const named = camera.lines.next(namedInFrame(NEWCOMER.name), STORY.recognitionTimeoutMs);
    const others = watchers.filter((w) => w !== camera).map((w) => ({ id: w.id, named: w.lines.next(namedInFrame('franck'), STORY.recognitionTimeoutMs) }));
    options.camera.play(back);
    log.say('camera', `${NEWCOMER.name} comes back to ${options.cameraDevice}, with franck`);
    const match = await named;
    if (!match) throw new Error(`${options.cameraDevice} did not name ${NEWCOMER.name} within ${STORY.recognitionTimeoutMs / 1000} s of the promotion`);
    log.say('recog', `${options.cameraDevice} names ${NEWCOMER.name} (score ${match[1]}) with ${STORY.model}@${version}`);
    for (const other of others) {
      const franck = await other.named;
      if (franck) log.say('recog', `${other.id} still names franck (score ${franck[1]}) with ${STORY.model}@${version}`);
      else log.warn('recog', `${other.id} did not name franck within ${STORY.recognitionTimeoutMs / 1000} s`);
    }
  } finally {
    for (const w of watchers) w.lines.close();
  }
  await clock.sleep(6_000);
  const query = `?model=${STORY.model}@${version}&device=${encodeURIComponent(options.cameraDevice)}&from=${encodeURIComponent(since)}`;
  const { rows } = await options.api.get<PredictionMetricsResponse>(`${apiPaths.predictionMetrics()}${query}`);
  const faces = rows.reduce((n, r) => n + r.faces, 0);
  const unknown = rows.reduce((n, r) => n + r.faces * r.unknownRate, 0);
  if (faces > 0)
    log.say(
      'metrics',
      `${STORY.model}@${version} on ${options.cameraDevice} so far: ${faces} faces, ${((100 * unknown) / faces).toFixed(0)}% unknown (GET /api/v1/metrics/predictions)`,
    );
}
