import { ConfigError, envTypes, parseEnv } from '@edgeloop/config';
import { DEVICE_ID_PATTERN, MAX_CROP_SIDE, MAX_BATCH_ITEMS, type PredictionBatchEncoding } from '@edgeloop/contracts';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { defaultReconnect, parseSourceSpec, SourceSpecError, type CreateSourceOptions, type SourceSpec } from '../sources';

export { ConfigError };
export type { SourceSpec };

const { port, bool, positiveInt } = envTypes;
const nonNegativeInt = z.coerce.number().int().nonnegative();
const unit = z.coerce.number().min(0).max(1);

/** Where frames come from, checked by the sources' own parser (its error names the accepted syntax). */
const sourceSpec = z.string().transform((value, ctx): SourceSpec => {
  try {
    return parseSourceSpec(value);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: err instanceof SourceSpecError ? err.message : String(err) });
    return z.NEVER;
  }
});

/**
 * The registry's ed25519 public key (SPKI PEM), given inline or as the path of a PEM file. Checked at boot:
 * a key that does not parse or is not ed25519 is a configuration error, not a refused deployment later.
 */
const signingKey = z.string().transform((value, ctx): KeyObject => {
  const text = value.trim().startsWith('-----BEGIN') ? value.replace(/\\n/g, '\n') : readPem(value, ctx);
  if (text === undefined) return z.NEVER;
  try {
    const key = createPublicKey(text);
    if (key.asymmetricKeyType !== 'ed25519') {
      ctx.addIssue({ code: 'custom', message: `expected an ed25519 public key, got ${key.asymmetricKeyType ?? 'an unknown key type'}` });
      return z.NEVER;
    }
    return key;
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `not a PEM public key: ${(err as Error).message}` });
    return z.NEVER;
  }
});

function readPem(path: string, ctx: z.RefinementCtx): string | undefined {
  try {
    return readFileSync(resolve(path), 'utf8');
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `neither PEM text nor a readable PEM file (${(err as Error).message})` });
    return undefined;
  }
}

const edgeEnvSchema = z
  .object({
    EDGE_DEVICE_ID: z
      .string()
      .regex(DEVICE_ID_PATTERN, '1-64 of A-Z a-z 0-9 _ -, starting with a letter or digit')
      .default('edge-local'),
    EDGE_SOURCE: sourceSpec.optional(),
    EDGE_FPS: z.coerce.number().positive().max(120).default(5),
    EDGE_LOOP: bool.default(true),
    EDGE_MAX_FRAMES: positiveInt.optional(),
    EDGE_SOURCE_MAX_FRAME_BYTES: positiveInt.max(256 * 1024 * 1024).default(4 * 1024 * 1024),
    EDGE_SOURCE_PUSH_TOKEN: z.string().min(8).max(4096).optional(),
    EDGE_SOURCE_RECONNECT_MIN_MS: nonNegativeInt.max(3_600_000).default(defaultReconnect.initialMs),
    EDGE_SOURCE_RECONNECT_MAX_MS: positiveInt.max(3_600_000).default(defaultReconnect.maxMs),
    EDGE_SOURCE_STALL_MS: positiveInt.max(3_600_000).default(10_000),
    EDGE_FFMPEG_PATH: z.string().min(1).optional(),
    EDGE_MODELS_DIR: z.string().min(1).default('models/base'),
    EDGE_GALLERY_DIR: z.string().min(1).optional(),
    EDGE_STATE_DIR: z.string().min(1).default('./data/edge'),
    EDGE_THREADS: positiveInt.max(64).default(1),
    EDGE_LOG_LEVEL: z.enum(['error', 'warn', 'info', 'debug']).default('info'),
    EDGE_LOG_FRAMES: bool.default(true),

    EDGE_HTTP_HOST: z.string().min(1).default('127.0.0.1'),
    EDGE_HTTP_PORT: port.default(0),

    EDGE_MQTT_URL: z.url({ protocol: /^(mqtts?|wss?|tcp|ssl)$/ }).optional(),
    EDGE_MQTT_USERNAME: z.string().min(1).max(128).optional(),
    EDGE_MQTT_PASSWORD: z.string().min(1).max(512).optional(),
    EDGE_MQTT_RECONNECT_MS: positiveInt.max(300_000).default(2_000),
    EDGE_MQTT_KEEPALIVE_S: positiveInt.max(3_600).default(30),
    EDGE_HEARTBEAT_S: positiveInt.max(86_400).default(30),
    EDGE_MQTT_DATA_WINDOW_BYTES: positiveInt.min(1024).max(64 * 1024 * 1024).default(16 * 1024),

    EDGE_CLOUD_URL: z.url({ protocol: /^https?$/ }).optional(),
    EDGE_HTTP_TOKEN: z.string().min(1).max(4096).optional(),
    EDGE_SIGNING_PUBLIC_KEY: signingKey.optional(),
    EDGE_DOWNLOAD_ATTEMPTS: positiveInt.max(100).default(5),
    EDGE_DOWNLOAD_BACKOFF_MS: positiveInt.max(60_000).default(500),
    EDGE_DOWNLOAD_STALL_S: positiveInt.max(3_600).default(30),
    EDGE_DEPLOY_RETRY_MS: positiveInt.max(3_600_000).default(5_000),

    EDGE_BATCH_MAX_ITEMS: positiveInt.max(MAX_BATCH_ITEMS).default(25),
    EDGE_BATCH_MAX_MS: positiveInt.max(3_600_000).default(10_000),
    /** How prediction batches go on the wire: `columns` (MessagePack columns, about a quarter of JSON) or `json` (for debugging). */
    EDGE_PREDICTION_ENCODING: z.enum(['columns', 'json']).default('columns'),
    EDGE_OUTBOX_MAX_ROWS: positiveInt.default(20_000),
    EDGE_OUTBOX_MAX_BYTES: positiveInt.default(64 * 1024 * 1024),
    EDGE_OUTBOX_INFLIGHT: positiveInt.max(1_000).default(16),
    EDGE_OUTBOX_ACK_TIMEOUT_S: positiveInt.max(3_600).default(20),

    EDGE_HARD_EXAMPLES_PER_MIN: z.coerce.number().nonnegative().max(6_000).default(6),
    EDGE_HARD_EXAMPLES_BURST: nonNegativeInt.max(1_000).default(3),
    EDGE_HARD_SCORE: unit.default(0.55),
    EDGE_HARD_MARGIN: unit.default(0.1),
    EDGE_SEND_CROPS: bool.default(false),
    EDGE_CROP_SIZE: positiveInt.min(16).max(MAX_CROP_SIDE).default(112),
  })
  .superRefine((env, ctx) => {
    if (env.EDGE_SOURCE_RECONNECT_MAX_MS < env.EDGE_SOURCE_RECONNECT_MIN_MS) {
      ctx.addIssue({ code: 'custom', path: ['EDGE_SOURCE_RECONNECT_MAX_MS'], message: 'must not be below EDGE_SOURCE_RECONNECT_MIN_MS' });
    }
    if (env.EDGE_MQTT_PASSWORD !== undefined && env.EDGE_MQTT_URL === undefined) {
      ctx.addIssue({ code: 'custom', path: ['EDGE_MQTT_PASSWORD'], message: 'set without EDGE_MQTT_URL' });
    }
    if (env.EDGE_HTTP_TOKEN !== undefined && env.EDGE_CLOUD_URL === undefined) {
      ctx.addIssue({ code: 'custom', path: ['EDGE_HTTP_TOKEN'], message: 'set without EDGE_CLOUD_URL' });
    }
  });

export type EdgeEnv = z.infer<typeof edgeEnvSchema>;

/** The name of every environment variable of the worker's configuration (enrolment's own: `enrolmentEnvNames`). */
export const edgeEnvNames: readonly string[] = Object.keys(edgeEnvSchema.shape);

export interface MqttSettings {
  url: string;
  username: string;
  password?: string;
  reconnectMs: number;
  keepaliveS: number;
  /** Most bytes of data (outbox) publishes awaiting PUBACK: what a control message may wait behind. */
  dataWindowBytes: number;
}

export interface DownloadSettings {
  attempts: number;
  backoffMs: number;
  /** A blob GET that receives no byte for this long is aborted and resumed with Range. */
  stallTimeoutMs: number;
}

export interface OutboxSettings {
  maxRows: number;
  maxBytes: number;
  inflight: number;
  /** A row the broker acknowledged that the cloud has not acknowledged after this long is sent again. */
  ackTimeoutMs: number;
}

export interface BatchSettings {
  maxItems: number;
  maxMs: number;
  /** The wire encoding of a batch (libs/contracts prediction-encoding.ts). */
  encoding: PredictionBatchEncoding;
}

export interface HardExampleSettings {
  perMinute: number;
  burst: number;
  /** A recognised face whose top-1 score is below this is a `low_score` example. */
  scoreBelow: number;
  /** A recognised face whose margin is below this is a `small_margin` example. */
  marginBelow: number;
  /** Privacy: may face crops leave the device? Embeddings always may. */
  sendCrops: boolean;
  cropSize: number;
}

/** The edge worker's one typed configuration, validated at boot (every bad variable listed at once). */
export class EdgeConfig {
  readonly deviceId: string;
  readonly source?: SourceSpec;
  /** Options for `createSource` (sources/), from EDGE_FPS, EDGE_LOOP and the EDGE_SOURCE_* variables. */
  readonly sourceOptions: CreateSourceOptions;
  readonly fps: number;
  readonly loop: boolean;
  readonly maxFrames?: number;
  readonly modelsDir: string;
  readonly galleryDir?: string;
  readonly stateDir: string;
  readonly threads: number;
  readonly logLevel: EdgeEnv['EDGE_LOG_LEVEL'];
  readonly logFrames: boolean;
  readonly httpHost: string;
  readonly httpPort: number;
  readonly mqtt?: MqttSettings;
  readonly heartbeatMs: number;
  readonly cloudUrl?: string;
  readonly httpToken?: string;
  readonly signingPublicKey?: KeyObject;
  readonly download: DownloadSettings;
  readonly deployRetryMs: number;
  readonly batch: BatchSettings;
  readonly outbox: OutboxSettings;
  readonly hardExamples: HardExampleSettings;

  constructor(env: EdgeEnv) {
    this.deviceId = env.EDGE_DEVICE_ID;
    this.source = env.EDGE_SOURCE;
    this.fps = env.EDGE_FPS;
    this.loop = env.EDGE_LOOP;
    this.sourceOptions = {
      fps: env.EDGE_FPS,
      loop: env.EDGE_LOOP,
      maxFrameBytes: env.EDGE_SOURCE_MAX_FRAME_BYTES,
      ...(env.EDGE_SOURCE_PUSH_TOKEN !== undefined ? { pushToken: env.EDGE_SOURCE_PUSH_TOKEN } : {}),
      reconnect: { ...defaultReconnect, initialMs: env.EDGE_SOURCE_RECONNECT_MIN_MS, maxMs: env.EDGE_SOURCE_RECONNECT_MAX_MS },
      stallTimeoutMs: env.EDGE_SOURCE_STALL_MS,
      ...(env.EDGE_FFMPEG_PATH !== undefined ? { ffmpegPath: env.EDGE_FFMPEG_PATH } : {}),
    };
    this.maxFrames = env.EDGE_MAX_FRAMES;
    this.modelsDir = resolve(env.EDGE_MODELS_DIR);
    this.galleryDir = env.EDGE_GALLERY_DIR ? resolve(env.EDGE_GALLERY_DIR) : undefined;
    this.stateDir = resolve(env.EDGE_STATE_DIR);
    this.threads = env.EDGE_THREADS;
    this.logLevel = env.EDGE_LOG_LEVEL;
    this.logFrames = env.EDGE_LOG_FRAMES;
    this.httpHost = env.EDGE_HTTP_HOST;
    this.httpPort = env.EDGE_HTTP_PORT;
    this.mqtt = env.EDGE_MQTT_URL
      ? {
          url: env.EDGE_MQTT_URL,
          username: env.EDGE_MQTT_USERNAME ?? env.EDGE_DEVICE_ID,
          ...(env.EDGE_MQTT_PASSWORD !== undefined ? { password: env.EDGE_MQTT_PASSWORD } : {}),
          reconnectMs: env.EDGE_MQTT_RECONNECT_MS,
          keepaliveS: env.EDGE_MQTT_KEEPALIVE_S,
          dataWindowBytes: env.EDGE_MQTT_DATA_WINDOW_BYTES,
        }
      : undefined;
    this.heartbeatMs = env.EDGE_HEARTBEAT_S * 1000;
    this.cloudUrl = env.EDGE_CLOUD_URL;
    this.httpToken = env.EDGE_HTTP_TOKEN;
    this.signingPublicKey = env.EDGE_SIGNING_PUBLIC_KEY;
    this.download = { attempts: env.EDGE_DOWNLOAD_ATTEMPTS, backoffMs: env.EDGE_DOWNLOAD_BACKOFF_MS, stallTimeoutMs: env.EDGE_DOWNLOAD_STALL_S * 1000 };
    this.deployRetryMs = env.EDGE_DEPLOY_RETRY_MS;
    this.batch = { maxItems: env.EDGE_BATCH_MAX_ITEMS, maxMs: env.EDGE_BATCH_MAX_MS, encoding: env.EDGE_PREDICTION_ENCODING };
    this.outbox = { maxRows: env.EDGE_OUTBOX_MAX_ROWS, maxBytes: env.EDGE_OUTBOX_MAX_BYTES, inflight: env.EDGE_OUTBOX_INFLIGHT, ackTimeoutMs: env.EDGE_OUTBOX_ACK_TIMEOUT_S * 1000 };
    this.hardExamples = {
      perMinute: env.EDGE_HARD_EXAMPLES_PER_MIN,
      burst: env.EDGE_HARD_EXAMPLES_BURST,
      scoreBelow: env.EDGE_HARD_SCORE,
      marginBelow: env.EDGE_HARD_MARGIN,
      sendCrops: env.EDGE_SEND_CROPS,
      cropSize: env.EDGE_CROP_SIZE,
    };
  }

  static fromEnv(env: Record<string, string | undefined> = process.env): EdgeConfig {
    return new EdgeConfig(parseEnv(edgeEnvSchema, env));
  }
}
