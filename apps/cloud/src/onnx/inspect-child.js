'use strict';
/*
 * Runs in a child process, isolated from the API: loads one ONNX file in onnxruntime-node, reads its
 * inputs and outputs, and runs it once on zeros of the declared shapes (symbolic dimensions as 1).
 * Prints one JSON line on stdout. A crash or a hang here only kills this child.
 */
const ort = require('onnxruntime-node');

function describe(meta) {
  return meta.map((m) => ({
    name: m.name,
    isTensor: m.isTensor !== false,
    type: m.type,
    shape: Array.isArray(m.shape) ? m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : String(d))) : [],
  }));
}

async function main() {
  const file = process.argv[2];
  // no prepacking: repacking every weight matrix for fast repeated runs is most of the load time of a large
  // model and doubles its memory, and this session runs once (210 MB embedder at load 19-25: 28-37 s and
  // 504 MB with it, 12-13 s and 294 MB without)
  const session = await ort.InferenceSession.create(file, {
    graphOptimizationLevel: 'basic',
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    extra: { session: { disable_prepacking: '1' } },
  });
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
      runError = err && err.message ? err.message : String(err);
    }
  }
  await session.release();
  process.stdout.write(`${JSON.stringify({ ok: true, inputs, outputs, ran, runError })}\n`);
}

main().catch((err) => {
  process.stdout.write(`${JSON.stringify({ ok: false, error: err && err.message ? err.message : String(err) })}\n`);
  process.exitCode = 0;
});
