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

/** Mosquitto: halted and resumed with its persistence; a cloud-like subscriber with a persistent session. */
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

/** The embedded aedes broker: stopped and started again on the same port (it keeps nothing). */
async function aedesUnderTest(): Promise<BrokerUnderTest> {
  const seen: Array<{ topic: string; json: unknown }> = [];
  let broker: EmbeddedBroker = await startEmbeddedBroker();
  const port = broker.port;
  const tap = (b: EmbeddedBroker) =>
    b.broker.on('publish', (packet, client) => {
      if (!client || packet.payload.length === 0) return;
      try {
        seen.push({ topic: packet.topic, json: JSON.parse(packet.payload.toString()) as unknown });
      } catch {
        // not JSON: not a device message this test reads
      }
    });
  tap(broker);
  return {
    url: broker.url,
    received: (topic) => seen.filter((m) => m.topic === topic).map((m) => m.json),
    down: () => broker.stop(),
    async up() {
      broker = await startEmbeddedBroker({ port });
      tap(broker);
    },
    stop: () => broker.stop(),
  };
}

const cases: Array<[string, (watch: string[]) => Promise<BrokerUnderTest>]> = [
  ['mosquitto', mosquittoUnderTest],
  ['embedded aedes broker', async () => aedesUnderTest()],
];

describe.each(cases)('prediction outbox across a broker outage (%s)', (_name, startBroker) => {
  const DEVICE = `cam-outbox-${_name.startsWith('mosquitto') ? 'm' : 'a'}`;
  const predictions = topics.predictions(DEVICE);
  let broker: BrokerUnderTest;
  let worker: EdgeWorker;
  let source: LockstepSource;
  let running: Promise<unknown>;
  const state = tempStateDir();

  beforeAll(async () => {
    broker = await startBroker([predictions, topics.reported(DEVICE)]);
    const config = EdgeConfig.fromEnv(
      edgeTestEnv({
        EDGE_DEVICE_ID: DEVICE,
        EDGE_STATE_DIR: state.dir,
        EDGE_MQTT_URL: broker.url,
        EDGE_BATCH_MAX_ITEMS: '2',
        EDGE_HARD_EXAMPLES_BURST: '0',
        EDGE_OUTBOX_INFLIGHT: '4',
      }),
    );
    source = new LockstepSource(franckFrames(), Number.POSITIVE_INFINITY, 40);
    worker = new EdgeWorker(config, { source });
    await worker.start();
    running = worker.run();
  });

  afterAll(async () => {
    source?.stop();
    await worker?.stop();
    await running?.catch(() => undefined);
    await broker?.stop();
    state.remove();
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
    // Redelivery of a batch in flight when the broker went away is allowed (QoS 1); nothing else repeats.
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
  const state = tempStateDir();

  beforeAll(async () => {
    mosquitto = await startMosquitto();
    observer = await MqttObserver.connect(mosquitto.url, [topics.predictions(DEVICE), topics.reported(DEVICE)], {
      clientId: `outbox-bound-cloud-${process.pid}`,
      clean: false,
    });
    const config = EdgeConfig.fromEnv(
      edgeTestEnv({
        EDGE_DEVICE_ID: DEVICE,
        EDGE_STATE_DIR: state.dir,
        EDGE_MQTT_URL: mosquitto.url,
        EDGE_BATCH_MAX_ITEMS: '1',
        EDGE_HARD_EXAMPLES_BURST: '0',
        EDGE_OUTBOX_MAX_ROWS: '3',
      }),
    );
    source = new LockstepSource(franckFrames(), Number.POSITIVE_INFINITY, 30);
    worker = new EdgeWorker(config, { source });
    await worker.start();
    running = worker.run();
  });

  afterAll(async () => {
    source?.stop();
    await worker?.stop();
    await running?.catch(() => undefined);
    await observer?.close();
    await mosquitto?.stop();
    state.remove();
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

async function until(test: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
