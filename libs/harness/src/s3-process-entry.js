'use strict';
/*
 * Entry of `startS3Process`'s child. Built (the benches' dist folders), the compiled `s3-process-child.js` sits
 * next to this file; run from source (the test runner), the TypeScript next to it is compiled on load
 * (libs/config/src/testing/ts-sources.js).
 */
const { existsSync } = require('node:fs');
const path = require('node:path');

const built = path.join(__dirname, 's3-process-child.js');
if (existsSync(built)) {
  require(built);
} else {
  const root = path.resolve(__dirname, '..', '..', '..');
  require(path.join(root, 'libs', 'config', 'src', 'testing', 'ts-sources.js')).registerTypeScriptSources(path.join(root, '.swcrc'));
  require(path.join(__dirname, 's3-process-child.ts'));
}
