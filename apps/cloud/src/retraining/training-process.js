'use strict';
/**
 * Child-process entry of the retraining compute (see training-compute.ts): runs one task of training-task and
 * sends the result back. Its byte inputs and outputs travel as files in the task's folder (`writeViews` /
 * `readViews`), never through the IPC channel. Built code (dist/) loads `training-task.js`; when the cloud runs from
 * its TypeScript sources (the test runner), `.ts` files are compiled on require (libs/config/src/testing/ts-sources.js),
 * as the build would. It leaves as soon as the cloud's end of the channel closes (a cloud that crashed or was killed).
 */
const [taskModule, swcrc] = process.argv.slice(2);

if (taskModule.endsWith('.ts')) {
  const { dirname, join } = require('node:path');
  require(join(dirname(swcrc), 'libs', 'config', 'src', 'testing', 'ts-sources.js')).registerTypeScriptSources(swcrc);
}

const { runTrainingTask, readViews, writeViews } = require(taskModule);

process.on('disconnect', () => process.exit(0));
process.once('message', async ({ task, dir }) => {
  try {
    const result = runTrainingTask({ ...task, input: await readViews(task.input, false) });
    process.send({ ok: true, result: await writeViews(result, dir, 'out') });
  } catch (err) {
    process.send({ ok: false, error: { name: err && err.name, message: String((err && err.message) || err), code: err && err.code } });
  }
});
