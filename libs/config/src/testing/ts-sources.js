'use strict';
/**
 * Lets a worker thread or child process that starts from the TypeScript sources (the test runner runs the
 * cloud from them) `require` `.ts` files: each is compiled on load with @swc/core and the repository's .swcrc,
 * its `@edgeloop/*` path aliases resolved to the libraries' sources, as the build would. Built code (dist/)
 * never loads this file. Plain JavaScript, so that the entries that need it can run before anything is compiled.
 */
const Module = require('node:module');
const { readFileSync } = require('node:fs');
const { dirname, join } = require('node:path');

let registered;

/** Registers the `.ts` loader for `swcrcPath` (the repository's .swcrc); a second call with the same file does nothing. */
function registerTypeScriptSources(swcrcPath) {
  if (registered === swcrcPath) return;
  if (registered) throw new Error(`TypeScript sources already registered for ${registered}`);
  registered = swcrcPath;
  const swc = require('@swc/core');
  const root = dirname(swcrcPath);
  const swcrc = JSON.parse(readFileSync(swcrcPath, 'utf8'));
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

module.exports = { registerTypeScriptSources };
