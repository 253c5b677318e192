import { Client } from 'pg';

export interface DeviceCount {
  deviceId: string;
  /** Batches the device had acknowledged by the broker (the edge deletes them from its outbox then). */
  sent: number;
  /** Of those, the sequence numbers SQL has no row for. */
  lost: number[];
  /** Frames counted in the aggregates minus the frames sent: > 0 means counted twice. */
  extraFrames: number;
}

/**
 * What the cloud counted, read from SQL itself: `prediction_batches` (one row per device, epoch and
 * sequence) and the frames of `prediction_aggregates` per device, compared with what each device sent.
 */
export async function countPredictions(databaseUrl: string, sent: Map<string, { seqs: number[]; framesPerBatch: number }>): Promise<DeviceCount[]> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const out: DeviceCount[] = [];
    for (const [deviceId, { seqs, framesPerBatch }] of sent) {
      const stored = new Set(
        (await client.query<{ seq: string }>('select seq from prediction_batches where device_id = $1', [deviceId])).rows.map((r) => Number(r.seq)),
      );
      const frames = Number(
        (await client.query<{ frames: string | null }>('select sum(frames) as frames from prediction_aggregates where device_id = $1', [deviceId])).rows[0]
          .frames ?? 0,
      );
      out.push({ deviceId, sent: seqs.length, lost: seqs.filter((s) => !stored.has(s)), extraFrames: frames - seqs.length * framesPerBatch });
    }
    return out;
  } finally {
    await client.end();
  }
}

/** Waits until SQL holds every sent batch and no more frames (or the time is up); returns the last count. */
export async function settlePredictions(
  databaseUrl: string,
  sent: Map<string, { seqs: number[]; framesPerBatch: number }>,
  timeoutMs: number,
): Promise<DeviceCount[]> {
  const deadline = Date.now() + timeoutMs;
  let counts = await countPredictions(databaseUrl, sent).catch(() => [] as DeviceCount[]);
  while (Date.now() < deadline && (counts.length === 0 || counts.some((c) => c.lost.length > 0 || c.extraFrames < 0))) {
    await new Promise((r) => setTimeout(r, 500));
    counts = await countPredictions(databaseUrl, sent).catch(() => counts);
  }
  // a redelivery still in the queue would land now: look once more after a pause
  await new Promise((r) => setTimeout(r, 2000));
  return countPredictions(databaseUrl, sent);
}
