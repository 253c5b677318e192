/**
 * A worker thread of the edge bench: a camera that posts JPEG frames to the worker's http-push source
 * (`POST /frames`) at a fixed rate, on its own event loop so the cloud running in the bench's main
 * thread cannot bunch its frames. Each post is recorded with the sequence number and status the source
 * answered. Send it 'stop'; it answers with every record once the posts in flight are done.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

export interface PushRecord {
  /** Date.now() when the post was sent and when its answer came. */
  sentAt: number;
  answeredAt: number;
  httpStatus: number;
  /** The source's frame sequence number and its status (`accepted`, `rate-limited`), when answered 202. */
  seq?: number;
  status?: string;
  error?: string;
}

interface PusherData {
  url: string;
  /** The worker's http-push token (EDGE_SOURCE_PUSH_TOKEN), sent as a bearer token. */
  token: string;
  fps: number;
  files: string[];
}

/** Starts the pusher thread; `stop()` resolves with every post's record. */
export function startFramePusher(data: PusherData): { stop: () => Promise<PushRecord[]> } {
  const worker = new Worker(__filename, { workerData: data });
  const done = new Promise<PushRecord[]>((resolve, reject) => {
    worker.once('message', (records: PushRecord[]) => resolve(records));
    worker.once('error', reject);
  });
  return {
    stop: async () => {
      worker.postMessage('stop');
      const records = await done;
      await worker.terminate();
      return records;
    },
  };
}

async function push(url: string, token: string, jpeg: Buffer): Promise<PushRecord> {
  const sentAt = Date.now();
  try {
    const res = await fetch(url, { method: 'POST', body: new Uint8Array(jpeg), headers: { 'content-type': 'image/jpeg', authorization: `Bearer ${token}` } });
    const body = (await res.json().catch(() => ({}))) as { seq?: number; status?: string };
    return { sentAt, answeredAt: Date.now(), httpStatus: res.status, seq: body.seq, status: body.status };
  } catch (err) {
    return { sentAt, answeredAt: Date.now(), httpStatus: 0, error: (err as Error).message };
  }
}

async function run({ url, token, fps, files }: PusherData): Promise<void> {
  const jpegs = files.map((file) => readFileSync(file));
  let stopping = false;
  parentPort?.on('message', (message) => {
    if (message === 'stop') stopping = true;
  });
  const interval = 1000 / fps;
  const started = performance.now();
  const posts: Promise<PushRecord>[] = [];
  for (let k = 0; !stopping; k++) {
    // Due times are fixed from the start: a late post does not shift the ones after it.
    const wait = started + k * interval - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    if (stopping) break;
    posts.push(push(url, token, jpegs[k % jpegs.length]));
  }
  parentPort?.postMessage(await Promise.all(posts));
}

if (!isMainThread && (workerData as PusherData | undefined)?.url) {
  void run(workerData as PusherData);
}
