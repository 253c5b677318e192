import type { ModelFileRole } from '@edgeloop/contracts';
import type { OnnxInspection, TensorInfo } from './onnx-inspector';

export interface RoleCheckContext {
  /** Number of labels the manifest declares, for the head's output width. */
  labels?: number;
  /** Width of the embedder's output in this bundle (or its parent), for the head's input width. */
  embeddingDim?: number;
}

/** Why a loaded model does not fit its role; empty when it fits. */
export function checkRole(role: ModelFileRole, model: OnnxInspection, context: RoleCheckContext = {}): string[] {
  const problems: string[] = [];
  if (model.inputs.length === 0) problems.push('it declares no input');
  if (model.outputs.length === 0) problems.push('it declares no output');
  if (problems.length > 0) return problems;
  const input = model.inputs[0];
  if (input.type !== 'float32') problems.push(`input "${input.name}" is ${input.type}, expected float32`);
  switch (role) {
    case 'detector':
      expectImage(input, 3, problems);
      if (model.outputs.length < 2) problems.push('a detector has two outputs (scores and boxes)');
      break;
    case 'landmarks':
      expectImage(input, 1, problems);
      if (lastDim(model.outputs[0]) !== 136) problems.push('a landmark model outputs 136 values (68 points)');
      break;
    case 'liveness':
      expectImage(input, 3, problems);
      break;
    case 'embedder': {
      expectImage(input, 3, problems);
      const out = model.outputs[0];
      const width = lastDim(out);
      if (rank(out) !== 2 || !(typeof width === 'number' && width > 0)) {
        problems.push(`an embedder outputs [N, D] embeddings; "${out.name}" is [${shapeOf(out)}]`);
      }
      break;
    }
    case 'head': {
      const out = model.outputs[0];
      if (rank(input) !== 2) problems.push(`a head takes [N, D] embeddings; "${input.name}" is [${shapeOf(input)}]`);
      else if (context.embeddingDim !== undefined && lastDim(input) !== context.embeddingDim) {
        problems.push(`the head takes ${lastDim(input)}-d embeddings but the embedder gives ${context.embeddingDim}`);
      }
      if (rank(out) !== 2) problems.push(`a head outputs [N, K] scores; "${out.name}" is [${shapeOf(out)}]`);
      else if (context.labels !== undefined && lastDim(out) !== context.labels) {
        problems.push(`the head outputs ${lastDim(out)} scores but the manifest has ${context.labels} labels`);
      }
      break;
    }
  }
  if (!model.ran && problems.length === 0) {
    problems.push(`it fails to run on a zero input: ${model.runError ?? 'inputs of unsupported types'}`);
  }
  return problems;
}

/** The embedding width an embedder produces, if known. */
export function embeddingWidth(model: OnnxInspection): number | undefined {
  const width = lastDim(model.outputs[0]);
  return typeof width === 'number' && width > 0 ? width : undefined;
}

function expectImage(input: TensorInfo, channels: number, problems: string[]): void {
  if (rank(input) !== 4) {
    problems.push(`"${input.name}" is [${shapeOf(input)}], expected an image tensor [N, ${channels}, H, W]`);
    return;
  }
  const c = input.shape[1];
  if (typeof c === 'number' && c !== channels) {
    problems.push(`"${input.name}" has ${c} channels, expected ${channels}`);
  }
}

function rank(t: TensorInfo): number {
  return (t.runShape ?? t.shape).length;
}

function lastDim(t: TensorInfo): number | string | undefined {
  const shape = t.runShape ?? t.shape;
  return shape[shape.length - 1];
}

function shapeOf(t: TensorInfo): string {
  return (t.runShape ?? t.shape).join(', ');
}
