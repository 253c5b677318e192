import { signWebhook, verifyWebhook, WEBHOOK_HEADERS, WEBHOOK_MAX_AGE_SECONDS, webhookRequestHeaders } from './webhook-signature';
import { WEBHOOK_EVENT_SCHEMAS, WEBHOOK_EVENT_TYPES, WebhookEventSchema } from './webhooks';
import { expectInvalid, expectValid } from './testing/expect-invalid';

const secret = 'whsec_0123456789abcdef';
const now = Date.UTC(2026, 0, 31, 12, 0, 0);
const timestamp = String(now / 1000);

const driftEvent = {
  id: 'evt_1',
  type: 'drift.detected',
  createdAt: '2026-01-31T12:00:00.000Z',
  data: {
    driftEventId: 'drift_1',
    model: { name: 'face-id', version: 7 },
    window: { start: '2026-01-31T11:55:00.000Z', end: '2026-01-31T12:00:00.000Z' },
    reference: { kind: 'window', start: '2026-01-31T10:00:00.000Z', end: '2026-01-31T10:05:00.000Z' },
    devices: ['cam-01'],
    evidence: [
      { metric: 'score_psi', value: 0.41, threshold: 0.2 },
      { metric: 'brightness_shift', value: 0.3, threshold: 0.15 },
      { metric: 'unknown_rate', value: 0.6, threshold: 0.05, pValue: 0.0001 },
    ],
  },
};

describe('webhook events', () => {
  it('has a schema for every event type and accepts realistic bodies', () => {
    expect(Object.keys(WEBHOOK_EVENT_SCHEMAS).sort()).toEqual([...WEBHOOK_EVENT_TYPES].sort());
    expectValid(WebhookEventSchema, driftEvent);
    expectValid(WebhookEventSchema, {
      id: 'evt_2',
      type: 'deployment.rolled_back',
      createdAt: '2026-01-31T12:00:00.000Z',
      data: { deploymentId: 'dep_1', model: { name: 'face-id', version: 8 }, devices: { total: 3, succeeded: 0, failed: 1 }, reason: 'canary gate failed', automatic: true },
    });
    expectValid(WebhookEventSchema, {
      id: 'evt_3',
      type: 'model.version.created',
      createdAt: '2026-01-31T12:00:00.000Z',
      data: { model: { name: 'face-id', version: 8 }, parent: 7, files: [{ role: 'head', sha256: 'a'.repeat(64), size: 20544 }], createdBy: 'retraining' },
    });
  });

  it('names the bad field', () => {
    expectInvalid(WebhookEventSchema, { ...driftEvent, type: 'drift.maybe' }, 'type');
    expectInvalid(WebhookEventSchema, { ...driftEvent, data: { ...driftEvent.data, evidence: [] } }, 'data.evidence');
    expectInvalid(WebhookEventSchema, { ...driftEvent, data: { ...driftEvent.data, evidence: [{ metric: 'vibes', value: 1, threshold: 0 }] } }, 'data.evidence[0].metric');
    expectInvalid(WebhookEventSchema, { ...driftEvent, createdAt: 1_769_860_800_000 }, 'createdAt');
  });
});

describe('webhook signatures', () => {
  const body = JSON.stringify(driftEvent);

  it('signs as sha256=<hex HMAC of timestamp.body>', () => {
    expect(signWebhook(secret, timestamp, body)).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(signWebhook(secret, Number(timestamp), body)).toBe(signWebhook(secret, timestamp, Buffer.from(body)));
    expect(() => signWebhook(secret, '12.5', body)).toThrow('Unix seconds');
  });

  it('verifies its own signature', () => {
    const signature = signWebhook(secret, timestamp, body);
    expect(verifyWebhook({ secret, timestamp, signature, body, nowMs: now + 10_000 })).toEqual({ ok: true });
  });

  it('refuses a tampered body, another secret, a moved timestamp', () => {
    const signature = signWebhook(secret, timestamp, body);
    const tampered = body.replace('0.41', '0.01');
    expect(verifyWebhook({ secret, timestamp, signature, body: tampered, nowMs: now })).toEqual({ ok: false, reason: 'signature_mismatch' });
    expect(verifyWebhook({ secret: 'another-secret-123', timestamp, signature, body, nowMs: now })).toEqual({ ok: false, reason: 'signature_mismatch' });
    const moved = String(Number(timestamp) + 1);
    expect(verifyWebhook({ secret, timestamp: moved, signature, body, nowMs: now })).toEqual({ ok: false, reason: 'signature_mismatch' });
  });

  it('refuses an old or future timestamp even with a valid signature', () => {
    const signature = signWebhook(secret, timestamp, body);
    const late = now + (WEBHOOK_MAX_AGE_SECONDS + 1) * 1000;
    expect(verifyWebhook({ secret, timestamp, signature, body, nowMs: late })).toEqual({ ok: false, reason: 'stale_timestamp' });
    const early = now - (WEBHOOK_MAX_AGE_SECONDS + 1) * 1000;
    expect(verifyWebhook({ secret, timestamp, signature, body, nowMs: early })).toEqual({ ok: false, reason: 'stale_timestamp' });
    expect(verifyWebhook({ secret, timestamp, signature, body, nowMs: late, maxAgeSeconds: 3600 })).toEqual({ ok: true });
  });

  it('refuses missing or malformed headers', () => {
    const signature = signWebhook(secret, timestamp, body);
    expect(verifyWebhook({ secret, timestamp: undefined, signature, body, nowMs: now })).toEqual({ ok: false, reason: 'malformed_timestamp' });
    expect(verifyWebhook({ secret, timestamp: 'soon', signature, body, nowMs: now })).toEqual({ ok: false, reason: 'malformed_timestamp' });
    expect(verifyWebhook({ secret, timestamp, signature: undefined, body, nowMs: now })).toEqual({ ok: false, reason: 'malformed_signature' });
    expect(verifyWebhook({ secret, timestamp, signature: signature.slice(7), body, nowMs: now })).toEqual({ ok: false, reason: 'malformed_signature' });
  });

  it('builds every delivery header, verifiable by a receiver', () => {
    const headers = webhookRequestHeaders({ secret, event: 'drift.detected', deliveryId: 'dlv_1', body, nowMs: now });
    expect(headers[WEBHOOK_HEADERS.event]).toBe('drift.detected');
    expect(headers[WEBHOOK_HEADERS.delivery]).toBe('dlv_1');
    expect(headers[WEBHOOK_HEADERS.timestamp]).toBe(timestamp);
    const received = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
    expect(
      verifyWebhook({
        secret,
        timestamp: received[WEBHOOK_HEADERS.timestamp.toLowerCase()],
        signature: received[WEBHOOK_HEADERS.signature.toLowerCase()],
        body,
        nowMs: now,
      }),
    ).toEqual({ ok: true });
  });
});
