import { parseDeviceMessage, ReportedStateSchema, topics, type DesiredState, type DeviceMessageErrorCode } from '@edgeloop/contracts';
import type { Deployer, DeployOutcome } from '../deploy/deployer';
import { Logger } from '../logger';
import type { EdgeMetrics } from '../ops/edge-metrics';
import type { DesiredStateWatermark } from '../store/desired-watermark';
import type { ModelStore } from '../store/model-store';
import type { DeviceChannel } from './device-channel';
import { DesiredStateQueue, type DesiredJobResult } from './desired-queue';
import type { DeviceStateTracker } from './device-state';

/** `stale`: issued before the newest desired state this device accepted (a replay). */
export type RejectReason = Exclude<DeviceMessageErrorCode, 'empty'> | 'unexpected_topic' | 'stale';

export interface EdgeAgentDeps {
  deviceId: string;
  /** Absent when no broker is configured: the agent then only resumes a stored desired state. */
  channel: DeviceChannel | undefined;
  store: ModelStore;
  watermark: DesiredStateWatermark;
  deployer: Deployer;
  tracker: DeviceStateTracker;
  metrics: EdgeMetrics;
  heartbeatMs: number;
  retryMs: number;
}

/**
 * The device side of the desired/reported protocol. Desired states are read off the channel one at a
 * time: a payload that is empty (cleared), oversized, not JSON or not a desired state is counted and
 * dropped; one issued before the newest accepted one (a replay) is counted, reported and dropped without
 * touching the stored or running work; a valid one is persisted before it is acknowledged and queued for
 * the deployer (which checks its signature and freshness again before it moves anything). Reported state
 * is published (retained) after every change, on every connect, and as a heartbeat.
 *
 * Latest state wins: at most one reported state is on the wire at a time. A change while one awaits its
 * PUBACK replaces whatever was waiting and goes out when that PUBACK arrives; a heartbeat while one awaits
 * its PUBACK is skipped (the link is not known to be alive); nothing is published while disconnected, and
 * a report cut off by a lost connection is not resent (the channel drops it): the next connect reports the
 * state as it is then.
 */
export class EdgeAgent {
  private readonly logger = new Logger(EdgeAgent.name);
  private readonly queue: DesiredStateQueue;
  private heartbeat: NodeJS.Timeout | undefined;
  /** A reported state was handed to the channel and its PUBACK has not come back. */
  private reportInFlight = false;
  /** The state changed while a report was in flight: send the state as it is once that one is acknowledged. */
  private reportPending = false;
  /** Reported states handed to the channel, heartbeats skipped because the previous one was unacknowledged. */
  readonly reports = { published: 0, acknowledged: 0, coalesced: 0, heartbeatsSkipped: 0 };
  /** Outcome of the last desired state that failed for good, so a redelivery is answered without redoing it. */
  private settled: { signature: string; outcome: DeployOutcome } | undefined;
  /** Dropped desired payloads by reason (also exported as a metric). */
  readonly rejected: Record<RejectReason, number> = { too_large: 0, invalid_json: 0, invalid_payload: 0, unexpected_topic: 0, stale: 0 };
  /** Valid desired states received. */
  received = 0;

  constructor(private readonly deps: EdgeAgentDeps) {
    this.queue = new DesiredStateQueue((desired, signal) => this.apply(desired, signal), deps.retryMs);
  }

  async start(): Promise<void> {
    const { channel, tracker } = this.deps;
    tracker.onChange(() => this.publishReported());
    if (channel) {
      channel.on('control', () => this.publishReported());
      channel.on('desired', (payload, done) => {
        this.onDesired(payload).then(done, (err: unknown) => {
          this.logger.error(`desired message: ${(err as Error).message}`);
          done();
        });
      });
      channel.on('unexpected', (topic) => this.reject('unexpected_topic', `message on ${topic.slice(0, 200)}`));
      this.heartbeat = setInterval(() => this.heartbeatTick(), this.deps.heartbeatMs);
      this.heartbeat.unref();
    }
    await this.resume();
  }

  async stop(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    await this.queue.stop();
  }

  /** Resolves when no desired state is pending or being applied. */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  /**
   * Publishes the reported state (retained), latest wins: skipped while disconnected (the next connect
   * sends it), deferred while an earlier report awaits its PUBACK (then the state as it is is sent once).
   */
  publishReported(): void {
    const channel = this.deps.channel;
    if (!channel?.connected) return;
    if (this.reportInFlight) {
      if (!this.reportPending) this.reports.coalesced++;
      this.reportPending = true;
      return;
    }
    const reported = this.deps.tracker.reported();
    const checked = ReportedStateSchema.safeParse(reported);
    if (!checked.success) {
      this.logger.error(`reported state does not pass its schema: ${checked.error.message}`);
      return;
    }
    this.reportInFlight = true;
    this.reportPending = false;
    this.reports.published++;
    channel.publish(topics.reported(this.deps.deviceId), JSON.stringify(reported), { retain: true }).then(
      () => {
        this.reports.acknowledged++;
        this.reportSettled();
      },
      () => this.reportSettled(),
    );
  }

  private reportSettled(): void {
    this.reportInFlight = false;
    if (this.reportPending) this.publishReported();
  }

  /** A heartbeat goes out only when the last report was acknowledged: a dead link gets nothing more to queue. */
  private heartbeatTick(): void {
    if (this.reportInFlight) {
      this.reports.heartbeatsSkipped++;
      return;
    }
    this.publishReported();
  }

  /** A desired state persisted by an earlier run (e.g. killed mid-download) is applied again at boot. */
  private async resume(): Promise<void> {
    const payload = await this.deps.store.readDesired();
    if (!payload) return;
    const parsed = parseDeviceMessage('desired', payload);
    if (!parsed.ok) {
      this.logger.warn(`stored desired state is unusable (${parsed.error.message}); removed`);
      await this.deps.store.clearDesired();
      return;
    }
    this.logger.info(`resuming the stored desired state (deployment ${parsed.value.deploymentId})`);
    this.queue.push(parsed.value);
  }

  private async onDesired(payload: Buffer): Promise<void> {
    const parsed = parseDeviceMessage('desired', payload);
    if (!parsed.ok) {
      if (parsed.error.code === 'empty') {
        this.logger.info('desired state cleared; keeping the running version');
        this.queue.clearPending();
        await this.deps.store.clearDesired();
        return;
      }
      this.reject(parsed.error.code, parsed.error.message);
      return;
    }
    this.received++;
    const desired = parsed.value;
    const freshness = this.deps.watermark.check(desired);
    if (!freshness.fresh) {
      this.refuseStale(desired, freshness.reason);
      return;
    }
    if (desired.deviceId === this.deps.deviceId) {
      try {
        await this.deps.store.saveDesired(payload);
      } catch (err) {
        this.logger.warn(`cannot persist the desired state: ${(err as Error).message}`);
      }
    }
    this.queue.push(desired);
  }

  /**
   * A replayed (older) desired state is neither stored (it would replace the newer one resumed after a
   * restart) nor queued (it would abort the one being applied). It is reported as failed unless a
   * deployment is under way, whose progress the report then keeps showing.
   */
  private refuseStale(desired: DesiredState, reason: string): void {
    this.reject('stale', reason);
    if (this.queue.busy) return;
    this.deps.tracker.set({
      state: 'failed',
      deploymentId: desired.deploymentId,
      target: { name: desired.model.name, version: desired.model.version },
      failure: { code: 'invalid_desired', message: reason.slice(0, 1000) },
    });
  }

  private reject(reason: RejectReason, message: string): void {
    this.rejected[reason]++;
    this.deps.metrics.desiredRejected.inc({ reason });
    this.logger.warn(`dropped a desired message (${reason}): ${message.slice(0, 300)}`);
  }

  private async apply(desired: DesiredState, signal: AbortSignal): Promise<DesiredJobResult> {
    const { tracker, deployer, metrics } = this.deps;
    const previous = this.settled;
    if (previous && previous.signature === desired.signature.value && previous.outcome.result === 'failed') {
      const { code, message } = previous.outcome;
      tracker.set({ state: 'failed', deploymentId: desired.deploymentId, target: { name: desired.model.name, version: desired.model.version }, failure: { code, message } });
      return 'done';
    }
    const outcome = await deployer.apply(desired, signal);
    if (outcome.result === 'superseded') return 'done';
    metrics.deployments.inc({ result: outcome.result === 'active' ? (outcome.changed ? 'active' : 'unchanged') : outcome.code });
    const transient = outcome.result === 'failed' && outcome.transient;
    this.settled = transient ? undefined : { signature: desired.signature.value, outcome };
    return transient ? 'retry' : 'done';
  }
}
