import {
  alignmentTransform,
  createSession,
  decodeImage,
  FaceEmbedder,
  FacePipeline,
  InvalidImageError,
  invertAffine,
  parseVisionOptions,
  REFERENCE_POINTS_112,
  warpAffineRgb,
  type EmbeddedFace,
  type RgbImage,
} from '@edgeloop/vision';
import sharp from 'sharp';
import { parentPort } from 'node:worker_threads';
import type { EnrolOutcome, FaceJob, FaceJobRequest, FaceJobResponse, FaceModelPaths } from './face-worker.protocol';

/**
 * The face-analysis worker thread: runs @edgeloop/vision off the API's event loop. One job at a time, in
 * the order received. Keeps the models of the last two embedders loaded.
 */

interface LoadedModels {
  pipeline: FacePipeline;
  /** The embedder alone, run on aligned crops: enrolment embeds the stored crop, so re-embedding it later is exact. */
  embedder: FaceEmbedder;
}

const loaded = new Map<string, Promise<LoadedModels>>();
const KEEP = 2;

async function load(models: FaceModelPaths): Promise<LoadedModels> {
  const pipeline = await FacePipeline.load({
    models: { detector: models.detector, landmarks: models.landmarks, embedder: models.embedder },
    ...(models.detectionThreshold !== undefined ? { detectionThreshold: models.detectionThreshold } : {}),
  });
  const options = parseVisionOptions({ models: { detector: models.detector, landmarks: models.landmarks, embedder: models.embedder } });
  const session = await createSession('embedder', models.embedder, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' }, 'basic');
  return { pipeline, embedder: new FaceEmbedder(session, options.embedderChannelOrder) };
}

function modelsFor(models: FaceModelPaths): Promise<LoadedModels> {
  const key = JSON.stringify(models);
  let entry = loaded.get(key);
  if (entry) {
    loaded.delete(key);
    loaded.set(key, entry); // most recently used last
    return entry;
  }
  entry = load(models);
  entry.catch(() => loaded.delete(key));
  loaded.set(key, entry);
  while (loaded.size > KEEP) {
    const [oldestKey, oldest] = loaded.entries().next().value!;
    loaded.delete(oldestKey);
    void oldest.then((m) => Promise.all([m.pipeline.release(), m.embedder.session.release()])).catch(() => undefined);
  }
  return entry;
}

function alignedCrop(image: RgbImage, face: EmbeddedFace): RgbImage {
  return warpAffineRgb(image, invertAffine(alignmentTransform(face.landmarks)), 112, 112);
}

async function png(image: RgbImage): Promise<Uint8Array> {
  return new Uint8Array(
    await sharp(Buffer.from(image.data), { raw: { width: image.width, height: image.height, channels: 3 } })
      .png()
      .toBuffer(),
  );
}

function largest(faces: EmbeddedFace[]): EmbeddedFace | undefined {
  return [...faces].sort((a, b) => b.box.width * b.box.height - a.box.width * a.box.height)[0];
}

async function enrol(models: LoadedModels, photo: Uint8Array): Promise<EnrolOutcome> {
  let image: RgbImage;
  try {
    image = await decodeImage(photo);
  } catch (err) {
    if (!(err instanceof InvalidImageError)) throw err;
    return err.code === 'IMAGE_TOO_LARGE'
      ? { status: 'refused', error: 'image_too_large', message: err.message }
      : { status: 'refused', error: 'not_an_image', message: `not an image this server can read (${err.message})` };
  }
  const faces = await models.pipeline.embedFaces(image);
  if (faces.length === 0) return { status: 'refused', error: 'no_face', message: 'no face was found', faces: 0 };
  if (faces.length > 1) {
    return { status: 'refused', error: 'several_faces', message: `${faces.length} faces were found; an enrolment photo shows one person`, faces: faces.length };
  }
  const crop = alignedCrop(image, faces[0]);
  const embedding = await models.embedder.embed(crop, REFERENCE_POINTS_112);
  return { status: 'enrolled', crop: await png(crop), embedding, score: faces[0].score };
}

async function run(job: FaceJob): Promise<unknown> {
  const models = await modelsFor(job.models);
  switch (job.op) {
    case 'enrol':
      return enrol(models, job.photo);
    case 'embed-aligned': {
      const out: Array<Float32Array | null> = [];
      for (const bytes of job.crops) {
        const crop = await decodeImage(bytes).catch(() => null);
        out.push(crop ? await models.embedder.embed(crop, REFERENCE_POINTS_112) : null);
      }
      return out;
    }
    case 'embed-face-crops': {
      const out: Array<Float32Array | null> = [];
      for (const bytes of job.crops) {
        const image = await decodeImage(bytes).catch(() => null);
        const face = image ? largest(await models.pipeline.embedFaces(image)) : undefined;
        out.push(image && face ? await models.embedder.embed(alignedCrop(image, face), REFERENCE_POINTS_112) : null);
      }
      return out;
    }
  }
}

let chain = Promise.resolve();
parentPort!.on('message', (request: FaceJobRequest) => {
  chain = chain.then(async () => {
    let response: FaceJobResponse;
    try {
      response = { id: request.id, ok: true, result: await run(request.job) };
    } catch (err) {
      response = { id: request.id, ok: false, message: (err as Error).message ?? String(err) };
    }
    parentPort!.postMessage(response);
  });
});
