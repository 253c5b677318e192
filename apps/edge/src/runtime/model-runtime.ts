import type { ModelVersionRef } from '@edgeloop/contracts';
import { Logger } from '../logger';
import type { LoadedModel } from './pipeline-loader';

/**
 * Holds the model that serves frames. The inference loop reads `current` once per frame and keeps that
 * reference for the whole frame; `install` swaps the reference between two frames (synchronously, so no
 * frame ever sees a half-loaded model) and releases the previous pipeline in the background once its
 * in-flight frame is done: a switch never waits for a frame.
 */
export class ModelRuntime {
  private readonly logger = new Logger(ModelRuntime.name);
  private model: LoadedModel | undefined;
  private readonly listeners: Array<(model: LoadedModel, previous: LoadedModel | undefined) => void> = [];
  /** Releases of replaced pipelines still waiting for their last frame. */
  private readonly releasing = new Set<Promise<void>>();
  /** Completed switches since start (the first install counts too). */
  switches = 0;

  get current(): LoadedModel | undefined {
    return this.model;
  }

  get running(): ModelVersionRef | null {
    return this.model ? { name: this.model.ref.name, version: this.model.ref.version } : null;
  }

  onSwitch(listener: (model: LoadedModel, previous: LoadedModel | undefined) => void): void {
    this.listeners.push(listener);
  }

  /**
   * Makes `next` the serving model and returns the one it replaces. The previous pipeline is released
   * once its frame in flight (if any) has finished; `released()` waits for that.
   */
  install(next: LoadedModel): LoadedModel | undefined {
    const previous = this.model;
    this.model = next;
    this.switches++;
    for (const listener of this.listeners) listener(next, previous);
    if (previous && previous.pipeline !== next.pipeline) {
      const release = previous.pipeline
        .release()
        .catch((err: unknown) => this.logger.warn(`releasing ${describe(previous)}: ${(err as Error).message}`))
        .finally(() => this.releasing.delete(release));
      this.releasing.add(release);
    }
    return previous;
  }

  /** Resolves once every replaced pipeline has been released. */
  async released(): Promise<void> {
    while (this.releasing.size > 0) await Promise.all([...this.releasing]);
  }

  async release(): Promise<void> {
    const model = this.model;
    this.model = undefined;
    await model?.pipeline.release();
    await this.released();
  }
}

export function describe(model: LoadedModel): string {
  return `${model.ref.name}@${model.ref.version} (${model.origin})`;
}
