import { ConfigError, envTypes, parseEnv } from '@edgeloop/config';
import { resolve } from 'node:path';
import { z } from 'zod';

export { ConfigError };

const { port, bool, positiveInt } = envTypes;

/** Where frames come from: `folder:DIR`, `file:VIDEO`, `rtsp://…`, `v4l2:/dev/videoN`. */
const sourceSpec = z
  .string()
  .regex(/^(folder:|file:|rtsp:\/\/|rtsps:\/\/|v4l2:)/, 'folder:DIR, file:VIDEO, rtsp://URL or v4l2:/dev/videoN');

const edgeEnvSchema = z.object({
  EDGE_DEVICE_ID: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'letters, digits, ".", "_" and "-", at most 64')
    .default('edge-local'),
  EDGE_SOURCE: sourceSpec.optional(),
  EDGE_FPS: z.coerce.number().positive().max(120).default(5),
  EDGE_LOOP: bool.default(true),
  EDGE_MODELS_DIR: z.string().min(1).default('models/base'),
  EDGE_GALLERY_DIR: z.string().min(1).optional(),
  EDGE_STATE_DIR: z.string().min(1).default('./data/edge'),
  EDGE_THREADS: positiveInt.max(64).default(1),
  EDGE_HTTP_PORT: port.optional(),
  EDGE_MQTT_URL: z.string().url().optional(),
  EDGE_CLOUD_URL: z.string().url().optional(),
  EDGE_MAX_FRAMES: positiveInt.optional(),
});

export type EdgeEnv = z.infer<typeof edgeEnvSchema>;

export type SourceSpec =
  | { kind: 'folder'; path: string }
  | { kind: 'ffmpeg'; input: string };

/** The edge worker's one typed configuration, validated at boot. */
export class EdgeConfig {
  readonly deviceId: string;
  readonly source?: SourceSpec;
  readonly fps: number;
  readonly loop: boolean;
  readonly modelsDir: string;
  readonly galleryDir?: string;
  readonly stateDir: string;
  readonly threads: number;
  readonly httpPort?: number;
  readonly mqttUrl?: string;
  readonly cloudUrl?: string;
  readonly maxFrames?: number;

  constructor(env: EdgeEnv) {
    this.deviceId = env.EDGE_DEVICE_ID;
    this.source = env.EDGE_SOURCE ? parseSource(env.EDGE_SOURCE) : undefined;
    this.fps = env.EDGE_FPS;
    this.loop = env.EDGE_LOOP;
    this.modelsDir = resolve(env.EDGE_MODELS_DIR);
    this.galleryDir = env.EDGE_GALLERY_DIR ? resolve(env.EDGE_GALLERY_DIR) : undefined;
    this.stateDir = resolve(env.EDGE_STATE_DIR);
    this.threads = env.EDGE_THREADS;
    this.httpPort = env.EDGE_HTTP_PORT;
    this.mqttUrl = env.EDGE_MQTT_URL;
    this.cloudUrl = env.EDGE_CLOUD_URL;
    this.maxFrames = env.EDGE_MAX_FRAMES;
  }

  static fromEnv(env: Record<string, string | undefined> = process.env): EdgeConfig {
    return new EdgeConfig(parseEnv(edgeEnvSchema, env));
  }
}

function parseSource(spec: string): SourceSpec {
  if (spec.startsWith('folder:')) return { kind: 'folder', path: resolve(spec.slice('folder:'.length)) };
  if (spec.startsWith('file:')) return { kind: 'ffmpeg', input: resolve(spec.slice('file:'.length)) };
  if (spec.startsWith('v4l2:')) return { kind: 'ffmpeg', input: spec.slice('v4l2:'.length) };
  return { kind: 'ffmpeg', input: spec };
}
