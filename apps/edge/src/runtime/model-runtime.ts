import type { ModelVersionRef } from '@edgeloop/contracts';
import { Logger } from '../logger';
import type { LoadedModel } from './pipeline-loader';

/**
 * Holds the model that serves frames. The inference loop reads `current` once per frame and keeps that
 * reference for the whole frame; `install` swaps the reference between two frames (synchronously, so no
 * frame ever sees a half-loaded model) and releases the previous pipeline once its in-flight frame is done.
 */
export class ModelRuntime {
  private readonly logger = new Logger(ModelRuntime.name);
  private model: LoadedModel | undefined;
  private readonly listeners: Array<(model: LoadedModel, previous: LoadedModel | undefined) => void> = [];
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

  /** Makes `next` the serving model; resolves once the previous one is released. */
  async install(next: LoadedModel): Promise<LoadedModel | undefined> {
    const previous = this.model;
    this.model = next;
    this.switches++;
    for (const listener of this.listeners) listener(next, previous);
    if (previous && previous.pipeline !== next.pipeline) {
      await previous.pipeline.release().catch((err: unknown) => this.logger.warn(`releasing ${describe(previous)}: ${(err as Error).message}`));
    }
    return previous;
  }

  async release(): Promise<void> {
    const model = this.model;
    this.model = undefined;
    await model?.pipeline.release();
  }
}

export function describe(model: LoadedModel): string {
  return `${model.ref.name}@${model.ref.version} (${model.origin})`;
}
