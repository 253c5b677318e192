#!/usr/bin/env node
'use strict';
// Makes `npx edgeloop …` work in this folder (run by `postinstall`). npx runs node_modules/.bin/edgeloop when
// there is one. The root package.json has no `bin` field on purpose: with one, npx would install this project
// into its own cache to link that bin, running our postinstall there, which `strict-allow-scripts` refuses.
const fs = require('node:fs');
const path = require('node:path');

const binDir = path.join(__dirname, '..', 'node_modules', '.bin');
const link = path.join(binDir, 'edgeloop');
fs.mkdirSync(binDir, { recursive: true });
fs.rmSync(link, { force: true });
fs.symlinkSync(path.join('..', '..', 'bin', 'edgeloop.js'), link);
