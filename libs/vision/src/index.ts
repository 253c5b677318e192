/** @edgeloop/vision — face pipeline on onnxruntime-node + sharp: detect, align, embed, match. */
export { FacePipeline } from './pipeline';
export type { EmbeddedFace, FaceBox, FrameResult, HeadChange, RecognisedFace, StageTimings } from './pipeline';
export { parseVisionOptions, visionOptionsSchema } from './options';
export type { ModelSource, VisionOptions, VisionOptionsInput } from './options';
export { readModelBundle } from './bundle';
export type { BundleModels } from './bundle';
export {
  InvalidHeadError,
  InvalidImageError,
  InvalidVisionOptionsError,
  ModelLoadError,
  VisionError,
} from './errors';
export type { OptionIssue, VisionErrorCode } from './errors';
export { decodeAhead, decodeImage, MAX_INPUT_PIXELS, openImage, readImageHeader } from './image';
export type { DecodedFrame, ImageHeader, ImageInput, ImageLimits, RgbImage } from './image';
export {
  buildIdentityHead,
  computePrototypes,
  dequantisePrototypes,
  quantisePrototypes,
  readIdentityHead,
  encodeQuantisedHead,
  readQuantisedHead,
  HEAD_INPUT,
  HEAD_OUTPUT,
  IdentityHead,
  readHeadLabels,
} from './head';
export type { HeadBuildOptions, HeadWeights, IdentityPrototypes, LabelledEmbedding, QuantisedPrototypes } from './head';
export { applyHeadDelta, encodeHeadDelta, HeadDeltaError, quantiseAgainstParent, readDeltaBase, readHeadDeltaHeader } from './head-delta';
export type { DeltaBase, EncodedHeadDelta, HeadDeltaFailure, ParentQuantisation } from './head-delta';
export { cosineScores, matchIdentity } from './matching';
export type { IdentityMatch, MatchPolicy } from './matching';
export { evaluate, tarAtFar, UNKNOWN } from './evaluate';
export type { Evaluation, EvaluationProbe } from './evaluate';
export type { FrameStats } from './stats';
// The embedder alone, for re-embedding stored aligned crops (the cloud's training data).
export { FaceEmbedder } from './embedder';
export { createSession } from './session';
export { alignmentTransform, EMBEDDER_INPUT_SIZE, EMBEDDING_SIZE, l2Normalise, REFERENCE_POINTS_112 } from './embedder';
export { nonMaxSuppression, iou } from './nms';
export type { Corners } from './nms';
export { applyAffine, estimateSimilarity, invertAffine } from './similarity';
export type { Affine, Point } from './similarity';
export { warpAffineRgb, warpAffineToPlanar } from './warp';
export type { ChannelOrder } from './warp';
// Stage building blocks (benchmarks, tools, face crops for hard examples).
export { decodeDetections, DETECTOR_INPUT_HEIGHT, DETECTOR_INPUT_WIDTH, prepareDetectorFrame } from './detector';
export type { Detection, DetectorFrame } from './detector';
export { fivePoints, LANDMARK_INPUT_SIZE, landmarkCrop, landmarkTensorData } from './landmarks';
export { frameStats } from './stats';
