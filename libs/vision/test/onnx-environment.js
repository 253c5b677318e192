'use strict';
/**
 * Jest environment for specs that run onnxruntime-node.
 *
 * Jest runs each test file in its own V8 context, so the test's `Float32Array` is not the one the
 * native addon creates its outputs with, and onnxruntime-common's `instanceof` check rejects every
 * output tensor. Jest already shares `Uint8Array` and `ArrayBuffer` with the outer context for the
 * same reason; this shares the other typed arrays too. Select it per file with the docblock
 * `@jest-environment ./libs/vision/test/onnx-environment.js`.
 */
const { TestEnvironment } = require('jest-environment-node');

const SHARED = [
  'Float32Array',
  'Float64Array',
  'Int8Array',
  'Int16Array',
  'Int32Array',
  'Uint8ClampedArray',
  'Uint16Array',
  'Uint32Array',
  'BigInt64Array',
  'BigUint64Array',
];

class OnnxEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of SHARED) this.global[name] = globalThis[name];
  }
}

module.exports = OnnxEnvironment;
