import { parseDeviceMessage, topics } from '@edgeloop/contracts';
import mqtt from 'mqtt';
import { watchLoop } from './loop-watch';
import { makeBatch, STABLE } from './prediction-batches';
import type { SteadyBatchMarks, SteadyDeviceMessage, SteadyDeviceStart } from './steady-device';

/** The device's clock: epoch milliseconds, as precise as performance.now(), comparable across processes. */
const now = () => performance.timeOrigin + performance.now();

/**
 * A well-behaved edge device in a process of its own (the quota test's `good-1`): it publishes a batch every `everyMs`
 * (QoS 1) until told to stop, and times each from its publish to the broker's PUBACK and to the cloud's ack naming it on
 * the device's `acks` topic — on its own event loop and heap, so that what the test's process does meanwhile (its
 * polling, its collections, Jest) is not counted as the cloud's latency. The child of `startSteadyDevice` (steady-device.ts).
 */
function run(): void {
  const marks: Record<number, SteadyBatchMarks> = {};
  let published = 0;
  let running = true;
  const watch = watchLoop((t) => performance.timeOrigin + t);
  const send = (message: SteadyDeviceMessage) => process.send?.(message);

  process.once('message', (start: SteadyDeviceStart) => {
    void (async () => {
      const client = await mqtt.connectAsync(start.mqttUrl, {
        clientId: start.id,
        username: start.id,
        password: start.password,
        reconnectPeriod: 0,
        connectTimeout: 3000,
      });
      client.on('error', () => undefined);
      client.on('message', (topic, payload) => {
        const at = now();
        const ack = topic === topics.acks(start.id) ? parseDeviceMessage('acks', payload) : undefined;
        if (!ack?.ok) return;
        for (const item of ack.value.acks) {
          if (item.kind !== 'predictions') continue;
          const batch = marks[item.seq];
          if (batch && batch.acked === undefined) {
            batch.acked = at;
            send({ type: 'acked', seq: item.seq });
          }
        }
      });
      await client.subscribeAsync(topics.acks(start.id), { qos: 1 });
      const loop = (async () => {
        while (running) {
          const seq = ++published;
          const batch = JSON.stringify(makeBatch(start.id, seq, start.model, STABLE, { frames: start.frames }));
          const mark: SteadyBatchMarks = { published: now() };
          marks[seq] = mark;
          await client.publishAsync(topics.predictions(start.id), batch, { qos: 1 });
          mark.puback = now();
          await new Promise((r) => setTimeout(r, start.everyMs));
        }
      })();
      process.on('message', (message: { type: string; ackWithinMs?: number }) => {
        if (message.type !== 'stop') return;
        running = false;
        void (async () => {
          await loop;
          // the acks of the last batches, for at most ackWithinMs
          const deadline = performance.now() + (message.ackWithinMs ?? 10_000);
          while (Object.values(marks).some((m) => m.acked === undefined) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
          watch.stop();
          send({ type: 'report', published, marks, stalls: watch.stalls, gcs: watch.gcs });
          await client.endAsync().catch(() => undefined);
          process.disconnect();
        })();
      });
      send({ type: 'ready' });
    })().catch((err: Error) => {
      process.stderr.write(`steady device: ${err.message}\n`);
      process.exit(1);
    });
  });
}

if (process.send) run();
