import type { ApiClient } from '@edgeloop/client';
import { API_PREFIX } from '@edgeloop/contracts';
import { deviceLine, loopLines, readLoopState, type LoopState } from './loop-state';
import { story } from './story';

/** The live stream the dashboard reads too (server-sent events of domain events). */
const EVENTS_PATH = `${API_PREFIX}/events`;

/** How each domain event reads as a line of the story; events not listed (device presence, labels) stay out. */
function describeEvent(type: string, data: Record<string, unknown>): string | undefined {
  const model = (m: unknown): string => {
    const ref = m as { name?: string; version?: number } | undefined;
    return ref?.name ? `${ref.name}@${ref.version}` : '?';
  };
  switch (type) {
    case 'drift.detected': {
      const evidence = (data.evidence as Array<{ metric: string; value: number; threshold: number }>) ?? [];
      const what = evidence.map((e) => `${e.metric} ${e.value.toFixed(2)} > ${e.threshold}`).join(', ');
      return `drift detected on ${model(data.model)} (${((data.devices as string[]) ?? []).join(', ')}): ${what}`;
    }
    case 'deployment.completed':
    case 'deployment.failed':
    case 'deployment.rolled_back': {
      const devices = data.devices as { total: number; succeeded: number; failed: number };
      const reason = data.reason ? ` — ${String(data.reason)}` : '';
      return `${type} ${String(data.deploymentId)} ${model(data.model)}: ${devices.succeeded}/${devices.total} devices${reason}`;
    }
    case 'model.version.created':
      return `new model version ${model(data.model)} (${String(data.createdBy)})`;
    case 'model.alias.changed':
      return `${String(data.modelName)}@${String(data.alias)} now points at version ${String(data.version)}`;
    case 'retraining.completed':
      return `retraining ${String(data.runId)} done: ${data.candidate ? `candidate ${model(data.candidate)}` : 'not better than production, no candidate'}`;
    case 'retraining.failed':
      return `retraining ${String(data.runId)} failed at ${String(data.step)}: ${String(data.error)}`;
    case 'device.quarantined':
      return `device ${String(data.deviceId)} quarantined (${String(data.reason)})`;
    default:
      return undefined;
  }
}

/**
 * The live status of `edgeloop start`: the loop's state read from the API every couple of seconds (on a
 * terminal, a block redrawn in place with a progress bar per rollout and retraining run; elsewhere a line when
 * a device changes and a summary every 30 s), and the cloud's domain events as story lines as they happen.
 */
export class StatusView {
  private timer?: NodeJS.Timeout;
  private readonly abort = new AbortController();
  private readonly lastDeviceLine = new Map<string, string>();
  private lastSummary = 0;
  private readonly since = new Date().toISOString();
  latest?: LoopState;

  constructor(
    private readonly api: ApiClient,
    private readonly intervalMs = 2000,
    private readonly summaryEveryMs = 30_000,
  ) {}

  start(): void {
    void this.followEvents();
    const tick = async (): Promise<void> => {
      try {
        this.show(await readLoopState(this.api, this.since));
      } catch {
        // the cloud is busy or stopping: the next tick tries again
      }
      if (!this.abort.signal.aborted) this.timer = setTimeout(() => void tick(), this.intervalMs);
    };
    void tick();
  }

  stop(): void {
    this.abort.abort();
    if (this.timer) clearTimeout(this.timer);
    story.setLive([]);
  }

  private show(loop: LoopState): void {
    this.latest = loop;
    if (story.tty) {
      story.setLive(['─'.repeat(20), ...loopLines(loop), 'keys: b banner again · v frame lines on/off · Ctrl-C stop']);
      return;
    }
    for (const device of loop.devices) {
      if (device.state === '-') continue; // not reported yet
      const line = `${device.presence} ${device.state} ${device.running ?? '-'}`;
      if (this.lastDeviceLine.get(device.id) !== line) {
        this.lastDeviceLine.set(device.id, line);
        story.line(`status | ${device.id}: ${line}`);
      }
    }
    if (Date.now() - this.lastSummary >= this.summaryEveryMs && loop.devices.some((d) => d.state !== '-')) {
      this.lastSummary = Date.now();
      for (const device of loop.devices) story.line(`status | ${deviceLine(device)}`);
      for (const run of loop.retraining)
        if (run.status === 'queued' || run.status === 'running')
          story.line(`status | retrain ${run.id}: ${run.step ?? run.status} ${(run.progress * 100).toFixed(0)}%`);
    }
  }

  /** `GET /api/v1/events` as server-sent events; reconnects after a drop until stopped. */
  private async followEvents(): Promise<void> {
    while (!this.abort.signal.aborted) {
      try {
        const res = await fetch(this.api.url(EVENTS_PATH), { headers: this.api.headers({ accept: 'text/event-stream' }), signal: this.abort.signal });
        if (!res.ok || !res.body) throw new Error(`events: HTTP ${res.status}`);
        let buffer = '';
        const decoder = new TextDecoder();
        for await (const chunk of res.body) {
          buffer += decoder.decode(chunk as Uint8Array, { stream: true });
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            this.onEventBlock(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
          }
        }
      } catch {
        // dropped or refused: try again shortly (the stop aborts the wait too)
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
  }

  private onEventBlock(block: string): void {
    let type = 'message';
    let data = '';
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) type = line.slice(6).trim();
      else if (line.startsWith('data:')) data += line.slice(5).trim();
    }
    if (!data) return;
    try {
      const event = JSON.parse(data) as { data?: Record<string, unknown> };
      const text = describeEvent(type, event.data ?? {});
      if (text) story.line(`event  | ${text}`);
    } catch {
      // not JSON: not an event of ours
    }
  }
}
