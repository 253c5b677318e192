import { z } from 'zod';
import { InvalidVisionOptionsError } from './errors';

/** A model is either a file path or its bytes (the edge loads from its content-addressed blob store). */
const modelBytes = z.custom<Uint8Array>((v) => v instanceof Uint8Array, 'must be a file path or a Buffer/Uint8Array');
const modelSource = z.union([z.string().min(1, 'must be a non-empty path'), modelBytes], {
  error: 'must be a file path or a Buffer/Uint8Array',
});

const threads = z.int('must be an integer').min(1, 'must be ≥ 1').max(64, 'must be ≤ 64');
const unit = (name: string) =>
  z.number(`${name} must be a number`).gt(0, 'must be > 0').lt(1, 'must be < 1');

export const visionOptionsSchema = z.strictObject({
  models: z.strictObject({
    detector: modelSource,
    landmarks: modelSource,
    embedder: modelSource,
    /** Optional identity head (ONNX bytes or path); without it every face is unknown. */
    head: modelSource.optional(),
  }),
  /** Labels of the head's output columns, in order. Required with `models.head`. */
  labels: z.array(z.string().min(1, 'labels must be non-empty strings')).optional(),
  /** onnxruntime threads inside one operator. 1 suits a small shared device; more helps a big frame. */
  intraOpNumThreads: threads.default(1),
  /** onnxruntime threads across operators (only with executionMode `parallel`). */
  interOpNumThreads: threads.default(1),
  executionMode: z.enum(['sequential', 'parallel']).default('sequential'),
  /** Face score threshold of the detector. */
  detectionThreshold: unit('detectionThreshold').default(0.8),
  /** Greedy NMS IoU above which a lower-scored box is suppressed. */
  nmsIou: unit('nmsIou').default(0.4),
  /** At most this many faces per frame (largest scores first). */
  maxFaces: z.int('must be an integer').min(1, 'must be ≥ 1').max(256, 'must be ≤ 256').default(32),
  /** Faces whose detected box is smaller than this (pixels, shorter side) are dropped. */
  minFaceSize: z.number('must be a number').min(0, 'must be ≥ 0').default(0),
  /** Cosine score below which the top-1 identity is reported as unknown (null). */
  matchThreshold: z.number('must be a number').gt(-1, 'must be > -1').lt(1, 'must be < 1').default(0.45),
  /** Minimum gap between the top-1 and top-2 scores for a match; below it the face is unknown. */
  minMargin: z.number('must be a number').min(0, 'must be ≥ 0').lt(2, 'must be < 2').default(0.05),
  /** Channel order fed to the embedder (measured: BGR separates identities better with this model). */
  embedderChannelOrder: z.enum(['rgb', 'bgr']).default('bgr'),
  /** Channel order fed to the detector. */
  detectorChannelOrder: z.enum(['rgb', 'bgr']).default('rgb'),
  /** Attach each face's embedding to the result (hard examples, enrolment). */
  includeEmbeddings: z.boolean('must be true or false').default(false),
});

export type VisionOptionsInput = z.input<typeof visionOptionsSchema>;
export type VisionOptions = z.output<typeof visionOptionsSchema>;
export type ModelSource = z.output<typeof modelSource>;

/** Validates options once; every bad field is listed in one `InvalidVisionOptionsError`. */
export function parseVisionOptions(input: unknown): VisionOptions {
  const parsed = visionOptionsSchema.safeParse(input);
  const issues = parsed.success
    ? []
    : parsed.error.issues.map((issue) => ({
        field: issue.path.length > 0 ? issue.path.map(String).join('.') : '(options)',
        message: issue.message,
      }));
  if (parsed.success) {
    const { models, labels } = parsed.data;
    if (models.head !== undefined && labels === undefined) {
      issues.push({ field: 'labels', message: 'required when models.head is given' });
    }
    if (labels !== undefined && new Set(labels).size !== labels.length) {
      issues.push({ field: 'labels', message: 'must be unique' });
    }
  }
  if (issues.length > 0 || !parsed.success) throw new InvalidVisionOptionsError(issues);
  return parsed.data;
}
