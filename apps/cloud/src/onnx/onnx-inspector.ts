import { Injectable } from '@nestjs/common';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CloudConfig } from '../config/cloud.config';

export interface TensorInfo {
  name: string;
  isTensor: boolean;
  type: string;
  shape: Array<number | string>;
  runShape?: number[];
}

export interface OnnxInspection {
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  ran: boolean;
  runError?: string;
}

export class OnnxInspectionError extends Error {
  constructor(
    message: string,
    readonly reason: 'load_failed' | 'timeout' | 'crashed',
  ) {
    super(message);
  }
}

/**
 * Loads an ONNX file in onnxruntime-node inside a child process with a time limit, so a model that
 * crashes the runtime or hangs it cannot take the API down.
 */
@Injectable()
export class OnnxInspector {
  private readonly timeoutMs: number;

  constructor(config: CloudConfig) {
    this.timeoutMs = config.validationTimeoutMs;
  }

  inspect(file: string): Promise<OnnxInspection> {
    const script = join(__dirname, 'inspect-child.js');
    const sourceScript = script.replace(/([\\/])dist[\\/]apps[\\/]/, '$1apps$1');
    const entry = existsSync(script) ? script : sourceScript;
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [entry, file], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { PATH: process.env.PATH ?? '', OMP_NUM_THREADS: '1' },
      });
      let stdout = '';
      let stderr = '';
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new OnnxInspectionError(`the model did not load within ${this.timeoutMs} ms`, 'timeout'));
      }, this.timeoutMs);
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-1000)));
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(new OnnxInspectionError(`could not start the model validator: ${err.message}`, 'crashed'));
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        const line = stdout.trim().split('\n').pop() ?? '';
        let parsed: ({ ok: true } & OnnxInspection) | { ok: false; error: string } | undefined;
        try {
          parsed = JSON.parse(line);
        } catch {
          parsed = undefined;
        }
        if (!parsed) {
          reject(
            new OnnxInspectionError(
              `the model validator ${signal ? `was killed by ${signal}` : `exited with code ${code}`}: ${stderr.trim().slice(-300)}`,
              'crashed',
            ),
          );
        } else if (!parsed.ok) {
          reject(new OnnxInspectionError(`onnxruntime cannot load it: ${firstLine(parsed.error)}`, 'load_failed'));
        } else {
          resolve({ inputs: parsed.inputs, outputs: parsed.outputs, ran: parsed.ran, runError: parsed.runError });
        }
      });
    });
  }
}

function firstLine(text: string): string {
  return text.split('\n')[0].slice(0, 300);
}
