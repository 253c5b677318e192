'use strict';
/*
 * Entry of the face-analysis worker thread. Built (dist/), the compiled `face-worker.main.js` sits next to
 * this file; run from source (tests), the TypeScript next to it is compiled on load with @swc/core and the
 * repository's .swcrc, with the `@edgeloop/*` aliases resolved to the libraries' sources.
 */
const { existsSync, readFileSync } = require('node:fs');
const path = require('node:path');

const built = path.join(__dirname, 'face-worker.main.js');
if (existsSync(built)) {
  require(built);
} else {
  const Module = require('node:module');
  const root = path.resolve(__dirname, '..', '..', '..', '..');
  const swcrc = JSON.parse(readFileSync(path.join(root, '.swcrc'), 'utf8'));
  const aliases = Object.fromEntries(Object.entries(swcrc.jsc.paths).map(([name, [target]]) => [name, path.join(root, target)]));
  const resolveFilename = Module._resolveFilename;
  Module._resolveFilename = function (request, ...rest) {
    return resolveFilename.call(this, aliases[request] ?? request, ...rest);
  };
  const swc = require('@swc/core');
  Module._extensions['.ts'] = function (module, filename) {
    const { code } = swc.transformSync(readFileSync(filename, 'utf8'), {
      filename,
      swcrc: false,
      sourceMaps: 'inline',
      jsc: { ...swcrc.jsc, baseUrl: undefined, paths: undefined },
      module: swcrc.module,
    });
    module._compile(code, filename);
  };
  require(path.join(__dirname, 'face-worker.main.ts'));
}
