'use strict';
/*
 * Entry of `startSteadyDevice`'s child (steady-device.ts): the TypeScript next to this file, compiled on load
 * (libs/config/src/testing/ts-sources.js), as the test runner runs it from the sources.
 */
const path = require('node:path');

const root = path.resolve(__dirname, '..', '..', '..', '..');
require(path.join(root, 'libs', 'config', 'src', 'testing', 'ts-sources.js')).registerTypeScriptSources(path.join(root, '.swcrc'));
require(path.join(__dirname, 'steady-device-child.ts'));
