'use strict';
/**
 * Worker-thread entry of the retraining compute (see training-compute.ts): runs one task of
 * training-task and posts the result back. Built code (dist/) loads `training-task.js`; when the cloud
 * runs from its TypeScript sources (the test runner), `.ts` files are compiled on require
 * (libs/config/src/testing/ts-sources.js), as the build would.
 */
const { parentPort, workerData } = require('node:worker_threads');

/** Nice value of a training thread (0 normal … 19 lowest). */
const THREAD_NICE = 2;

if (workerData.taskModule.endsWith('.ts')) {
  const { dirname, join } = require('node:path');
  require(join(dirname(workerData.swcrc), 'libs', 'config', 'src', 'testing', 'ts-sources.js')).registerTypeScriptSources(workerData.swcrc);
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
