import { ApiClient, ApiError, EnrolmentApi } from '@edgeloop/client';
import { parseEnv } from '@edgeloop/config';
import { DEVICE_ID_PATTERN } from '@edgeloop/contracts';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { z } from 'zod';
import { Logger } from '../logger';
import { credentialsFile, readEnrolment, writeEnrolment, type StoredEnrolment } from './credential-store';

type Env = Record<string, string | undefined>;

const enrolmentEnvSchema = z.object({
  EDGE_ENROLMENT_TOKEN: z.string().min(8).max(512),
  EDGE_CLOUD_URL: z.url({ protocol: /^https?$/ }),
  EDGE_STATE_DIR: z.string().min(1).default('./data/edge'),
  EDGE_DEVICE_ID: z.string().regex(DEVICE_ID_PATTERN, '1-64 of A-Z a-z 0-9 _ -, starting with a letter or digit').optional(),
  EDGE_DEVICE_NAME: z.string().min(1).max(128).optional(),
});

/** The environment variables enrolment reads (deployment files are checked against them). */
export const enrolmentEnvNames: readonly string[] = Object.keys(enrolmentEnvSchema.shape);

/** The cloud refused the enrolment (a 4xx): trying again with the same token cannot succeed. */
export class EnrolmentRefusedError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`enrolment refused (${code}): ${message}`);
    this.name = 'EnrolmentRefusedError';
  }
}

export interface EnrolOptions {
  /** Waits between attempts while the cloud cannot be reached (or answers 5xx); default 1 s doubling to 30 s. */
  retry?: { initialMs: number; maxMs: number };
  signal?: AbortSignal;
}

/**
 * Zero-touch enrolment at boot. With `EDGE_ENROLMENT_TOKEN` and no MQTT password configured, the device
 * uses the credentials it stored under `EDGE_STATE_DIR` at an earlier boot, or (first boot) enrols once with
 * `POST /api/v1/devices/enrol` and stores the answer before going on. Returns the environment with the
 * device's id, broker URL and credentials filled in, for `EdgeConfig.fromEnv`; without a token, or with
 * configured credentials, returns it unchanged. Variables set explicitly (`EDGE_MQTT_URL`) win over the
 * stored ones.
 */
export async function withEnrolment(env: Env, options: EnrolOptions = {}): Promise<Env> {
  if (!env.EDGE_ENROLMENT_TOKEN) return env;
  const logger = new Logger('Enrolment');
  if (env.EDGE_MQTT_PASSWORD) {
    logger.warn('EDGE_MQTT_PASSWORD is set: using the configured credentials, not EDGE_ENROLMENT_TOKEN');
    return env;
  }
  const settings = parseEnv(enrolmentEnvSchema, env);
  const file = credentialsFile(resolve(settings.EDGE_STATE_DIR));
  let stored = readEnrolment(file);
  if (stored) {
    logger.info(`enrolled as ${stored.deviceId} on ${stored.enrolledAt}: using the stored credentials (${file})`);
    if (settings.EDGE_DEVICE_ID && settings.EDGE_DEVICE_ID !== stored.deviceId) {
      logger.warn(`EDGE_DEVICE_ID=${settings.EDGE_DEVICE_ID} is ignored: this device enrolled as ${stored.deviceId}`);
    }
  } else {
    stored = await enrolOnce(settings, file, logger, options);
  }
  return { ...env, ...credentialEnv(stored), ...(env.EDGE_MQTT_URL ? { EDGE_MQTT_URL: env.EDGE_MQTT_URL } : {}) };
}

async function enrolOnce(settings: z.infer<typeof enrolmentEnvSchema>, file: string, logger: Logger, options: EnrolOptions): Promise<StoredEnrolment> {
  const api = new EnrolmentApi(new ApiClient({ baseUrl: settings.EDGE_CLOUD_URL, timeoutMs: 15_000 }));
  const request = {
    token: settings.EDGE_ENROLMENT_TOKEN,
    // one nonce for every attempt of this boot: a retry after a lost answer is refused as a replay, never a second device
    nonce: randomBytes(18).toString('base64url'),
    ...(settings.EDGE_DEVICE_ID ? { deviceId: settings.EDGE_DEVICE_ID } : {}),
    ...(settings.EDGE_DEVICE_NAME ? { name: settings.EDGE_DEVICE_NAME } : {}),
  };
  const retry = options.retry ?? { initialMs: 1000, maxMs: 30_000 };
  let wait = retry.initialMs;
  for (;;) {
    try {
      const answer = await api.enrol(request);
      const stored = writeEnrolment(file, answer, settings.EDGE_CLOUD_URL);
      logger.info(`enrolled as ${stored.deviceId} (group ${answer.device.group ?? 'none'}); credentials stored in ${file}`);
      return stored;
    } catch (err) {
      if (err instanceof ApiError && err.status >= 400 && err.status < 500) throw new EnrolmentRefusedError(err.code, err.message);
      logger.warn(`cannot enrol yet (${(err as Error).message}); trying again in ${wait} ms`);
    }
    await new Promise<void>((done, fail) => {
      const timer = setTimeout(done, wait);
      options.signal?.addEventListener('abort', () => (clearTimeout(timer), fail(new Error('enrolment aborted'))), { once: true });
    });
    wait = Math.min(wait * 2, retry.maxMs);
  }
}

function credentialEnv(stored: StoredEnrolment): Env {
  return {
    EDGE_DEVICE_ID: stored.deviceId,
    EDGE_MQTT_URL: stored.mqttUrl,
    EDGE_MQTT_USERNAME: stored.credentials.mqtt.username,
    EDGE_MQTT_PASSWORD: stored.credentials.mqtt.password,
    EDGE_CLOUD_URL: stored.cloudUrl,
    EDGE_HTTP_TOKEN: stored.credentials.http.token,
    EDGE_SIGNING_PUBLIC_KEY: stored.signingKey.publicKey,
  };
}
