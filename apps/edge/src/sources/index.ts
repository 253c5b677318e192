import type { SourceSpec } from '../config/edge.config';
import { FfmpegSource } from './ffmpeg.source';
import { FolderSource } from './folder.source';
import type { FrameSource } from './frame-source';

export { FrameSource, type Frame } from './frame-source';

export function createSource(spec: SourceSpec, options: { fps: number; loop: boolean }): FrameSource {
  switch (spec.kind) {
    case 'folder':
      return new FolderSource(spec.path, options);
    case 'ffmpeg':
      return new FfmpegSource(spec.input, options);
  }
}
