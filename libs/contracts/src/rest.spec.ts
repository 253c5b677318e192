import { z } from 'zod';
import { CreateDeploymentRequestSchema } from './rest/deployments';
import { ProvisionDeviceRequestSchema } from './rest/devices';
import { CreateWebhookRequestSchema } from './rest/webhooks';
import { LabelHardExampleRequestSchema } from './rest/hard-examples';
import { StartRetrainingRequestSchema } from './rest/retraining';
import { SetAliasRequestSchema } from './rest/models';
import { PredictionMetricsQuerySchema } from './rest/metrics';
import { apiPaths } from './rest/paths';
import { ERROR_CODES, ERROR_STATUS, ErrorBodySchema, errorBody, validationErrorBody } from './errors';
import { expectInvalid, expectValid } from './testing/expect-invalid';

describe('error body', () => {
  it('maps every code to a 4xx or 5xx status and has the design shape', () => {
    expect(ERROR_CODES.every((code) => ERROR_STATUS[code] >= 400 && ERROR_STATUS[code] < 600)).toBe(true);
    expect(ERROR_STATUS.payload_too_large).toBe(413);
    expect(ERROR_STATUS.invalid_artifact).toBe(422);
    expect(ERROR_STATUS.manifest_file_missing).toBe(400);
    expectValid(ErrorBodySchema, errorBody('not_found', 'model face-id not found'));
    expectInvalid(ErrorBodySchema, { error: 'Not Found', message: 'x', details: [] }, 'error');
  });

  it('turns a zod error into validation_failed with one detail per field', () => {
    const parsed = ProvisionDeviceRequestSchema.safeParse({ name: '', labels: { site: 'lab lab' } });
    const body = validationErrorBody(parsed.error as z.ZodError);
    expect(body.error).toBe('validation_failed');
    expect(body.message).toContain('name:');
    expect(body.details).toEqual(expect.arrayContaining([expect.objectContaining({ path: 'labels.site' })]));
  });
});

describe('REST DTOs', () => {
  it('provisions devices with a name, group and labels, refusing unknown fields', () => {
    expectValid(ProvisionDeviceRequestSchema, { name: 'Lobby camera', group: 'lobby', labels: { site: 'lab', floor: '2' } });
    expectInvalid(ProvisionDeviceRequestSchema, { name: 'x', group: 'Lobby!' }, 'group');
    expectInvalid(ProvisionDeviceRequestSchema, { name: 'x', token: 'y' }, '(root)');
  });

  it('takes deployments with a model reference, one target and a strategy', () => {
    const parsed = expectValid(CreateDeploymentRequestSchema, {
      model: 'face-id@production',
      target: { group: 'lobby' },
      strategy: { type: 'canary', percent: 34, batchSize: 5, observeSeconds: 30, maxFailurePercent: 0, minFps: 5 },
    });
    expect(parsed.model).toEqual({ kind: 'alias', name: 'face-id', alias: 'production' });
    expect(parsed.strategy).toMatchObject({ type: 'canary', autoRollback: true });
    expect(expectValid(CreateDeploymentRequestSchema, { model: 'face-id@7', target: { devices: ['cam-01'] } }).strategy).toEqual({ type: 'all' });
  });

  it('names what is wrong with a deployment request', () => {
    expectInvalid(CreateDeploymentRequestSchema, { model: 'face-id', target: { group: 'g' } }, 'model');
    expect(expectInvalid(CreateDeploymentRequestSchema, { model: 'face-id@7', target: { group: 'g', devices: ['a'] } }, 'target')).toContain(
      'exactly one of devices, group, selector',
    );
    expectInvalid(CreateDeploymentRequestSchema, { model: 'face-id@7', target: { devices: ['a', 'a'] } }, 'target.devices');
    expectInvalid(CreateDeploymentRequestSchema, { model: 'face-id@7', target: { selector: {} } }, 'target.selector');
    expectInvalid(CreateDeploymentRequestSchema, { model: 'face-id@7', target: { group: 'g' }, strategy: { type: 'canary', percent: 0, batchSize: 1 } }, 'strategy.percent');
    expectInvalid(CreateDeploymentRequestSchema, { model: 'face-id@7', target: { group: 'g' }, strategy: { type: 'blue-green' } }, 'strategy.type');
  });

  it('takes webhook subscriptions for known events over http(s)', () => {
    expectValid(CreateWebhookRequestSchema, { url: 'http://127.0.0.1:9000/hook', events: ['drift.detected', 'deployment.failed'], secret: 'x'.repeat(32) });
    expectValid(CreateWebhookRequestSchema, { url: 'https://hooks.example.com/e', events: ['*'] });
    expectInvalid(CreateWebhookRequestSchema, { url: 'file:///etc/passwd', events: ['*'] }, 'url');
    expectInvalid(CreateWebhookRequestSchema, { url: 'https://x.test/', events: ['drift.detected', 'drift.detected'] }, 'events');
    expectInvalid(CreateWebhookRequestSchema, { url: 'https://x.test/', events: ['model.deleted'] }, 'events[0]');
    expectInvalid(CreateWebhookRequestSchema, { url: 'https://x.test/', events: ['*'], secret: 'short' }, 'secret');
  });

  it('labels hard examples with an identity or as not a face', () => {
    expectValid(LabelHardExampleRequestSchema, { verdict: 'identity', identity: 'id-0004' });
    expectValid(LabelHardExampleRequestSchema, { verdict: 'not_a_face' });
    expectInvalid(LabelHardExampleRequestSchema, { verdict: 'identity' }, 'identity');
    expectInvalid(LabelHardExampleRequestSchema, { verdict: 'maybe' }, 'verdict');
  });

  it('reads the other write bodies', () => {
    expect(expectValid(StartRetrainingRequestSchema, { base: 'face-id@production' }).autoCanary).toBe(false);
    expectInvalid(SetAliasRequestSchema, { version: '7' }, 'version');
    expect(expectValid(PredictionMetricsQuerySchema, { model: 'face-id@7' }).bucket).toBe('minute');
  });

  it('builds encoded API paths', () => {
    expect(apiPaths.blob('ab'.repeat(32))).toBe(`/api/v1/blobs/${'ab'.repeat(32)}`);
    expect(apiPaths.modelVersion('face-id', 'production')).toBe('/api/v1/models/face-id/versions/production');
    expect(apiPaths.webhookRedeliver('wh 1', 'd/1')).toBe('/api/v1/webhooks/wh%201/deliveries/d%2F1/redeliver');
  });
});
