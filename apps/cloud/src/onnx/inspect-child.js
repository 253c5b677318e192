'use strict';
/*
 * The model validator, a child process isolated from the API: loads an ONNX file in onnxruntime-node, reads
 * its inputs and outputs, and runs it once on zeros of the declared shapes (symbolic dimensions as 1). A
 * crash or a hang here only kills this child.
 *
 * It stays up for more files: the parent sends { id, file } over the IPC channel and gets one answer per
 * file, so an upload does not wait for a Node start and onnxruntime's load. With a file argument it checks
 * that one file and prints the answer as a JSON line instead.
 */
const fs = require('node:fs');
const ort = require('onnxruntime-node');
const { writeSkeleton } = require('./onnx-skeleton');

function describe(meta) {
  return meta.map((m) => ({
    name: m.name,
    isTensor: m.isTensor !== false,
    type: m.type,
    shape: Array.isArray(m.shape) ? m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : String(d))) : [],
  }));
}

async function load(file) {
  // no prepacking: repacking every weight matrix for fast repeated runs is most of the load time of a large
  // model and doubles its memory, and this session runs once (210 MB embedder at load 19-25: 28-37 s and
  // 504 MB with it, 12-13 s and 294 MB without)
  const session = await ort.InferenceSession.create(file, {
    graphOptimizationLevel: 'basic',
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    extra: { session: { disable_prepacking: '1' } },
  });
  try {
    const inputs = describe(session.inputMetadata);
    const outputs = describe(session.outputMetadata);
    const feeds = {};
    for (const input of inputs) {
      if (!input.isTensor || input.type !== 'float32') continue;
      const dims = input.shape.map((d) => (typeof d === 'number' && d > 0 ? d : 1));
      feeds[input.name] = new ort.Tensor('float32', new Float32Array(dims.reduce((a, b) => a * b, 1)), dims);
    }
    let ran = false;
    let runError;
    if (Object.keys(feeds).length === inputs.length) {
      try {
        const result = await session.run(feeds);
        for (const output of outputs) {
          const tensor = result[output.name];
          if (tensor) output.runShape = Array.from(tensor.dims);
        }
        ran = true;
      } catch (err) {
        runError = message(err);
      }
    }
    return { ok: true, inputs, outputs, ran, runError };
  } finally {
    await session.release();
  }
}

async function inspect(file) {
  // first through a skeleton whose large weights are mapped from the file itself (see onnx-skeleton.js);
  // anything short of a clean load and run there is decided by loading the file as it is
  let skeleton = null;
  try {
    skeleton = writeSkeleton(file);
  } catch {
    skeleton = null;
  }
  if (skeleton) {
    try {
      const result = await load(skeleton.path);
      if (result.ran) return result;
    } catch {
      // the original file decides
    } finally {
      fs.rmSync(skeleton.path, { force: true });
    }
  }
  try {
    return await load(file);
  } catch (err) {
    return { ok: false, error: message(err) };
  }
}

function message(err) {
  return err && err.message ? err.message : String(err);
}

if (process.argv[2]) {
  inspect(process.argv[2]).then((result) => process.stdout.write(`${JSON.stringify(result)}\n`));
} else {
  process.on('message', (job) => {
    inspect(job.file).then((result) => process.send({ id: job.id, ...result, rssMb: Math.round(process.memoryUsage().rss / 1e6) }));
  });
  process.on('disconnect', () => process.exit(0));
  process.send({ ready: true });
}
