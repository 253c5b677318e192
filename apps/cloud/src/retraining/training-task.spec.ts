import { calibrate, evaluateOpenSet, trainHead } from '@edgeloop/training';
import { applyHeadDelta, buildIdentityHead, readIdentityHead } from '@edgeloop/vision';
import { blurredHead, syntheticGallery } from './testing/synthetic-training-data';
import {
  loadExample,
  runTrainingTask,
  sha256Of,
  transferablesOf,
  TaskInputError,
  type BuildDatasetResult,
  type CalibrateResult,
  type DatasetDocument,
  type Digested,
  type EvaluateResult,
  type HeadDocument,
  type PackedExamples,
  type TrainHeadResult,
} from './training-task';

/**
 * The CPU part of each step as the training thread runs it (here in-process): bytes in, checked against
 * their sha256; bytes out, with theirs. The flow over real servers and threads is retraining.int.ts.
 */
describe('retraining step tasks', () => {
  const gallery = syntheticGallery({ identities: 10, perIdentity: 16, strangers: 30, seed: 21, prefix: 't', sameCosine: 0.45 });
  const labels = [...gallery.centres.keys()];
  const pack = (): PackedExamples => {
    const dim = 512;
    const embeddings = new Float32Array(gallery.examples.length * dim);
    gallery.examples.forEach((e, i) => embeddings.set(e.embedding, i * dim));
    return {
      ids: gallery.examples.map((e) => e.id),
      labels: gallery.examples.map((e) => e.label),
      kinds: gallery.examples.map((e) => e.kind),
      groups: gallery.examples.map((e) => e.group),
      times: gallery.examples.map((e) => e.time),
      dim,
      embeddings,
    };
  };
  const copy = (d: Digested): Digested => ({ bytes: new Uint8Array(d.bytes), sha256: d.sha256 });
  const parse = <T>(d: Digested): T => JSON.parse(Buffer.from(d.bytes).toString('utf8')) as T;
  const productionBytes = buildIdentityHead(blurredHead(gallery, labels, 0.3));
  const production = () => ({ head: { bytes: new Uint8Array(productionBytes), sha256: sha256Of(productionBytes) }, labels, version: 1 });

  let built: BuildDatasetResult;
  let trained: TrainHeadResult;
  let calibrated: CalibrateResult;

  it('build-dataset: the split document, the same bytes for the same examples and seed, every output transferable', () => {
    built = runTrainingTask({
      kind: 'build-dataset',
      input: { examples: pack(), seed: 1, windowMs: 60_000, counts: { hardExamples: 160 } },
    }) as BuildDatasetResult;
    const again = runTrainingTask({
      kind: 'build-dataset',
      input: { examples: pack(), seed: 1, windowMs: 60_000, counts: { hardExamples: 160 } },
    }) as BuildDatasetResult;
    expect(again.document.sha256).toBe(built.document.sha256);
    expect(sha256Of(built.document.bytes)).toBe(built.document.sha256);
    const doc = parse<DatasetDocument>(built.document);
    expect(doc.digest).toBe(built.digest);
    const sizes = Object.values(built.splits);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(gallery.examples.length);
    expect(built.splits.holdout).toBeGreaterThan(0);
    // an embedding survives the document unchanged
    const stored = loadExample(doc.splits.holdout[0]);
    expect(Array.from(stored.embedding)).toEqual(Array.from(gallery.examples.find((e) => e.id === stored.id)!.embedding));
    // the document is in shared memory: the cloud's thread and the next steps' threads read it without a copy, and
    // nothing of a result is transferred (detached) from the thread that made it
    expect(built.document.bytes.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(built.document.bytes.byteLength).toBe(built.document.bytes.buffer.byteLength);
    expect(transferablesOf(built)).toEqual([]);
    // the packed examples of an input are transferred
    const input = pack();
    expect(transferablesOf({ examples: input })).toEqual([input.embeddings.buffer]);
  });

  it('build-dataset: the near-duplicate gap is the run setting — visits closer than it are one block, so fewer identities are held out', () => {
    // the synthetic visits are 10 minutes apart: with a day's gap every identity is one block and stays in train
    const wide = runTrainingTask({ kind: 'build-dataset', input: { examples: pack(), seed: 1, windowMs: 86_400_000, counts: {} } }) as BuildDatasetResult;
    expect(wide.splits.train).toBeGreaterThan(built.splits.train);
    expect(wide.splits.holdout).toBeLessThan(built.splits.holdout);
    expect(wide.notes.join('\n')).toMatch(/block/);
  });

  it('train-head: an int8 head whose weights are the trainer’s quantised, and a small document naming it', () => {
    trained = runTrainingTask({ kind: 'train-head', input: { dataset: copy(built.document), options: { method: 'auto', seed: 1 } } }) as TrainHeadResult;
    const doc = parse<HeadDocument>(trained.document);
    expect(doc.head).toEqual({ sha256: trained.head.sha256, size: trained.head.bytes.byteLength });
    expect(sha256Of(trained.head.bytes)).toBe(trained.head.sha256);
    expect(doc.weights).toBe('int8');
    const shipped = readIdentityHead(trained.head.bytes, doc.labels);
    expect(shipped.weights).toBe('int8');
    expect(doc.labels.sort()).toEqual([...labels].sort());
    // the float32 head the trainer made, for comparison: the shipped one differs from it, within the int8 step
    const dataset = parse<DatasetDocument>(built.document);
    const float = trainHead(dataset.splits.train.map(loadExample), dataset.splits.validation.map(loadExample), { method: 'auto', seed: 1 }).head;
    let worst = 0;
    float.prototypes.forEach((p, j) => p.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - shipped.prototypes[j][i])))));
    expect(worst).toBeGreaterThan(0);
    expect(worst).toBeLessThan(0.5 / 127); // half an int8 step of a unit vector's largest value (≤ 1)
    // no prototypes in the document: calibrate and evaluate read what ships, the head itself
    expect(doc).not.toHaveProperty('prototypes');
    expect(trained.document.bytes.byteLength).toBeLessThan(2_000);
  });

  it('calibrate and evaluate: the gate on the shipped (int8) head; its figures match the float32 head’s here', () => {
    calibrated = runTrainingTask({
      kind: 'calibrate',
      input: { dataset: copy(built.document), trained: copy(trained.document), candidateHead: copy(trained.head), production: production(), targetFpir: 0.01 },
    }) as CalibrateResult;
    const evaluated = runTrainingTask({
      kind: 'evaluate',
      input: {
        dataset: copy(built.document),
        trained: copy(trained.document),
        candidateHead: copy(trained.head),
        calibration: copy(calibrated.document),
        production: production(),
        rule: { primary: 'dirAtFpir' },
      },
    }) as EvaluateResult;
    expect(evaluated.report.verdict).toBe('passed');
    expect(evaluated.report.production?.version).toBe(1);
    expect(parse<{ report: unknown; datasetDigest: string }>(evaluated.document)).toMatchObject({ report: evaluated.report, datasetDigest: built.digest });
    // the same calibration and evaluation of the unquantised head
    const dataset = parse<DatasetDocument>(built.document);
    const float = trainHead(dataset.splits.train.map(loadExample), dataset.splits.validation.map(loadExample), { method: 'auto', seed: 1 }).head;
    const c = calibrate(float, dataset.splits.calibration.map(loadExample), { targetFpir: 0.01 });
    const floatReport = evaluateOpenSet(float, { match: c.match, margin: c.margin }, dataset.splits.holdout.map(loadExample), { gallery: labels });
    expect(Math.abs(c.match - evaluated.report.candidate.thresholds.match)).toBeLessThan(0.01);
    expect(evaluated.report.candidate.metrics.dirAtFpir).toBeCloseTo(floatReport.dirAtFpir.dir, 2);
    expect(evaluated.report.candidate.metrics.rank1).toBeCloseTo(floatReport.rank1, 2);
  });

  it('train-head against a parent head: unchanged identities keep their int8 columns, the delta carries the rest, and the gate scores it as the fresh head', () => {
    // the next retrain: two newcomers labelled; the trainer re-fits every row a little
    const known = syntheticGallery({ identities: 40, perIdentity: 10, strangers: 40, seed: 31, prefix: 'g', sameCosine: Math.sqrt(0.8) });
    const newcomers = syntheticGallery({ identities: 2, perIdentity: 10, seed: 22, prefix: 'n', sameCosine: Math.sqrt(0.8) });
    const grown = { examples: [...known.examples, ...newcomers.examples] };
    const packed = (examples: typeof grown.examples): PackedExamples => ({
      ids: examples.map((e) => e.id),
      labels: examples.map((e) => e.label),
      kinds: examples.map((e) => e.kind),
      groups: examples.map((e) => e.group),
      times: examples.map((e) => e.time),
      dim: 512,
      embeddings: Float32Array.from(examples.flatMap((e) => Array.from(e.embedding))),
    });
    const firstData = runTrainingTask({
      kind: 'build-dataset',
      input: { examples: packed(known.examples), seed: 1, windowMs: 60_000, counts: {} },
    }) as BuildDatasetResult;
    const nextData = runTrainingTask({
      kind: 'build-dataset',
      input: { examples: packed(grown.examples), seed: 1, windowMs: 60_000, counts: {} },
    }) as BuildDatasetResult;
    const options = { method: 'logistic' as const, seed: 1 };
    const parent = (runTrainingTask({ kind: 'train-head', input: { dataset: copy(firstData.document), options } }) as TrainHeadResult).head;
    const next = runTrainingTask({ kind: 'train-head', input: { dataset: copy(nextData.document), options, parent: copy(parent) } }) as TrainHeadResult;
    const fresh = runTrainingTask({ kind: 'train-head', input: { dataset: copy(nextData.document), options } }) as TrainHeadResult;
    const doc = parse<HeadDocument>(next.document);
    expect(doc.parent).toEqual({ sha256: parent.sha256, reused: 36, rewritten: 4, added: 2 });
    // logistic regression moved every row: a fresh quantisation would rewrite more of the 40 known columns
    const columns = (bytes: Uint8Array) => {
      const head = readIdentityHead(bytes);
      return new Map(head.labels.map((label, j) => [label, head.prototypes[j]]));
    };
    const [parentColumns, freshColumns, shippedColumns] = [columns(parent.bytes), columns(fresh.head.bytes), columns(next.head.bytes)];
    const differing = (from: Map<string, Float32Array>) => [...parentColumns].filter(([label, p]) => from.get(label)!.some((v, i) => v !== p[i])).length;
    expect(differing(shippedColumns)).toBe(4);
    expect(differing(freshColumns)).toBeGreaterThan(20);
    // the delta: the rewritten and new columns, and it rebuilds the head byte for byte
    expect(doc.delta).toMatchObject({ sha256: next.delta!.sha256, size: next.delta!.bytes.byteLength, copied: 36, carried: 6 });
    expect(sha256Of(applyHeadDelta(parent.bytes, next.delta!.bytes))).toBe(next.head.sha256);
    expect(next.delta!.bytes.byteLength).toBeLessThan(next.head.bytes.byteLength / 3);
    // the gate's figures for the shipped head (parent columns kept) and for the freshly quantised one
    const gate = (head: TrainHeadResult) => {
      const input = {
        dataset: copy(nextData.document),
        trained: copy(head.document),
        candidateHead: copy(head.head),
        production: production(),
        targetFpir: 0.01,
      };
      const calibration = (runTrainingTask({ kind: 'calibrate', input }) as CalibrateResult).document;
      return (runTrainingTask({ kind: 'evaluate', input: { ...input, calibration: copy(calibration), rule: { primary: 'dirAtFpir' } } }) as EvaluateResult)
        .report;
    };
    const shipped = gate(next);
    const reference = gate(fresh);
    expect(shipped.verdict).toBe(reference.verdict);
    expect(shipped.candidate.metrics.dirAtFpir).toBeCloseTo(reference.candidate.metrics.dirAtFpir, 2);
    expect(shipped.candidate.metrics.rank1).toBeCloseTo(reference.candidate.metrics.rank1, 2);
    expect(Math.abs(shipped.candidate.thresholds.match - reference.candidate.thresholds.match)).toBeLessThan(0.01);

    // the same retrain against a float32 parent (an upload: the first training's head unquantised): its columns
    // quantised as a device quantises them, so the same columns are kept and the candidate is byte for byte the
    // one trained against the int8 parent; the delta from the float32 head carries the same 6 columns
    const first = parse<DatasetDocument>(firstData.document);
    const uploaded = buildIdentityHead(trainHead(first.splits.train.map(loadExample), first.splits.validation.map(loadExample), options).head);
    const upload = { bytes: uploaded, sha256: sha256Of(uploaded) };
    const fromUpload = runTrainingTask({ kind: 'train-head', input: { dataset: copy(nextData.document), options, parent: copy(upload) } }) as TrainHeadResult;
    expect(parse<HeadDocument>(fromUpload.document).parent).toEqual({ sha256: upload.sha256, reused: 36, rewritten: 4, added: 2 });
    expect(fromUpload.head.sha256).toBe(next.head.sha256);
    expect(parse<HeadDocument>(fromUpload.document).delta).toMatchObject({ copied: 36, carried: 6 });
    expect(sha256Of(applyHeadDelta(uploaded, fromUpload.delta!.bytes))).toBe(next.head.sha256);
    expect(fromUpload.delta!.bytes.byteLength).toBeLessThan(next.head.bytes.byteLength / 3);
  });

  it('refuses an input whose bytes are not the ones the run recorded', () => {
    const tampered = copy(built.document);
    tampered.bytes[10] ^= 1;
    expect(() => runTrainingTask({ kind: 'train-head', input: { dataset: tampered, options: { method: 'prototypes', seed: 1 } } })).toThrow(TaskInputError);
    const head = copy(trained.head);
    head.sha256 = '0'.repeat(64);
    expect(() =>
      runTrainingTask({
        kind: 'calibrate',
        input: { dataset: copy(built.document), trained: copy(trained.document), candidateHead: head, production: null, targetFpir: 0.01 },
      }),
    ).toThrow(/candidate head has sha256/);
  });
});
