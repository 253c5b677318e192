/**
 * @jest-environment ./libs/vision/test/onnx-environment.js
 */
import { HardExampleSchema, topicFilters, topics, type HardExample } from '@edgeloop/contracts';
import { startEmbeddedBroker, type EmbeddedBroker } from '@edgeloop/harness';
import sharp from 'sharp';
import { EdgeConfig } from '../config/edge.config';
import { edgeTestEnv, franckFrames, tempStateDir } from '../testing/edge-env';
import { LockstepSource } from '../testing/lockstep-source';
import { MqttObserver } from '../testing/mqtt-observer';
import { EdgeWorker } from '../worker';

/**
 * Hard examples off a real pipeline (the base bundle has no head, so every face is `unknown`), through the
 * outbox to the embedded broker: rate-limited, embedding always, a face crop only when crops may leave.
 */
describe('hard examples (embedded broker)', () => {
  let broker: EmbeddedBroker;
  /** Plays the cloud: acknowledges what the devices send, which is what empties their outboxes. */
  let acker: MqttObserver;
  const received: Array<{ deviceId: string; payload: unknown }> = [];

  beforeAll(async () => {
    broker = await startEmbeddedBroker();
    broker.broker.on('publish', (packet, client) => {
      if (!client || !packet.topic.endsWith('/hard-examples')) return;
      received.push({ deviceId: packet.topic.split('/')[3]!, payload: JSON.parse(packet.payload.toString()) as unknown });
    });
    acker = await MqttObserver.connect(broker.url, [topicFilters.hardExamples, topicFilters.predictions]);
  });
  afterAll(async () => {
    await acker?.close();
    await broker?.stop();
  });

  async function run(deviceId: string, sendCrops: boolean): Promise<HardExample[]> {
    const state = tempStateDir();
    const config = EdgeConfig.fromEnv(
      edgeTestEnv({
        EDGE_DEVICE_ID: deviceId,
        EDGE_STATE_DIR: state.dir,
        EDGE_MQTT_URL: broker.url,
        EDGE_HARD_EXAMPLES_BURST: '2',
        EDGE_HARD_EXAMPLES_PER_MIN: '0',
        EDGE_SEND_CROPS: String(sendCrops),
        EDGE_CROP_SIZE: '96',
      }),
    );
    const frames = franckFrames();
    const worker = new EdgeWorker(config, { source: new LockstepSource(frames, 6) });
    try {
      await worker.start();
      const stats = await worker.run();
      expect(stats.faces).toBeGreaterThanOrEqual(5);
      await until(() => worker.outbox!.stats().rows === 0);
    } finally {
      await worker.stop();
      state.remove();
    }
    return received.filter((r) => r.deviceId === deviceId).map((r) => r.payload as HardExample);
  }

  it('sends at most the burst, each with its embedding and no face crop by default', async () => {
    const examples = await run('cam-hard-private', false);
    expect(examples).toHaveLength(2);
    for (const example of examples) {
      expect(HardExampleSchema.safeParse(example).success).toBe(true);
      expect(example).toMatchObject({ deviceId: 'cam-hard-private', reason: 'unknown', model: { name: 'face-base', version: 1 } });
      expect(example.embedding).toHaveLength(512);
      expect(example.crop).toBeUndefined();
    }
    expect(new Set(examples.map((e) => e.id)).size).toBe(2);
    expect(topics.hardExamples('cam-hard-private')).toBe('edgeloop/v1/devices/cam-hard-private/hard-examples');
  });

  it('attaches a small JPEG crop of the face when the privacy setting allows it', async () => {
    const examples = await run('cam-hard-crops', true);
    expect(examples).toHaveLength(2);
    for (const example of examples) {
      expect(example.crop).toMatchObject({ format: 'jpeg' });
      const meta = await sharp(Buffer.from(example.crop!.data, 'base64')).metadata();
      expect(meta.format).toBe('jpeg');
      expect(Math.max(meta.width ?? 0, meta.height ?? 0)).toBeLessThanOrEqual(96);
      expect([meta.width, meta.height]).toEqual([example.crop!.width, example.crop!.height]);
    }
  });
});

async function until(test: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
