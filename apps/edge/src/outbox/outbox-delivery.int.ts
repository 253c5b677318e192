/**
 * @jest-environment ./libs/vision/test/onnx-environment.js
 */
import { topics, type PredictionBatch, type ReportedState } from '@edgeloop/contracts';
import { startEmbeddedBroker, startMosquitto, type EmbeddedBroker, type MosquittoServer } from '@edgeloop/harness';
import { EdgeConfig } from '../config/edge.config';
import { edgeTestEnv, franckFrames, tempStateDir } from '../testing/edge-env';
import { LockstepSource } from '../testing/lockstep-source';
import { MqttObserver } from '../testing/mqtt-observer';
import { EdgeWorker } from '../worker';

/** A broker the test can take down and bring back on the same port, and what reached it on a topic. */
interface BrokerUnderTest {
  url: string;
  /** Payloads the broker took on `topic`, in arrival order (duplicates included). */
  received(topic: string): unknown[];
  down(): Promise<void>;
  up(): Promise<void>;
  stop(): Promise<void>;
}

/** Mosquitto: halted and resumed with its persistence; a cloud-like subscriber (it acks) with a persistent session. */
async function mosquittoUnderTest(watch: string[]): Promise<BrokerUnderTest> {
  const server: MosquittoServer = await startMosquitto();
  const observer = await MqttObserver.connect(server.url, watch, { clientId: `outbox-cloud-${process.pid}`, clean: false });
  return {
    url: server.url,
    received: (topic) => observer.on(topic).map((m) => m.json),
    down: () => server.halt(),
    up: () => server.resume(),
    async stop() {
      await observer.close();
      await server.stop();
    },
  };
}

/**
 * The embedded aedes broker: stopped and started again on the same port (it keeps nothing, so a batch published
 * before the cloud-like subscriber is back is acknowledged and dropped); what reached that subscriber, which acks.
 */
async function aedesUnderTest(watch: string[]): Promise<BrokerUnderTest> {
  let broker: EmbeddedBroker = await startEmbeddedBroker();
  const port = broker.port;
  const acker = await MqttObserver.connect(broker.url, watch);
  return {
    url: broker.url,
    received: (topic) => acker.on(topic).map((m) => m.json),
    down: () => broker.stop(),
    async up() {
      broker = await startEmbeddedBroker({ port });
    },
    async stop() {
      await acker.close();
      await broker.stop();
    },
  };
}

const cases: Array<[string, (watch: string[]) => Promise<BrokerUnderTest>]> = [
  ['mosquitto', mosquittoUnderTest],
  ['embedded aedes broker', aedesUnderTest],
];

/** An edge worker on looping frames (one every `frameGapMs`), `env` over the test defaults, its own state folder. */
interface StartedWorker {
  worker: EdgeWorker;
  source: LockstepSource;
  /** The inference loop: settles once the source has ended. */
  running: Promise<unknown>;
  stop(): Promise<void>;
}

async function startWorker(env: Record<string, string>, frameGapMs: number): Promise<StartedWorker> {
  const state = tempStateDir();
  const config = EdgeConfig.fromEnv(edgeTestEnv({ EDGE_STATE_DIR: state.dir, EDGE_HARD_EXAMPLES_BURST: '0', ...env }));
  const source = new LockstepSource(franckFrames(), Number.POSITIVE_INFINITY, frameGapMs);
  const worker = new EdgeWorker(config, { source });
  await worker.start();
  const running = worker.run();
  return {
    worker,
    source,
    running,
    async stop() {
      source.stop();
      await worker.stop();
      await running.catch(() => undefined);
      state.remove();
    },
  };
}

describe.each(cases)('prediction outbox across a broker outage (%s)', (_name, startBroker) => {
  const DEVICE = `cam-outbox-${_name.startsWith('mosquitto') ? 'm' : 'a'}`;
  const predictions = topics.predictions(DEVICE);
  let broker: BrokerUnderTest;
  let worker: EdgeWorker;
  let source: LockstepSource;
  let running: Promise<unknown>;
  let edge: StartedWorker | undefined;

  beforeAll(async () => {
    broker = await startBroker([predictions, topics.reported(DEVICE)]);
    edge = await startWorker(
      {
        EDGE_DEVICE_ID: DEVICE,
        EDGE_MQTT_URL: broker.url,
        EDGE_BATCH_MAX_ITEMS: '2',
        EDGE_OUTBOX_INFLIGHT: '4',
        // long enough that only the rows out when the broker went are sent twice
        EDGE_OUTBOX_ACK_TIMEOUT_S: '15',
      },
      40,
    );
    ({ worker, source, running } = edge);
  });

  afterAll(async () => {
    await edge?.stop();
    await broker?.stop();
  });

  it('delivers every batch made during the outage after it, in order, with no gap in seq', async () => {
    await until(() => seqs().length >= 3);
    await broker.down();
    const lastBefore = worker.outbox!.stats().lastSeq;
    await until(() => worker.outbox!.stats().lastSeq >= lastBefore + 6);
    expect(worker.outbox!.stats().predictionRows).toBeGreaterThanOrEqual(5);
    expect(worker.channel!.connected).toBe(false);
    await broker.up();
    source.stop();
    await running;
    await until(() => worker.outbox!.stats().rows === 0);
    const last = worker.outbox!.stats().lastSeq;
    await until(() => new Set(seqs()).size >= last);

    const received = seqs();
    const unique = [...new Set(received)];
    // Every batch arrived; the cloud's dedupe key (deviceId, seq) leaves each exactly once, in order.
    expect(unique).toEqual(Array.from({ length: last }, (_, i) => i + 1));
    // Sending again a batch out (published or awaiting its ack) when the broker went away is allowed: the window
    // bounds those; nothing else repeats.
    expect(received.length - unique.length).toBeLessThanOrEqual(4);
    for (const batch of broker.received(predictions) as PredictionBatch[]) {
      expect(batch).toMatchObject({ v: 1, deviceId: DEVICE, model: { name: 'face-base', version: 1 } });
      expect(batch.items.length).toBeLessThanOrEqual(2);
    }
    expect(worker.outbox!.stats().droppedPredictions).toBe(0);
  });

  function seqs(): number[] {
    return (broker.received(predictions) as PredictionBatch[]).map((b) => b.seq);
  }
});

describe('the outbox bound while the broker is down (mosquitto)', () => {
  const DEVICE = 'cam-outbox-bound';
  let mosquitto: MosquittoServer;
  let observer: MqttObserver;
  let worker: EdgeWorker;
  let source: LockstepSource;
  let running: Promise<unknown>;
  let edge: StartedWorker | undefined;

  beforeAll(async () => {
    mosquitto = await startMosquitto();
    observer = await MqttObserver.connect(mosquitto.url, [topics.predictions(DEVICE), topics.reported(DEVICE)], {
      clientId: `outbox-bound-cloud-${process.pid}`,
      clean: false,
    });
    edge = await startWorker({ EDGE_DEVICE_ID: DEVICE, EDGE_MQTT_URL: mosquitto.url, EDGE_BATCH_MAX_ITEMS: '1', EDGE_OUTBOX_MAX_ROWS: '3' }, 30);
    ({ worker, source, running } = edge);
  });

  afterAll(async () => {
    await edge?.stop();
    await observer?.close();
    await mosquitto?.stop();
  });

  it('drops the oldest batches, counts them, keeps the newest, and reports the count', async () => {
    await until(() => observer.on(topics.predictions(DEVICE)).length >= 1);
    await mosquitto.halt();
    const lastBefore = worker.outbox!.stats().lastSeq;
    await until(() => worker.outbox!.stats().lastSeq >= lastBefore + 8);
    source.stop();
    await running;
    const stats = worker.outbox!.stats();
    expect(stats.rows).toBeLessThanOrEqual(3);
    expect(stats.droppedPredictions).toBeGreaterThanOrEqual(5);
    const health = (await (await fetch(`http://127.0.0.1:${worker.httpPort}/healthz`)).json()) as { outboxDropped: number };
    expect(health.outboxDropped).toBe(stats.droppedPredictions);

    const since = observer.messages.length;
    await mosquitto.resume();
    await until(() => worker.outbox!.stats().rows === 0);
    // The broker acknowledges the worker before it hands the batches to the (reconnecting) subscriber.
    const arrivedSeqs = () => [...new Set((observer.on(topics.predictions(DEVICE)).map((m) => m.json) as PredictionBatch[]).map((b) => b.seq))];
    await until(() => arrivedSeqs().includes(stats.lastSeq));
    const arrived = arrivedSeqs();
    // The newest batches made it; the gap before them is exactly the dropped count.
    expect(arrived.at(-1)).toBe(stats.lastSeq);
    expect(stats.lastSeq - arrived.length).toBe(stats.droppedPredictions);
    worker.agent!.publishReported();
    const reported = await observer.waitFor<ReportedState>(
      topics.reported(DEVICE),
      (r) => r.health.outboxDropped === stats.droppedPredictions && r.health.outboxDepth === 0,
      10_000,
      since,
    );
    expect(reported.state).toBe('idle');
    const metrics = await (await fetch(`http://127.0.0.1:${worker.httpPort}/metrics`)).text();
    expect(metrics).toContain(`edge_outbox_dropped_batches_total{device="${DEVICE}"} ${stats.droppedPredictions}`);
  });
});

describe('a broker that acknowledges and drops: the cloud-like subscriber unsubscribed for 2 s (mosquitto)', () => {
  const DEVICE = 'cam-outbox-drop';
  const predictions = topics.predictions(DEVICE);
  let mosquitto: MosquittoServer;
  let observer: MqttObserver;
  let worker: EdgeWorker;
  let source: LockstepSource;
  let running: Promise<unknown>;
  let edge: StartedWorker | undefined;

  beforeAll(async () => {
    mosquitto = await startMosquitto();
    observer = await MqttObserver.connect(mosquitto.url, [predictions], { clientId: `outbox-drop-cloud-${process.pid}`, clean: false });
    edge = await startWorker(
      { EDGE_DEVICE_ID: DEVICE, EDGE_MQTT_URL: mosquitto.url, EDGE_BATCH_MAX_ITEMS: '1', EDGE_OUTBOX_INFLIGHT: '4', EDGE_OUTBOX_ACK_TIMEOUT_S: '3' },
      30,
    );
    ({ worker, source, running } = edge);
  });

  afterAll(async () => {
    await edge?.stop();
    await observer?.close();
    await mosquitto?.stop();
  });

  it('sends again what the broker acknowledged and dropped: every seq arrives, none twice after dedupe, the outbox empties', async () => {
    const seqs = () => (observer.on(predictions).map((m) => m.json) as PredictionBatch[]).map((b) => b.seq);
    await until(() => seqs().length >= 3);
    await observer.client.unsubscribeAsync(predictions);
    const lastBefore = worker.outbox!.stats().lastSeq;
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const lastDuring = worker.outbox!.stats().lastSeq;
    // batches were made, and the broker took them, while nobody was subscribed
    expect(worker.channel!.connected).toBe(true);
    expect(lastDuring - lastBefore).toBeGreaterThanOrEqual(3);
    const seenBefore = new Set(seqs());
    await observer.client.subscribeAsync(predictions, { qos: 1 });
    // what the broker dropped did not reach the subscriber then
    expect(Array.from({ length: lastDuring - lastBefore - 1 }, (_, i) => lastBefore + 2 + i).filter((s) => !seenBefore.has(s)).length).toBeGreaterThan(0);

    await until(() => seqs().some((s) => s > lastDuring + 3));
    source.stop();
    await running;
    await until(() => worker.outbox!.stats().rows === 0);
    const last = worker.outbox!.stats().lastSeq;
    const received = seqs();
    const unique = [...new Set(received)].sort((a, b) => a - b);
    process.stdout.write(
      `outbox-delivery: ${last} batches, ${received.length - unique.length} received twice (deduped by seq), ${worker.sender!.acks.resent} sent again\n`,
    );
    // every batch, exactly once by seq once duplicates are dropped (the cloud dedupes on (device, epoch, seq))
    expect(unique).toEqual(Array.from({ length: last }, (_, i) => i + 1));
    expect(worker.sender!.acks.resent).toBeGreaterThan(0);
    expect(worker.sender!.acknowledged).toBe(last);
    expect(worker.outbox!.stats().droppedPredictions).toBe(0);
  });
});

async function until(test: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
