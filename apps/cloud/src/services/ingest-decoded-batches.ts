import { predictionBatchKey, type PredictionBatch, type PredictionIngestJobFields } from '@edgeloop/contracts';

/** Batches kept at most (a decoded 100-frame batch with its centroid is ~76 KB of heap and its 10 KB payload: ~11 MB). */
const CAPACITY = 128;
/** A batch kept longer than this is not handed out (its job waited in Redis; the worker decodes it again). */
const MAX_AGE_MS = 10_000;

/**
 * Prediction batches this process decoded and checked at the MQTT side, with the bytes they were decoded from,
 * until this process's ingest worker takes their job: a job whose payload is byte for byte what was decoded here
 * gets that batch instead of a second decode of the same bytes (the columns decode, done twice, was ~0.2 ms of the
 * main thread a batch each time in the ingest bench's CPU profile). Anything else — a job another replica
 * received, one older than `MAX_AGE_MS`, one pushed out by newer batches, other bytes under the same key — is
 * decoded and checked from its payload as before (`predictionBatchOfJob`). Handed out once: the entry goes when
 * it is taken.
 */
export class RecentlyDecodedBatches {
  private readonly entries = new Map<string, { batch: PredictionBatch; payload: Buffer; at: number }>();

  constructor(
    private readonly capacity = CAPACITY,
    private readonly maxAgeMs = MAX_AGE_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** `payload`: the MQTT payload `batch` was decoded from (copied: the broker's buffers may be reused). */
  remember(batch: PredictionBatch, payload: Uint8Array | string): void {
    const key = predictionBatchKey(batch);
    this.entries.delete(key); // a re-sent batch goes to the end of the order
    this.entries.set(key, { batch, payload: typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload), at: this.now() });
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
    // the oldest first (insertion order): ones past their age go, as no job will be handed them (another replica took it)
    for (const [oldest, entry] of this.entries) {
      if (this.now() - entry.at <= this.maxAgeMs) break;
      this.entries.delete(oldest);
    }
  }

  /** The batch decoded here from exactly `payload` (the job's payload bytes) for the job's device, epoch and seq, or undefined. */
  take(job: Pick<PredictionIngestJobFields, 'deviceId' | 'epoch' | 'seq'>, payload: Buffer): PredictionBatch | undefined {
    const key = predictionBatchKey(job);
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    if (this.now() - entry.at > this.maxAgeMs || !entry.payload.equals(payload)) return undefined;
    return entry.batch;
  }

  get size(): number {
    return this.entries.size;
  }
}
