'use strict';
/**
 * Worker-thread entry of the retraining compute (see training-compute.ts): runs one task of
 * training-task and posts the result back. Built code (dist/) loads `training-task.js`; when the cloud
 * runs from its TypeScript sources (the test runner), `.ts` files are compiled on require with @swc/core
 * and the repository's .swcrc (its path aliases included), as the build would.
 */
const { parentPort, workerData } = require('node:worker_threads');
const { readFileSync } = require('node:fs');
const { dirname, join } = require('node:path');

/** Nice value of a training thread (0 normal … 19 lowest). */
const THREAD_NICE = 2;

if (workerData.taskModule.endsWith('.ts')) {
  const Module = require('node:module');
  const swc = require('@swc/core');
  const root = dirname(workerData.swcrc);
  const swcrc = JSON.parse(readFileSync(workerData.swcrc, 'utf8'));
  const aliases = Object.fromEntries(Object.entries(swcrc.jsc.paths).map(([name, [target]]) => [name, join(root, target)]));
  const resolveFilename = Module._resolveFilename;
  Module._resolveFilename = function (request, ...rest) {
    return resolveFilename.call(this, aliases[request] ?? request, ...rest);
  };
  Module._extensions['.ts'] = function compileTs(module, filename) {
    const { code } = swc.transformSync(readFileSync(filename, 'utf8'), {
      filename,
      swcrc: false,
      sourceMaps: 'inline',
      jsc: { ...swcrc.jsc, baseUrl: undefined, paths: undefined },
      module: swcrc.module,
    });
    module._compile(code, filename);
  };
}

// A little below the event loop that renews job locks and answers the API, for when busy threads outnumber
// the cores: on Linux a thread's nice value is its own (setpriority on the calling thread), so the cloud's
// main thread keeps its priority. Only a little: on a machine shared with other work, a high nice value
// starves the training itself (seen here: nice 10 at load 20 made a 232-example run take 100 s).
try {
  require('node:os').setPriority(THREAD_NICE);
} catch {
  // not permitted or not supported: run at the normal priority
}

const { runTrainingTask, transferablesOf } = require(workerData.taskModule);

parentPort.on('message', (task) => {
  try {
    const result = runTrainingTask(task);
    // the result's buffers (documents, the head) move to the main thread: no copy on its loop
    parentPort.postMessage({ ok: true, result }, transferablesOf(result));
  } catch (err) {
    parentPort.postMessage({ ok: false, error: { name: err && err.name, message: String((err && err.message) || err), code: err && err.code } });
  }
});
