import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Webhook request signing. A delivery is a POST of the JSON body with these headers; the signature
 * is `sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>` over the exact body bytes sent,
 * and the timestamp is Unix seconds as a decimal string. Node lowercases incoming header names:
 * read them with `req.headers[WEBHOOK_HEADERS.signature.toLowerCase()]`.
 */
export const WEBHOOK_HEADERS = {
  event: 'X-Edgeloop-Event',
  delivery: 'X-Edgeloop-Delivery',
  timestamp: 'X-Edgeloop-Timestamp',
  signature: 'X-Edgeloop-Signature',
} as const;

export const WEBHOOK_SIGNATURE_PREFIX = 'sha256=';

/** A receiver refuses a timestamp further than this from its clock, in either direction (replay window). */
export const WEBHOOK_MAX_AGE_SECONDS = 300;

const TIMESTAMP_PATTERN = /^[0-9]{1,12}$/;
const SIGNATURE_PATTERN = /^sha256=[0-9a-f]{64}$/;

function hmac(secret: string | Uint8Array, timestamp: string, body: string | Uint8Array): Buffer {
  return createHmac('sha256', secret).update(`${timestamp}.`, 'utf8').update(body).digest();
}

/** `sha256=<hex>` for a delivery; `timestamp` is the X-Edgeloop-Timestamp value (Unix seconds). */
export function signWebhook(secret: string | Uint8Array, timestamp: string | number, body: string | Uint8Array): string {
  const ts = String(timestamp);
  if (!TIMESTAMP_PATTERN.test(ts)) throw new RangeError(`webhook timestamp "${ts.slice(0, 40)}" is not Unix seconds`);
  return `${WEBHOOK_SIGNATURE_PREFIX}${hmac(secret, ts, body).toString('hex')}`;
}

export type WebhookVerification =
  | { ok: true }
  | { ok: false; reason: 'malformed_timestamp' | 'stale_timestamp' | 'malformed_signature' | 'signature_mismatch' };

export interface WebhookVerifyInput {
  secret: string | Uint8Array;
  /** The X-Edgeloop-Timestamp header as received. */
  timestamp: string | undefined;
  /** The X-Edgeloop-Signature header as received. */
  signature: string | undefined;
  /** The raw body bytes as received, before any JSON parsing. */
  body: string | Uint8Array;
  /** The receiver's clock in milliseconds; defaults to Date.now(). */
  nowMs?: number;
  maxAgeSeconds?: number;
}

/** Checks the timestamp window, then the HMAC with a constant-time compare. */
export function verifyWebhook(input: WebhookVerifyInput): WebhookVerification {
  const { timestamp, signature } = input;
  if (timestamp === undefined || !TIMESTAMP_PATTERN.test(timestamp)) return { ok: false, reason: 'malformed_timestamp' };
  const nowSeconds = Math.floor((input.nowMs ?? Date.now()) / 1000);
  if (Math.abs(nowSeconds - Number(timestamp)) > (input.maxAgeSeconds ?? WEBHOOK_MAX_AGE_SECONDS)) {
    return { ok: false, reason: 'stale_timestamp' };
  }
  if (signature === undefined || !SIGNATURE_PATTERN.test(signature)) return { ok: false, reason: 'malformed_signature' };
  const expected = hmac(input.secret, timestamp, input.body);
  const given = Buffer.from(signature.slice(WEBHOOK_SIGNATURE_PREFIX.length), 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected) ? { ok: true } : { ok: false, reason: 'signature_mismatch' };
}

export interface WebhookRequestHeaders {
  'Content-Type': 'application/json';
  'X-Edgeloop-Event': string;
  'X-Edgeloop-Delivery': string;
  'X-Edgeloop-Timestamp': string;
  'X-Edgeloop-Signature': string;
}

/** Every header of one delivery attempt; `body` must be the exact string that will be sent. */
export function webhookRequestHeaders(args: {
  secret: string | Uint8Array;
  event: string;
  deliveryId: string;
  body: string;
  nowMs?: number;
}): WebhookRequestHeaders {
  const timestamp = String(Math.floor((args.nowMs ?? Date.now()) / 1000));
  return {
    'Content-Type': 'application/json',
    [WEBHOOK_HEADERS.event]: args.event,
    [WEBHOOK_HEADERS.delivery]: args.deliveryId,
    [WEBHOOK_HEADERS.timestamp]: timestamp,
    [WEBHOOK_HEADERS.signature]: signWebhook(args.secret, timestamp, args.body),
  } as WebhookRequestHeaders;
}
