'use strict';
/*
 * Entry of `startCloudProcessFixture`'s child: the cloud's own `main.ts`, run from the TypeScript sources (each file
 * compiled on load, libs/config/src/testing/ts-sources.js), so that it starts as a deployment starts it — its V8
 * defaults applied by main.ts (the process re-executes itself with them), its configuration from the environment.
 */
const path = require('node:path');

const root = path.resolve(__dirname, '..', '..', '..', '..');
require(path.join(root, 'libs', 'config', 'src', 'testing', 'ts-sources.js')).registerTypeScriptSources(path.join(root, '.swcrc'));
require(path.join(__dirname, '..', 'main.ts'));
