/** Messages between the cloud and its face-analysis worker thread (`face-worker.main.ts`). */

/** Local paths of the models one analysis runs on (cached from S3 by their sha256). */
export interface FaceModelPaths {
  detector: string;
  landmarks: string;
  embedder: string;
  detectionThreshold?: number;
}

export type FaceJob =
  /** Detect, align and embed the one face of an enrolment photo. */
  | { op: 'enrol'; models: FaceModelPaths; photo: Uint8Array }
  /** Embed stored aligned 112×112 crops (no detection: they are aligned already). */
  | { op: 'embed-aligned'; models: FaceModelPaths; crops: Uint8Array[] }
  /** Embed the largest face found in each loose face crop (hard-example crops from devices). */
  | { op: 'embed-face-crops'; models: FaceModelPaths; crops: Uint8Array[] };

export type EnrolOutcome =
  | { status: 'enrolled'; crop: Uint8Array; embedding: Float32Array; score: number }
  | { status: 'refused'; error: 'not_an_image' | 'image_too_large' | 'no_face' | 'several_faces'; message: string; faces?: number };

export type FaceJobResult<J extends FaceJob> = J extends { op: 'enrol' } ? EnrolOutcome : Array<Float32Array | null>;

export interface FaceJobRequest {
  id: number;
  job: FaceJob;
}

export type FaceJobResponse = { id: number; ok: true; result: unknown } | { id: number; ok: false; message: string };
