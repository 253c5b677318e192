import { Queue, Worker } from 'bullmq';
import { performance } from 'node:perf_hooks';

const PREFIX = 'bench-raw';
const TIMEOUT_MS = 120_000;

export interface RawBullmqSettings {
  redisUrl: string;
  jobs: number;
  /** Worker concurrency: the cloud's EDGELOOP_INGEST_CONCURRENCY. */
  concurrency: number;
  /** `queue.add` calls in flight at once: 1 is what the cloud's MQTT channel does (one message at a time). */
  addsInFlight: number;
  /** The i-th job: the same id and data the cloud enqueues for the same batch. */
  job(index: number): { jobId: string; data: unknown };
}

export interface RawBullmqRun {
  jobs: number;
  addsInFlight: number;
  concurrency: number;
  /** From the first `add` to the last job completed. */
  seconds: number;
  jobsPerSecond: number;
  /** When the last `add` resolved. */
  addSeconds: number;
}

/**
 * Plain BullMQ on the same Redis: a Queue and a Worker whose processor does nothing, the jobs carrying the
 * same data and options as the cloud's `predictions.ingest` jobs (the MQTT payload in base64; job id per device and seq, 10 attempts,
 * removeOnComplete by age and count). Measures jobs/s from the first add to the last completion.
 */
export async function measureRawBullmq(settings: RawBullmqSettings, name: string): Promise<RawBullmqRun> {
  const connection = { url: settings.redisUrl, maxRetriesPerRequest: null };
  const queueName = `raw-${name}`;
  const queue = new Queue(queueName, { connection, prefix: PREFIX });
  queue.on('error', () => undefined);
  let completed = 0;
  let finished: () => void = () => undefined;
  const allDone = new Promise<void>((resolve) => (finished = resolve));
  const worker = new Worker(queueName, async () => undefined, { connection, prefix: PREFIX, concurrency: settings.concurrency, autorun: false });
  worker.on('error', () => undefined);
  worker.on('completed', () => {
    if (++completed === settings.jobs) finished();
  });
  try {
    await queue.waitUntilReady();
    await worker.waitUntilReady();
    // every job made before the clock starts, as the cloud's devices' payloads are
    const prepared = Array.from({ length: settings.jobs }, (_, i) => settings.job(i));
    void worker.run();
    const started = performance.now();
    let next = 0;
    const adder = async () => {
      while (next < settings.jobs) {
        const index = next++;
        const { jobId, data } = prepared[index];
        await queue.add('predictions.ingest', data, {
          jobId,
          attempts: 10,
          backoff: { type: 'exponential', delay: 500 },
          removeOnComplete: { age: 600, count: 20_000 },
          removeOnFail: { age: 86_400 },
        });
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, settings.addsInFlight) }, adder));
    const addSeconds = (performance.now() - started) / 1000;
    await withTimeout(allDone, `${settings.jobs} raw BullMQ jobs`);
    const seconds = (performance.now() - started) / 1000;
    return {
      jobs: settings.jobs,
      addsInFlight: settings.addsInFlight,
      concurrency: settings.concurrency,
      seconds: Math.round(seconds * 100) / 100,
      jobsPerSecond: Math.round((settings.jobs / seconds) * 10) / 10,
      addSeconds: Math.round(addSeconds * 100) / 100,
    };
  } finally {
    await worker.close();
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
  }
}

function withTimeout<T>(work: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} not processed within ${TIMEOUT_MS / 1000} s`)), TIMEOUT_MS);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
