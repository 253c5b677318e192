#!/usr/bin/env node
'use strict';
/**
 * Compiles the TypeScript sources into dist/ with swc (the repository's .swcrc turns the @edgeloop/* aliases
 * into relative paths), the way `npm start` and `npm run infer` run them.
 *
 *   node scripts/build-dist.js           production: apps/ and libs/ without specs, integration tests, test
 *                                        kits (testing/, test/), fixtures or the test harness (npm run build)
 *   node scripts/build-dist.js --bench   production plus bench/ and the test kits and harness it runs on
 *                                        (npm run bench:*): tests still stay out
 *   --keep                               do not empty dist/ first (a test that builds while other processes
 *                                        may run from dist/)
 *   --out DIR                            another folder than dist/ (the compiled apps find the repository by
 *                                        their depth: run them from a folder directly under it)
 *
 * The dashboard is built apart (`npm run build:dashboard`); container images are assembled from each app's
 * import graph instead (scripts/assemble-image-tree.js).
 */
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');

/** Test files: never compiled into dist/. */
const TESTS = ['**/*.spec.ts', '**/*.spec.tsx', '**/*.int.ts', '**/*.e2e.ts'];
/** What tests run on: left out of the production build, compiled for the benches. */
const TEST_SUPPORT = ['**/testing/**', '**/test/**', '**/fixtures/**', '**/__fixtures__/**', 'libs/harness/**'];
/** Built by vite (build:dashboard), not by swc. */
const DASHBOARD = ['apps/dashboard/**'];

function parseArgs(argv) {
  const args = { bench: false, keep: false, out: path.join(root, 'dist') };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--bench') args.bench = true;
    else if (flag === '--keep') args.keep = true;
    else if (flag === '--out' && i + 1 < argv.length) args.out = path.resolve(argv[++i]);
    else throw new Error(`unknown option ${flag} (--bench, --keep, --out DIR)`);
  }
  return args;
}

function build({ bench, keep, out }) {
  if (!keep) fs.rmSync(out, { recursive: true, force: true });
  const sources = bench ? ['apps', 'libs', 'bench'] : ['apps', 'libs'];
  const ignore = [...TESTS, ...DASHBOARD, ...(bench ? [] : TEST_SUPPORT)];
  const swc = path.join(root, 'node_modules', '@swc', 'cli', 'bin', 'swc.js');
  execFileSync(process.execPath, [swc, ...sources, '-d', out, '--copy-files', '--quiet', '--ignore', ignore.join(',')], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
}

module.exports = { TESTS, TEST_SUPPORT };

if (require.main === module) {
  try {
    build(parseArgs(process.argv.slice(2)));
  } catch (err) {
    process.stderr.write(`build-dist: ${err.message}\n`);
    process.exit(1);
  }
}
