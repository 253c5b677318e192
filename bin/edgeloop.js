#!/usr/bin/env node
'use strict';
// Launcher for the `edgeloop` CLI: runs the compiled entry point (npm run build writes dist/).
const fs = require('node:fs');
const path = require('node:path');

const entry = path.join(__dirname, '..', 'dist', 'apps', 'cli', 'main.js');
if (!fs.existsSync(entry)) {
  process.stderr.write('edgeloop: not built yet; run `npm start` (it builds first) or `npm run build` in the edgeloop folder\n');
  process.exit(2);
}
require(entry);
