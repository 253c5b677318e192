#!/usr/bin/env node
'use strict';
/**
 * Assembles the file tree of an app's container image, the way apps/<app>/Dockerfile does (the Dockerfile
 * runs this script), without Docker:
 *
 *   dist/            the app's production sources and the libs they import, compiled with swc — the files
 *                    reached from the app's import graph (scripts/assemble-imports.js), so no spec, test,
 *                    fixture, testing/ folder or bench; the cloud also gets the built dashboard
 *   node_modules/    `npm ci --omit=dev --workspace apps/<app> --cpu <arch> --os linux`: the production
 *                    dependencies of that workspace only, the optional per-platform packages (sharp's
 *                    @img/sharp-linux-<arch>, @ffmpeg-installer/linux-<arch>) of the target only; then
 *                    onnxruntime-node's binaries of other platforms are removed (it ships all of them)
 *   models/base/     the base model bundle (edge only)
 *   package.json     name and version (the apps report it), the app's dependencies
 *
 * Usage: node scripts/assemble-image-tree.js --app edge|cloud --out DIR [--arch x64|arm64] [--os linux]
 *                                            [--install-cache DIR] [--skip-dashboard]
 * `--arch` also takes Docker's names (amd64, arm64); default: this machine's. `--install-cache DIR` keeps
 * the installed node_modules under DIR keyed by the lock file's hash (tests and the bench reuse it).
 * Prints one JSON line: { app, arch, os, out, seconds }.
 */
const { execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { runtimeImports } = require('./assemble-imports');

const root = path.resolve(__dirname, '..');
const DOCKER_ARCH = { amd64: 'x64', x86_64: 'x64', aarch64: 'arm64' };

function parseArgs(argv) {
  const args = { arch: process.arch, os: 'linux', dashboard: true };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${flag} needs a value`);
      return argv[++i];
    };
    if (flag === '--app') args.app = value();
    else if (flag === '--out') args.out = path.resolve(value());
    else if (flag === '--arch') args.arch = value();
    else if (flag === '--os') args.os = value();
    else if (flag === '--install-cache') args.installCache = path.resolve(value());
    else if (flag === '--skip-dashboard') args.dashboard = false;
    else throw new Error(`unknown option ${flag}`);
  }
  if (!['edge', 'cloud'].includes(args.app)) throw new Error('--app edge|cloud is required');
  if (!args.out) throw new Error('--out DIR is required');
  args.arch = DOCKER_ARCH[args.arch] ?? args.arch;
  if (!['x64', 'arm64'].includes(args.arch)) throw new Error(`unsupported --arch ${args.arch} (x64/amd64 or arm64)`);
  return args;
}

function log(message) {
  process.stderr.write(`[assemble] ${message}\n`);
}

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

/** The workspace folders of the root package.json (`dir` or `dir/*` patterns). */
function workspaceDirs() {
  const dirs = [];
  for (const pattern of readJson(path.join(root, 'package.json')).workspaces ?? []) {
    if (pattern.endsWith('/*')) {
      const parent = pattern.slice(0, -2);
      for (const entry of fs.readdirSync(path.join(root, parent), { withFileTypes: true })) {
        const dir = `${parent}/${entry.name}`;
        if (entry.isDirectory() && fs.existsSync(path.join(root, dir, 'package.json'))) dirs.push(dir);
      }
    } else dirs.push(pattern);
  }
  return dirs.sort();
}

/** Test files, test kits, fixtures and the test harness: an image never holds one (a production import of one fails here). */
const NOT_PRODUCTION = /(\.(spec|int|e2e)\.tsx?$)|(^|\/)(testing|test|fixtures|__fixtures__)\/|^(libs\/harness|bench|e2e)\//;

/** dist/: the files of the app's import graph compiled with the repository's .swcrc (aliases become relative paths). */
function compile(app, out, withDashboard) {
  const { files } = runtimeImports(app);
  const leaked = files.filter((file) => NOT_PRODUCTION.test(file));
  if (leaked.length > 0) throw new Error(`the ${app} image would hold test code: ${leaked.join(', ')}`);
  const dist = path.join(out, 'dist');
  const typescript = files.filter((f) => f.endsWith('.ts'));
  execFileSync(process.execPath, [path.join(root, 'node_modules', '@swc', 'cli', 'bin', 'swc.js'), ...typescript, '-d', dist, '--quiet', '--source-maps', 'false'], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  for (const file of files.filter((f) => f.endsWith('.js'))) {
    fs.mkdirSync(path.dirname(path.join(dist, file)), { recursive: true });
    fs.copyFileSync(path.join(root, file), path.join(dist, file));
  }
  if (app === 'cloud' && withDashboard) {
    execFileSync(process.execPath, [path.join(root, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '-c', 'apps/dashboard/vite.config.mts', '--logLevel', 'warn'], {
      cwd: root,
      env: { ...process.env, EDGELOOP_DASHBOARD_OUT: path.join(dist, 'dashboard') },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
  }
  return files.length;
}

/** The key of an install: the lock, every workspace manifest, this script (its pruning), the app and the platform. */
function installKey(app, arch, os) {
  const hash = crypto.createHash('sha256');
  const inputs = ['package.json', 'package-lock.json', '.npmrc', 'scripts/assemble-image-tree.js', ...workspaceDirs().map((d) => `${d}/package.json`)];
  for (const file of inputs) {
    let content = fs.readFileSync(path.join(root, file), 'utf8');
    // a new npm script changes nothing installed
    if (file === 'package.json') content = JSON.stringify({ ...JSON.parse(content), scripts: undefined });
    hash.update(`${file}\n`).update(content);
  }
  return `${app}-${os}-${arch}-${hash.digest('hex').slice(0, 16)}`;
}

/** node_modules/: the app workspace's production dependencies for the target platform. */
function install(app, out, arch, os) {
  const stage = fs.mkdtempSync(path.join(out, '.install-'));
  try {
    for (const file of ['package.json', 'package-lock.json', '.npmrc', ...workspaceDirs().map((d) => `${d}/package.json`)]) {
      fs.mkdirSync(path.dirname(path.join(stage, file)), { recursive: true });
      fs.copyFileSync(path.join(root, file), path.join(stage, file));
    }
    // No install script is needed in production (onnxruntime-node's would download CUDA; sharp and ffmpeg
    // ship prebuilt per-platform packages), and none may run for a foreign platform.
    const args = ['ci', '--omit=dev', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'];
    args.push(`--workspace=apps/${app}`, `--cpu=${arch}`, `--os=${os}`, `--libc=glibc`);
    execFileSync('npm', args, { cwd: stage, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, npm_config_update_notifier: 'false' } });
    const modules = path.join(stage, 'node_modules');
    // The workspace links: the libs are compiled into dist/, nothing resolves them as packages at run time.
    fs.rmSync(path.join(modules, '@edgeloop'), { recursive: true, force: true });
    fs.rmSync(path.join(modules, '.bin'), { recursive: true, force: true });
    pruneForeignBinaries(modules, arch, os);
    pruneNonRuntimeFiles(modules);
    fs.renameSync(modules, path.join(out, 'node_modules'));
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
}

/** onnxruntime-node ships every platform's binaries in one package: keep bin/napi-v*\/<os>/<arch> only. */
function pruneForeignBinaries(modules, arch, os) {
  const bin = path.join(modules, 'onnxruntime-node', 'bin');
  if (!fs.existsSync(bin)) return;
  for (const napi of fs.readdirSync(bin)) {
    for (const platform of fs.readdirSync(path.join(bin, napi))) {
      const platformDir = path.join(bin, napi, platform);
      if (platform !== os) {
        fs.rmSync(platformDir, { recursive: true, force: true });
        continue;
      }
      for (const cpu of fs.readdirSync(platformDir)) {
        if (cpu !== arch) fs.rmSync(path.join(platformDir, cpu), { recursive: true, force: true });
      }
    }
  }
}

/** Folders and files no package loads at run time: tests, examples, type declarations, sources, maps, docs. */
const NON_RUNTIME_DIRS = new Set(['test', 'tests', '__tests__', 'example', 'examples', '.github']);
const NON_RUNTIME_FILE = /(\.d\.[cm]?ts|\.[cm]?ts|\.map|\.md|\.markdown)$/i;
/**
 * Whole folders Node never loads: protobufjs 6's pbjs/pbts command line (with its own bundled dependencies),
 * type packages, and mqtt's browser and React Native bundles (its `exports` send Node to build/).
 */
const NON_RUNTIME_PATHS = ['protobufjs/cli', '@types', 'mqtt/dist'];

function pruneNonRuntimeFiles(modules) {
  for (const rel of NON_RUNTIME_PATHS) fs.rmSync(path.join(modules, rel), { recursive: true, force: true });
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (NON_RUNTIME_DIRS.has(entry.name)) fs.rmSync(full, { recursive: true, force: true });
        else walk(full);
      } else if (entry.isFile() && NON_RUNTIME_FILE.test(entry.name)) fs.rmSync(full);
    }
  };
  walk(modules);
}

function installCached(app, out, arch, os, cacheDir) {
  if (!cacheDir) return install(app, out, arch, os);
  const cached = path.join(cacheDir, installKey(app, arch, os));
  if (!fs.existsSync(cached)) {
    fs.mkdirSync(cacheDir, { recursive: true });
    const scratch = fs.mkdtempSync(path.join(cacheDir, '.fill-'));
    try {
      install(app, scratch, arch, os);
      fs.renameSync(scratch, cached);
      // an install for an older lock of the same app and platform is never used again
      const prefix = `${app}-${os}-${arch}-`;
      for (const entry of fs.readdirSync(cacheDir)) {
        if (entry.startsWith(prefix) && entry !== path.basename(cached)) fs.rmSync(path.join(cacheDir, entry), { recursive: true, force: true });
      }
    } catch (err) {
      fs.rmSync(scratch, { recursive: true, force: true });
      if (!fs.existsSync(cached)) throw err;
    }
  } else log(`node_modules from the install cache (${path.basename(cached)})`);
  execFileSync('cp', ['-a', path.join(cached, 'node_modules'), path.join(out, 'node_modules')]);
}

function writeManifest(app, out) {
  const rootManifest = readJson(path.join(root, 'package.json'));
  const appManifest = readJson(path.join(root, 'apps', app, 'package.json'));
  const dependencies = Object.fromEntries(Object.entries(appManifest.dependencies ?? {}).filter(([name]) => !name.startsWith('@edgeloop/')));
  // `edgeloop` and its version: what libs/config's packageVersion() reads for health and the reported state.
  const manifest = { name: rootManifest.name, version: rootManifest.version, private: true, description: appManifest.description, license: rootManifest.license, dependencies };
  fs.writeFileSync(path.join(out, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
}

/** The roles the edge's face pipeline loads (apps/edge/src/runtime/pipeline-loader.ts); liveness is not one. */
const EDGE_MODEL_ROLES = new Set(['detector', 'landmarks', 'embedder', 'head']);

/** models/base/: the base bundle with the files the edge loads, and its manifest listing just those. */
function copyModels(out) {
  const from = path.join(root, 'models', 'base');
  if (!fs.existsSync(path.join(from, 'manifest.json'))) throw new Error('models/base has no manifest.json: run `npm run fetch-assets` first');
  const manifest = readJson(path.join(from, 'manifest.json'));
  const to = path.join(out, 'models', 'base');
  fs.mkdirSync(to, { recursive: true });
  manifest.files = manifest.files.filter((file) => EDGE_MODEL_ROLES.has(file.role));
  for (const file of manifest.files) fs.copyFileSync(path.join(from, file.path), path.join(to, file.path));
  fs.writeFileSync(path.join(to, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const started = performance.now();
  fs.rmSync(args.out, { recursive: true, force: true });
  fs.mkdirSync(args.out, { recursive: true });
  const compiled = compile(args.app, args.out, args.dashboard);
  log(`${args.app}: ${compiled} source files compiled into dist/`);
  installCached(args.app, args.out, args.arch, args.os, args.installCache);
  log(`${args.app}: production dependencies for ${args.os}/${args.arch} installed`);
  writeManifest(args.app, args.out);
  if (args.app === 'edge') copyModels(args.out);
  const seconds = Math.round((performance.now() - started) / 100) / 10;
  process.stdout.write(`${JSON.stringify({ app: args.app, arch: args.arch, os: args.os, out: args.out, seconds })}\n`);
}

if (require.main === module) {
  try {
    main();
  } catch (err) {
    process.stderr.write(`assemble-image-tree: ${err.message}\n`);
    process.exit(1);
  }
}

module.exports = { installKey, workspaceDirs };
