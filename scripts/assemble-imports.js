'use strict';
/**
 * What an app imports at run time, found by reading its sources (not by guess): walks the import graph of
 * an app's production files (tests, `testing/` and `test/` folders left out) through the `@edgeloop/*`
 * aliases into the libs, and collects the npm packages and libs it reaches.
 *
 * Used by scripts/assemble-image-tree.js (which libs to compile into an image) and by the image-tree test
 * (an app's package.json must declare exactly the packages found here).
 * Usage: node scripts/assemble-imports.js [edge|cloud|cli]   (prints JSON; no app: every workspace's own imports)
 *        node scripts/assemble-imports.js --write             (rewrites the `dependencies` of every workspace's
 *                                                               package.json from its imports, root versions)
 */
const fs = require('node:fs');
const path = require('node:path');
const { builtinModules } = require('node:module');

const root = path.resolve(__dirname, '..');

/** Where each app's production sources live. */
const APPS = {
  edge: 'apps/edge/src',
  cloud: 'apps/cloud/src',
  cli: 'apps/cli',
};


/**
 * Packages loaded by a name the sources do not spell out: Nest's NestFactory.create loads the HTTP adapter
 * package by name.
 */
const LOADED_BY_NAME = new Map([['apps/cloud/src/app/bootstrap.ts', ['@nestjs/platform-express']]]);

/**
 * Packages a lib looks up only if present (require in a try/catch): declared there as optional peers, and as
 * dependencies by the apps that need them — the ffmpeg binary for the edge's video sources and the CLI's demo
 * camera, not for the cloud.
 */
const OPTIONAL_PEERS = new Map([['libs/binaries', ['@ffmpeg-installer/ffmpeg']]]);
const APP_PROVIDES = new Map([
  ['apps/edge', ['@ffmpeg-installer/ffmpeg']],
  ['apps/cli', ['@ffmpeg-installer/ffmpeg']],
]);

const TEST_FILE = /\.(spec|int|e2e)\.ts$/;
const TEST_DIR = /(^|\/)(testing|test|fixtures|__fixtures__)(\/|$)/;

function isProductionFile(rel) {
  return /\.(ts|js)$/.test(rel) && !rel.endsWith('.d.ts') && !TEST_FILE.test(rel) && !TEST_DIR.test(rel);
}

/** The `@edgeloop/*` aliases of tsconfig.json: name → file. */
function aliases() {
  const tsconfig = JSON.parse(fs.readFileSync(path.join(root, 'tsconfig.json'), 'utf8'));
  return Object.fromEntries(Object.entries(tsconfig.compilerOptions.paths).map(([name, [target]]) => [name, target]));
}

function walkDir(rel) {
  const out = [];
  for (const entry of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
    const child = path.posix.join(rel, entry.name);
    if (entry.isDirectory()) out.push(...walkDir(child));
    else out.push(child);
  }
  return out;
}

/** Module specifiers of one file: static imports and re-exports (type-only ones skipped), require(), import(). */
function specifiers(source) {
  const found = [];
  const stripped = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const patterns = [
    /^\s*import\s+(?!type\s)(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]/gm,
    /^\s*export\s+(?!type\s)[^;'"]*?\sfrom\s+['"]([^'"]+)['"]/gm,
    /\brequire\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const pattern of patterns) for (const match of stripped.matchAll(pattern)) found.push(match[1]);
  // require(NAME) where NAME is a string constant of the same file
  const constants = new Map([...stripped.matchAll(/\bconst\s+([A-Za-z_$][\w$]*)\s*=\s*['"]([^'"]+)['"]/g)].map((m) => [m[1], m[2]]));
  for (const match of stripped.matchAll(/\brequire\(\s*([A-Za-z_$][\w$]*)\s*\)/g)) {
    if (constants.has(match[1])) found.push(constants.get(match[1]));
  }
  return found;
}

function packageName(specifier) {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

function resolveRelative(fromRel, specifier) {
  const base = path.posix.normalize(path.posix.join(path.posix.dirname(fromRel), specifier));
  for (const candidate of [base, `${base}.ts`, `${base}.js`, `${base}/index.ts`, `${base}/index.js`]) {
    const full = path.join(root, candidate);
    if (fs.existsSync(full) && fs.statSync(full).isFile()) return candidate;
  }
  throw new Error(`${fromRel}: cannot resolve ${specifier}`);
}

/** The workspace folder (apps/edge, libs/vision, …) a source file belongs to. */
function unitOf(rel) {
  for (const [, dir] of Object.entries(APPS)) if (rel === dir || rel.startsWith(`${dir}/`)) return dir.replace(/\/src$/, '');
  const lib = /^libs\/([^/]+)\//.exec(rel);
  if (lib) return `libs/${lib[1]}`;
  throw new Error(`${rel} is in no workspace`);
}

/**
 * Walks the import graph from `roots`. Returns the files reached and, per workspace folder, the npm
 * packages and the other workspaces its own files import.
 */
function walkGraph(roots) {
  const aliasMap = aliases();
  const builtins = new Set(builtinModules);
  const files = new Set();
  const units = new Map();
  const unit = (dir) => {
    if (!units.has(dir)) units.set(dir, { packages: new Map(), peers: new Set(), workspaces: new Set() });
    const found = units.get(dir);
    for (const name of APP_PROVIDES.get(dir) ?? []) if (!found.packages.has(name)) found.packages.set(name, new Set([dir]));
    return found;
  };
  const queue = [...roots];
  while (queue.length > 0) {
    const rel = queue.pop();
    if (files.has(rel)) continue;
    files.add(rel);
    const own = unit(unitOf(rel));
    const found = [...specifiers(fs.readFileSync(path.join(root, rel), 'utf8')), ...(LOADED_BY_NAME.get(rel) ?? [])];
    for (const specifier of found) {
      if (specifier.startsWith('node:') || builtins.has(specifier)) continue;
      let target;
      if (specifier.startsWith('.')) target = resolveRelative(rel, specifier);
      else if (aliasMap[specifier]) target = aliasMap[specifier];
      if (target !== undefined) {
        if (!isProductionFile(target)) throw new Error(`${rel} imports test code ${target}`);
        const targetUnit = unitOf(target);
        if (targetUnit !== unitOf(rel)) own.workspaces.add(targetUnit);
        queue.push(target);
        continue;
      }
      const name = packageName(specifier);
      if ((OPTIONAL_PEERS.get(unitOf(rel)) ?? []).includes(name)) {
        own.peers.add(name);
        continue;
      }
      if (!own.packages.has(name)) own.packages.set(name, new Set());
      own.packages.get(name).add(rel);
    }
  }
  return { files, units };
}

const sorted = (values) => [...values].sort((a, b) => a.localeCompare(b));

/**
 * The run-time imports of an app: `packages` (every npm package reached, the libs' included), `libs`
 * (folders such as libs/contracts), `files` (every production source file reached, to compile).
 */
function runtimeImports(app) {
  const dir = APPS[app];
  if (!dir) throw new Error(`unknown app ${app}; one of ${Object.keys(APPS).join(', ')}`);
  const { files, units } = walkGraph(walkDir(dir).filter(isProductionFile));
  const packages = new Set();
  for (const { packages: own } of units.values()) for (const name of own.keys()) packages.add(name);
  return {
    packages: sorted(packages),
    libs: sorted([...units.keys()].filter((u) => u.startsWith('libs/'))),
    files: sorted(files),
  };
}

/**
 * What each workspace's own production files import: `{ 'apps/edge': { packages: [...], workspaces: [...] } }`,
 * over the libs' whole production sources plus the apps'. A package.json declares exactly these.
 */
function workspaceImports() {
  const roots = [...Object.values(APPS), ...fs.readdirSync(path.join(root, 'libs')).map((lib) => `libs/${lib}/src`)]
    .filter((dir) => fs.existsSync(path.join(root, dir)))
    .flatMap((dir) => walkDir(dir).filter(isProductionFile));
  const { units } = walkGraph(roots);
  return Object.fromEntries(
    sorted(units.keys()).map((dir) => {
      const { packages, peers, workspaces } = units.get(dir);
      return [dir, { packages: sorted(packages.keys()), optionalPeers: sorted(peers), workspaces: sorted(workspaces) }];
    }),
  );
}

/** What each workspace is, for its package.json. */
const DESCRIPTIONS = {
  'apps/edge': 'edgeloop edge worker: MQTT agent, model store, camera sources, inference pipeline, outbox',
  'apps/cloud': 'edgeloop cloud: REST API, MQTT gateway, BullMQ processors, serves the dashboard',
  'apps/cli': 'edgeloop command line: models, devices, rollouts, and `start` for the embedded mode',
  'libs/client': 'HTTP client of the edgeloop REST API',
  'libs/config': 'environment validation and the package version',
  'libs/contracts': 'wire formats: MQTT topics and payloads, REST DTOs, job names, webhook events',
  'libs/drift': 'drift statistics: PSI, Kolmogorov-Smirnov, proportion and centroid shifts',
  'libs/binaries': 'finds the executables edgeloop runs (ffmpeg, redis-server, mosquitto, postgres) or names the package that brings them',
  'libs/embedded': 'the embedded mode (npm start): Redis, Mosquitto, an S3-protocol server and the MQTT broker on loopback ports',
  'libs/harness': 'test harness: the embedded servers plus PostgreSQL, PGlite, Redis Cluster and whole stacks on free ports, for tests, e2e and benches',
  'libs/training': 'head training, calibration and evaluation',
  'libs/vision': 'face pipeline on onnxruntime-node and sharp; ONNX head builder; metrics',
};

/** The package name of a workspace folder: apps/edge → @edgeloop/edge. */
function workspaceName(dir) {
  return `@edgeloop/${path.posix.basename(dir)}`;
}

/**
 * What each workspace's package.json must hold: `dependencies` — the packages its own files import, at the
 * root package.json's exact version, and the workspaces it imports, at theirs — and `peerDependencies` —
 * the optional ones (OPTIONAL_PEERS; package.json marks them optional in peerDependenciesMeta).
 */
function expectedDependencies() {
  const rootManifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  const pinned = { ...rootManifest.devDependencies, ...rootManifest.dependencies };
  const pin = (dir, name) => {
    if (!pinned[name]) throw new Error(`${dir} imports ${name}, which the root package.json does not pin`);
    return pinned[name];
  };
  const byName = (entries) => Object.fromEntries(entries.sort(([a], [b]) => a.localeCompare(b)));
  const out = {};
  for (const [dir, { packages, optionalPeers, workspaces }] of Object.entries(workspaceImports())) {
    out[dir] = {
      dependencies: byName([...packages.map((name) => [name, pin(dir, name)]), ...workspaces.map((ws) => [workspaceName(ws), rootManifest.version])]),
      ...(optionalPeers.length > 0 ? { peerDependencies: byName(optionalPeers.map((name) => [name, pin(dir, name)])) } : {}),
    };
  }
  return out;
}

/** Writes each workspace's package.json with the dependencies its sources import (`--write`). */
function writeManifests() {
  const rootManifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  for (const [dir, { dependencies, peerDependencies }] of Object.entries(expectedDependencies())) {
    const file = path.join(root, dir, 'package.json');
    const current = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {};
    const manifest = {
      name: workspaceName(dir),
      version: rootManifest.version,
      private: true,
      description: DESCRIPTIONS[dir] ?? current.description,
      license: rootManifest.license,
      ...current,
      dependencies,
    };
    delete manifest.peerDependencies;
    delete manifest.peerDependenciesMeta;
    if (peerDependencies) {
      manifest.peerDependencies = peerDependencies;
      manifest.peerDependenciesMeta = Object.fromEntries(Object.keys(peerDependencies).map((name) => [name, { optional: true }]));
    }
    fs.writeFileSync(file, `${JSON.stringify(manifest, null, 2)}\n`);
  }
}

module.exports = { APPS, runtimeImports, workspaceImports, expectedDependencies, workspaceName, isProductionFile };

if (require.main === module) {
  const app = process.argv[2];
  if (app === '--write') {
    writeManifests();
    process.exit(0);
  }
  const report = app ? (({ packages, libs }) => ({ app, packages, libs }))(runtimeImports(app)) : workspaceImports();
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}
