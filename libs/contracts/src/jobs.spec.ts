import { JOB_NAMES, JOB_SCHEMAS, jobNamesOfQueue, parseJob, predictionsJobId, QUEUE_NAMES, queueOfJob, QUEUES } from './jobs';
import {
  encodePredictionColumns,
  MAX_INGEST_GROUP_BATCHES,
  MAX_INGEST_GROUP_PAYLOAD_CHARS,
  MAX_INGEST_PAYLOAD_BASE64,
  predictionBatchOfJob,
  predictionIngestGroups,
  predictionIngestJobFields,
} from './prediction-encoding';
import { batchExample, hardExampleExample } from './testing/examples';

describe('jobs', () => {
  it('names every job <queue>.<step> with a known queue', () => {
    for (const name of JOB_NAMES) expect(QUEUE_NAMES).toContain(queueOfJob(name));
    expect(QUEUE_NAMES.every((queue) => jobNamesOfQueue(queue).length > 0)).toBe(true);
    expect(Object.values(QUEUES)).toEqual(['predictions', 'drift', 'webhooks', 'retraining', 'rollouts', 'maintenance']);
    expect(jobNamesOfQueue('retraining')).toEqual([
      'retraining.build-dataset',
      'retraining.train-head',
      'retraining.calibrate',
      'retraining.evaluate',
      'retraining.register',
    ]);
  });

  it('parses a valid payload into a job discriminated by name', () => {
    const batch = batchExample();
    const job = parseJob('predictions.ingest', { deviceId: 'cam-01', seq: 42, receivedAt: 1_769_860_806_000, batch });
    expect(job.ok).toBe(true);
    if (job.ok && job.value.name === 'predictions.ingest') expect(job.value.payload.batch?.items).toHaveLength(3);
    expect(parseJob('predictions.hard-example', { deviceId: 'cam-01', receivedAt: 1, hardExample: hardExampleExample() }).ok).toBe(true);
    expect(parseJob('drift.check', { modelName: 'face-id', version: 7 })).toEqual({
      ok: true,
      value: { name: 'drift.check', payload: { modelName: 'face-id', version: 7 } },
    });
    expect(parseJob('rollouts.advance', { deploymentId: 'dep_1' }).ok).toBe(true);
    expect(parseJob('retraining.register', { runId: 'run_1', modelName: 'face-id', baseVersion: 7, autoCanary: true }).ok).toBe(true);
  });

  it('refuses unknown job names, including inherited property names', () => {
    expect(parseJob('predictions.unknown', {})).toMatchObject({ ok: false, error: { code: 'unknown_job' } });
    expect(parseJob('toString', {})).toMatchObject({ ok: false, error: { code: 'unknown_job' } });
  });

  it('names the bad field of an invalid payload', () => {
    const result = parseJob('webhooks.deliver', { deliveryId: 42 });
    expect(result).toMatchObject({ ok: false, error: { code: 'invalid_payload' } });
    expect(!result.ok && result.error.message).toMatch(/^invalid webhooks\.deliver payload: deliveryId: /);
    const mismatch = parseJob('predictions.ingest', { deviceId: 'cam-01', seq: 41, receivedAt: 1, batch: batchExample() });
    expect(!mismatch.ok && mismatch.error.message).toContain('batch: deviceId and seq must equal');
    const deep = batchExample();
    deep.items[0]!.faces[0]!.score = Number.NaN;
    const invalidBatch = parseJob('predictions.ingest', { deviceId: 'cam-01', seq: 42, receivedAt: 1, batch: deep });
    expect(!invalidBatch.ok && invalidBatch.error.message).toContain('batch.items[0].faces[0].score:');
  });

  it('makes BullMQ-safe, unique prediction job ids', () => {
    expect(predictionsJobId('cam-01', 42)).toBe('cam-01.42');
    expect(predictionsJobId('cam-01', 42)).not.toContain(':');
    expect(predictionsJobId('a-1', 2)).not.toBe(predictionsJobId('a', 12));
    expect(predictionsJobId('cam-01', 42, 'AbC_de-fGh123456')).toBe('cam-01.AbC_de-fGh123456.42');
    expect(predictionsJobId('cam-01', 4, '22222222')).not.toBe(predictionsJobId('cam-01', 22222222));
    expect(Object.keys(JOB_SCHEMAS)).toEqual(JOB_NAMES);
  });

  it("carries a prediction batch as its MQTT payload, read back only when it names the job's device, epoch and seq", () => {
    const batch = { ...batchExample(), epoch: 'AbCdEfGh12345678' };
    // the centroid as the edge sends it (5 decimals), which the columns encoding gives back exactly
    batch.embeddingCentroid!.mean = batch.embeddingCentroid!.mean.map((v) => Math.round(v * 1e5) / 1e5 || 0);
    for (const payload of [encodePredictionColumns(batch), Buffer.from(JSON.stringify(batch))]) {
      const fields = predictionIngestJobFields(batch, payload);
      const job = parseJob('predictions.ingest', { ...fields, receivedAt: 1_769_860_806_000 });
      if (!job.ok || job.value.name !== 'predictions.ingest') throw new Error('not parsed');
      expect(job.value.payload).toEqual({ deviceId: 'cam-01', seq: 42, epoch: batch.epoch, receivedAt: 1_769_860_806_000, payload: fields.payload });
      expect(predictionBatchOfJob(job.value.payload)).toEqual({ ok: true, value: batch });
      expect(predictionBatchOfJob({ ...job.value.payload, seq: 43 })).toMatchObject({ ok: false, error: { code: 'invalid_payload' } });
      expect(predictionBatchOfJob({ ...job.value.payload, epoch: undefined })).toMatchObject({ ok: false, error: { code: 'invalid_payload' } });
    }
    const garbage = predictionBatchOfJob({ deviceId: 'cam-01', seq: 42, payload: Buffer.from([0x85, 1, 2, 3]).toString('base64') });
    expect(garbage).toMatchObject({ ok: false, error: { code: 'invalid_encoding' } });
    expect(parseJob('predictions.ingest', { deviceId: 'cam-01', seq: 42, receivedAt: 1 }).ok).toBe(false);
    expect(parseJob('predictions.ingest', { deviceId: 'cam-01', seq: 42, receivedAt: 1, batch, payload: 'eyJ9' }).ok).toBe(false);
  });

  it('splits batches that arrived together into group jobs of at most 64 batches and 4 MiB of payload, in order', () => {
    const entry = (seq: number, chars = 100) => ({ deviceId: 'cam-01', seq, receivedAt: 1, payload: 'A'.repeat(chars) });
    const counts = (groups: Array<Array<{ seq: number }>>) => groups.map((g) => g.length);
    expect(predictionIngestGroups([])).toEqual([]);
    const many = Array.from({ length: 130 }, (_, i) => entry(i + 1));
    const groups = predictionIngestGroups(many);
    expect(counts(groups)).toEqual([MAX_INGEST_GROUP_BATCHES, MAX_INGEST_GROUP_BATCHES, 2]);
    expect(groups.flat().map((e) => e.seq)).toEqual(many.map((e) => e.seq));
    const big = MAX_INGEST_PAYLOAD_BASE64;
    const bySize = predictionIngestGroups([
      entry(1, big),
      entry(2, big),
      entry(3, big),
      entry(4, big),
      entry(5, big),
      entry(6, big),
      entry(7, big),
      entry(8, 10),
    ]);
    expect(bySize.every((g) => g.reduce((n, e) => n + e.payload.length, 0) <= MAX_INGEST_GROUP_PAYLOAD_CHARS)).toBe(true);
    expect(bySize.flat().map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    for (const group of groups) expect(parseJob('predictions.ingest-group', { batches: group }).ok).toBe(true);
    expect(parseJob('predictions.ingest-group', { batches: [] }).ok).toBe(false);
    expect(parseJob('predictions.ingest-group', { batches: many }).ok).toBe(false);
    const bad = parseJob('predictions.ingest-group', { batches: [entry(1), { ...entry(2), seq: 0 }] });
    expect(bad).toMatchObject({ ok: false, error: { code: 'invalid_payload' } });
    if (!bad.ok) expect(bad.error.message).toContain('batches[1].seq');
  });
});
