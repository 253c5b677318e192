/**
 * A child process of the edge bench (started with --expose-gc): loads the modules the edge worker loads,
 * one group after another, and reads its RSS after each (after a full GC), then sets libvips up as the
 * worker's main does. Nothing is created: no model, no server, no client. Prints one JSON line with the
 * readings (`ModuleStep[]`) and waits to be killed; its RSS at the end is the worker's cost before any
 * model is loaded.
 */
import { readProcMemory, type ProcMemory } from './proc-status';

export interface ModuleStep {
  step: string;
  memory: ProcMemory;
}

const collect = (): void => (globalThis as { gc?: () => void }).gc?.();

/** Groups of the worker's imports, each loaded after the ones it depends on. */
const STEPS: [string, () => Promise<unknown>][] = [
  ['sharp (libvips)', () => import('sharp')],
  ['onnxruntime-node', () => import('onnxruntime-node')],
  ['zod', () => import('zod')],
  ['onnx-proto (protobufjs; @edgeloop/vision loads it for identity heads)', () => import('onnx-proto')],
  ['@edgeloop/vision', () => import('@edgeloop/vision')],
  ['mqtt', () => import('mqtt')],
  ['prom-client', () => import('prom-client')],
  ['node:sqlite', () => import('node:sqlite')],
  ['@edgeloop/contracts, @edgeloop/client', () => Promise.all([import('@edgeloop/contracts'), import('@edgeloop/client')])],
  ['the edge worker and its configuration', () => Promise.all([import('../../apps/edge/src/worker'), import('../../apps/edge/src/config/edge.config')])],
];

async function main(): Promise<void> {
  collect();
  const steps: ModuleStep[] = [{ step: 'Node', memory: readProcMemory('self')! }];
  for (const [step, load] of STEPS) {
    await load();
    collect();
    steps.push({ step, memory: readProcMemory('self')! });
  }
  const { default: sharp } = await import('sharp');
  sharp.cache(false);
  sharp.concurrency(1);
  process.stdout.write(`${JSON.stringify(steps)}\n`);
  setInterval(() => undefined, 60_000);
}

void main();
