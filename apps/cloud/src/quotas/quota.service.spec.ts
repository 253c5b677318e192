import { topics } from '@edgeloop/contracts';
import { z } from 'zod';
import type { CloudConfig } from '../config/cloud.config';
import type { MqttEndpoint } from '../mqtt/mqtt-endpoint';
import type { QuarantineService } from './quarantine.service';
import type { QuotaBucketsRepository } from './quota-buckets.repository';
import type { QuotaRepository } from './quota.repository';
import { quotaEnvShape, quotaSettings } from './quota-settings';
import { QuotaService } from './quota.service';

/**
 * The in-memory side of the quotas, what the embedded broker asks as a device's messages arrive (`dropEarly`,
 * `holdFor`), with the store and the quarantine replaced by recorders: one message a second with a burst of one,
 * quarantine at 5 strikes.
 */
describe('QuotaService in memory', () => {
  const settings = quotaSettings(
    z.object(quotaEnvShape).parse({ EDGELOOP_QUOTA_PREDICTIONS_PER_SECOND: '1', EDGELOOP_QUOTA_BURST_SECONDS: '1', EDGELOOP_QUARANTINE_STRIKES: '5' }),
  );
  const topic = topics.predictions('cam-1');
  let service: QuotaService;
  let endpoint: Pick<MqttEndpoint, 'mode' | 'counters' | 'dropBeforeCloud' | 'holdDevice'>;
  let quarantine: Pick<QuarantineService, 'isQuarantined' | 'trigger' | 'onLifted'>;
  let triggered: Array<{ deviceId: string; strikes: number }>;

  beforeEach(async () => {
    triggered = [];
    endpoint = { mode: 'embedded', counters: { readHolds: 0 }, dropBeforeCloud: undefined, holdDevice: undefined };
    quarantine = {
      isQuarantined: () => false,
      trigger: (deviceId, _reason, strikes) => void triggered.push({ deviceId, strikes }),
      onLifted: undefined,
    };
    const repository = { deviceGroup: async () => ({ group: null, disabled: false }), overrides: async () => new Map() };
    const buckets = { recordDrops: async () => 0, recordInvalid: async () => 0 };
    service = new QuotaService(
      { quotas: settings } as unknown as CloudConfig,
      buckets as unknown as QuotaBucketsRepository,
      repository as unknown as QuotaRepository,
      quarantine as QuarantineService,
      endpoint as MqttEndpoint,
    );
    service.onModuleInit();
    // the first message of a device looks its limits up (and goes on to the channel); the next ones are checked here
    expect(service.dropEarly(topic, 100)).toBe(false);
    await new Promise((r) => setImmediate(r));
  });
  afterEach(() => service.onApplicationShutdown());

  it('holds the connection of a device over its quota until its bucket can give again, at most 250 ms', () => {
    expect(service.holdFor('cam-1', topic)).toBe(0);
    expect(service.dropEarly(topic, 100)).toBe(false); // the burst of one
    expect(service.dropEarly(topic, 100)).toBe(true);
    const hold = service.holdFor('cam-1', topic);
    expect(hold).toBeGreaterThan(0);
    expect(hold).toBeLessThanOrEqual(250);
    expect(endpoint.holdDevice?.('cam-1', topic)).toBeGreaterThan(0);
    // another device, or a kind it is not over
    expect(service.holdFor('cam-2', topics.predictions('cam-2'))).toBe(0);
    expect(service.holdFor('cam-1', topics.reported('cam-1'))).toBe(0);
    // a topic of another device than the connection's
    expect(service.holdFor('cam-2', topic)).toBe(0);
    // once the bucket can have refilled
    expect(service.holdFor('cam-1', topic, Date.now() + 1001)).toBe(0);
  });

  it('never holds with EDGELOOP_QUOTA_HOLD_MAX_MS=0', () => {
    settings.holdMaxMs = 0;
    try {
      expect(service.dropEarly(topic, 100)).toBe(false);
      expect(service.dropEarly(topic, 100)).toBe(true);
      expect(service.holdFor('cam-1', topic)).toBe(0);
    } finally {
      settings.holdMaxMs = 250;
    }
  });

  it('forgets the strikes counted here when the quarantine is lifted, so the next message does not quarantine it again', () => {
    expect(service.dropEarly(topic, 100)).toBe(false);
    for (let i = 0; i < 4; i++) expect(service.dropEarly(topic, 100)).toBe(true);
    expect(triggered).toEqual([]);

    // lifted: held no more, a full bucket, and strikes from 0
    quarantine.onLifted!('cam-1');
    expect(service.holdFor('cam-1', topic)).toBe(0);
    expect(service.dropEarly(topic, 100)).toBe(false);
    for (let i = 0; i < 4; i++) expect(service.dropEarly(topic, 100)).toBe(true);
    expect(triggered).toEqual([]);
    // the fifth strike since the lift quarantines
    expect(service.dropEarly(topic, 100)).toBe(true);
    expect(triggered).toEqual([{ deviceId: 'cam-1', strikes: 5 }]);
  });
});
