'use strict';
/*
 * Entry of the face-analysis worker thread. Built (dist/), the compiled `face-worker.main.js` sits next to
 * this file; run from source (tests), the TypeScript next to it is compiled on load (libs/config/src/testing/ts-sources.js).
 */
const { existsSync } = require('node:fs');
const path = require('node:path');

const built = path.join(__dirname, 'face-worker.main.js');
if (existsSync(built)) {
  require(built);
} else {
  const root = path.resolve(__dirname, '..', '..', '..', '..');
  require(path.join(root, 'libs', 'config', 'src', 'testing', 'ts-sources.js')).registerTypeScriptSources(path.join(root, '.swcrc'));
  require(path.join(__dirname, 'face-worker.main.ts'));
}
