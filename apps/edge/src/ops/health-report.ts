import type { DeviceHealth } from '@edgeloop/contracts';
import type { DeviceChannel } from '../agent/device-channel';
import type { DeviceStateTracker } from '../agent/device-state';
import type { Outbox } from '../outbox/outbox';
import type { ModelRuntime } from '../runtime/model-runtime';
import type { WorkerStats } from '../runtime/inference-loop';
import type { FrameHealth } from './frame-health';
import type { HealthReport } from './ops-server';

/** What the worker is doing now, as the health report needs it. */
export interface WorkerActivity {
  stopping: boolean;
  /** Frames are being taken from a source. */
  looping: boolean;
  /** No source is configured: serving the agent only is healthy. */
  agentOnly: boolean;
}

export interface HealthSources {
  deviceId: string;
  runtime: ModelRuntime;
  tracker: DeviceStateTracker;
  frameHealth: FrameHealth;
  channel: DeviceChannel | undefined;
  outbox(): Outbox | undefined;
  stats(): WorkerStats;
  activity(): WorkerActivity;
}

/**
 * The worker's health in two shapes: the `health` block of the reported state (sent to the cloud) and
 * the `/healthz` report (ok only while a model serves and the frame loop runs, or no source is set).
 */
export class WorkerHealthReporter {
  constructor(private readonly sources: HealthSources) {}

  deviceHealth(): DeviceHealth {
    const { frameHealth } = this.sources;
    const outbox = this.sources.outbox()?.stats();
    return {
      fps: frameHealth.fps(),
      latencyMs: frameHealth.latency(),
      rssBytes: process.memoryUsage.rss(),
      outboxDepth: outbox?.predictionRows ?? 0,
      outboxDropped: outbox?.droppedPredictions ?? 0,
      droppedFrames: this.sources.stats().skippedFrames,
    };
  }

  healthReport(): HealthReport {
    const { runtime, tracker, frameHealth, channel } = this.sources;
    const { stopping, looping, agentOnly } = this.sources.activity();
    const stats = this.sources.stats();
    const model = runtime.current;
    const ok = model !== undefined && !stopping && (looping || agentOnly);
    const status = tracker.current;
    const outbox = this.sources.outbox()?.stats();
    return {
      ok,
      status: ok ? 'ok' : stopping ? 'stopping' : 'starting',
      deviceId: this.sources.deviceId,
      state: status.state,
      failure: status.failure,
      deploymentId: status.deploymentId,
      running: runtime.running,
      origin: model?.origin ?? null,
      lastKnownGood: tracker.fallback,
      target: status.target,
      brokerConnected: channel?.connected ?? false,
      outboxDepth: outbox?.predictionRows ?? 0,
      outboxRows: outbox?.rows ?? 0,
      outboxDropped: outbox?.droppedPredictions ?? 0,
      lastSeq: outbox?.lastSeq ?? 0,
      fps: frameHealth.fps(),
      latencyMs: frameHealth.latency(),
      frames: stats.frames,
      failedFrames: stats.failedFrames,
      skippedFrames: stats.skippedFrames,
      rssBytes: process.memoryUsage.rss(),
    };
  }
}
