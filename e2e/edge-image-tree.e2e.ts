/**
 * @jest-environment ./libs/vision/test/onnx-environment.js
 */
import type { DeploymentResponse, ProvisionDeviceResponse } from '@edgeloop/contracts';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startCloudFixture, type CloudFixture } from '../apps/cloud/src/testing/cloud-fixture';
import { baseFiles, makeHead, uploadForm } from '../apps/cloud/src/testing/upload-form';
import { franckFrames, tempStateDir } from '../apps/edge/src/testing/edge-env';
import {
  assembleImageTree,
  binaryHeader,
  ELF_MACHINE,
  hostArch,
  listFiles,
  modulesOutside,
  repoRoot,
  TreeProcess,
  until,
  type ImageTree,
} from './image-tree.support';

const { expectedDependencies } = require('../scripts/assemble-imports.js') as {
  expectedDependencies(): Record<string, { dependencies: Record<string, string>; peerDependencies?: Record<string, string> }>;
};

const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;

/** Files a production image must not hold: tests, test support (the test harness too), fixtures, benches. */
const NOT_PRODUCTION = /(\.(spec|int|e2e)\.[jt]sx?$)|(^|\/)(testing|test|fixtures|__fixtures__|bench|e2e)\/|^dist\/libs\/harness\//;

describe('workspace manifests', () => {
  it("declare exactly what each workspace's production sources import (regenerate with: node scripts/assemble-imports.js --write)", () => {
    for (const [dir, expected] of Object.entries(expectedDependencies())) {
      const manifest = readJson(join(repoRoot, dir, 'package.json'));
      expect({ dir, dependencies: manifest.dependencies ?? {}, peerDependencies: manifest.peerDependencies }).toEqual({ dir, ...expected });
    }
    // the edge declares nothing of the cloud
    const edge = readJson(join(repoRoot, 'apps', 'edge', 'package.json')).dependencies as Record<string, string>;
    for (const cloudOnly of ['@nestjs/core', '@electric-sql/pglite', 's3rver', 'bullmq', '@edgeloop/harness']) expect(edge).not.toHaveProperty([cloudOnly]);
  });
});

describe('the Dockerfiles', () => {
  it.each(['edge', 'cloud'])('%s: builds on the build platform, assembles the tree for $TARGETARCH with the same script, and ships only that tree', (app) => {
    const dockerfile = readFileSync(join(repoRoot, 'apps', app, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^FROM --platform=\$BUILDPLATFORM node:24-slim AS build$/m);
    expect(dockerfile).toContain(`RUN node scripts/assemble-image-tree.js --app ${app} --arch "$TARGETARCH" --os linux --out /image`);
    expect(dockerfile.match(/^COPY --from=.*$/gm)).toEqual(['COPY --from=build /image ./']);
    expect(dockerfile).not.toMatch(/apt-get|npm prune/);
  });
});

describe('the linux/arm64 edge image tree, assembled without Docker', () => {
  let tree: ImageTree;

  beforeAll(() => {
    tree = assembleImageTree('edge', 'arm64');
  }, 10 * 60_000);

  afterAll(() => tree?.remove());

  it('holds native binaries for linux/arm64 only: every ELF is AArch64, no x64, macOS or Windows build', () => {
    const files = listFiles(tree.dir);
    const binaries = files.map((file) => ({ file, header: binaryHeader(join(tree.dir, file)) })).filter((b) => b.header !== undefined);
    const foreign = binaries.filter(({ header }) => header?.format !== 'elf' || header.machine !== ELF_MACHINE.arm64 || header.bits !== 64);
    expect(foreign).toEqual([]);
    // every .node addon is among the checked binaries (none hides behind an unknown header)
    const addons = files.filter((f) => f.endsWith('.node'));
    expect(addons.filter((f) => !binaries.some((b) => b.file === f))).toEqual([]);
    // and the ones the edge needs are there: onnxruntime, sharp + libvips, ffmpeg
    const names = binaries.map((b) => b.file);
    expect(names).toEqual(
      expect.arrayContaining([
        'node_modules/onnxruntime-node/bin/napi-v6/linux/arm64/onnxruntime_binding.node',
        'node_modules/onnxruntime-node/bin/napi-v6/linux/arm64/libonnxruntime.so.1',
        'node_modules/@ffmpeg-installer/linux-arm64/ffmpeg',
        expect.stringMatching(/^node_modules\/@img\/sharp-linux-arm64\/lib\/sharp-linux-arm64-[\d.]+\.node$/),
        expect.stringMatching(/^node_modules\/@img\/sharp-libvips-linux-arm64\/lib\/libvips-cpp\.so/),
      ]),
    );
    expect(
      files.filter((f) =>
        /(^|\/)(@img\/sharp-[^/]*x64|@ffmpeg-installer\/(?!ffmpeg\/|linux-arm64\/)|onnxruntime-node\/bin\/napi-v\d+\/(?!linux\/arm64\/))/.test(f),
      ),
    ).toEqual([]);
  });

  it('holds the compiled edge and its libs, the base models and the production dependencies, and no test, fixture or bench', () => {
    const files = listFiles(tree.dir);
    // no test file anywhere in the tree but node_modules (dist/, models/, package.json)
    expect(files.filter((f) => !f.startsWith('node_modules/') && NOT_PRODUCTION.test(f))).toEqual([]);
    expect(files).toEqual(expect.arrayContaining(['dist/apps/edge/src/main.js', 'models/base/manifest.json', 'models/base/fr_feature.onnx', 'package.json']));
    expect(new Set(files.filter((f) => f.startsWith('dist/')).map((f) => f.split('/').slice(0, 3).join('/')))).toEqual(
      new Set(['dist/apps/edge', 'dist/libs/binaries', 'dist/libs/client', 'dist/libs/config', 'dist/libs/contracts', 'dist/libs/vision']),
    );
    for (const cloudOnly of ['@nestjs', '@electric-sql', 's3rver', 'bullmq', 'aedes', 'typescript', 'jest']) {
      expect(existsSync(join(tree.dir, 'node_modules', cloudOnly))).toBe(false);
    }
    expect(readJson(join(tree.dir, 'package.json'))).toMatchObject({ name: 'edgeloop', version: readJson(join(repoRoot, 'package.json')).version });
  });
});

(hostArch ? describe : describe.skip)(`the ${hostArch} edge image tree runs on its own against a real cloud and broker`, () => {
  let tree: ImageTree;
  let fx: CloudFixture;
  let edge: TreeProcess | undefined;
  const state = tempStateDir('edge-tree-state-');
  const frames = tempStateDir('edge-tree-frames-');

  beforeAll(async () => {
    tree = assembleImageTree('edge', hostArch!);
    fx = await startCloudFixture({ broker: 'embedded' });
    franckFrames()
      .slice(0, 4)
      .forEach((jpeg, i) => writeFileSync(join(frames.dir, `frame-${i}.jpg`), jpeg));
  }, 10 * 60_000);

  afterAll(async () => {
    await edge?.stop();
    await fx?.stop();
    tree?.remove();
    state.remove();
    frames.remove();
  });

  it('finds every package it loads inside the tree (no NODE_PATH, no node_modules above it)', () => {
    expect(modulesOutside(tree.dir)).toEqual([]);
    const ffmpeg = spawnSync(process.execPath, ['-e', "process.stdout.write(require('@ffmpeg-installer/ffmpeg').path)"], {
      cwd: tree.dir,
      env: {},
      encoding: 'utf8',
    });
    expect(ffmpeg.stdout.startsWith(join(tree.dir, 'node_modules', '@ffmpeg-installer', `linux-${hostArch}`))).toBe(true);
    expect(spawnSync(ffmpeg.stdout, ['-hide_banner', '-version'], { encoding: 'utf8' }).stdout).toMatch(/^ffmpeg version/);
  });

  it('starts from the tree, takes a rollout from the cloud, reports active and processes frames', async () => {
    const labels = ['ann', 'ben'];
    const upload = await fx.api('/api/v1/models/face-id/versions', {
      method: 'POST',
      body: uploadForm({ ...baseFiles, head: makeHead(labels, 1) }, { labels }),
    });
    expect(upload.status).toBe(201);
    const provision = await fx.api('/api/v1/devices', {
      method: 'POST',
      body: JSON.stringify({ name: 'tree camera', group: 'tree' }),
      headers: { 'content-type': 'application/json' },
    });
    expect(provision.status).toBe(201);
    const provisioned = (await provision.json()) as ProvisionDeviceResponse;
    const deviceId = provisioned.device.id;

    mkdirSync(join(state.dir, 'state'));
    edge = new TreeProcess(tree.dir, 'dist/apps/edge/src/main.js', {
      EDGE_DEVICE_ID: deviceId,
      EDGE_STATE_DIR: join(state.dir, 'state'),
      EDGE_MODELS_DIR: 'models/base',
      EDGE_MQTT_URL: fx.mqttUrl,
      EDGE_MQTT_PASSWORD: provisioned.credentials.mqtt.password,
      EDGE_CLOUD_URL: fx.url,
      EDGE_HTTP_TOKEN: provisioned.credentials.http.token,
      EDGE_SIGNING_PUBLIC_KEY: provisioned.signingKey.publicKey,
      EDGE_SOURCE: `folder:${frames.dir}`,
      EDGE_FPS: '5',
      EDGE_HTTP_PORT: '0',
      EDGE_LOG_LEVEL: 'info',
      EDGE_LOG_FRAMES: 'false',
      EDGE_MQTT_RECONNECT_MS: '250',
      EDGE_HEARTBEAT_S: '5',
    });
    const [, port] = await edge.waitForOutput(/health and metrics on http:\/\/127\.0\.0\.1:(\d+)/);
    const health = async () => (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as Record<string, unknown>;
    await until(
      async () => ((await health()).brokerConnected === true ? true : undefined),
      30_000,
      () => edge!.output.slice(-2000),
    );

    const deploy = await fx.api('/api/v1/deployments', {
      method: 'POST',
      body: JSON.stringify({ model: 'face-id@1', target: { group: 'tree' } }),
      headers: { 'content-type': 'application/json' },
    });
    expect(deploy.status).toBe(201);
    const { id } = (await deploy.json()) as DeploymentResponse;
    const done = await until(
      async () => {
        const deployment = (await (await fx.api(`/api/v1/deployments/${id}`)).json()) as DeploymentResponse;
        return ['pending', 'in_progress'].includes(deployment.status) ? undefined : deployment;
      },
      60_000,
      () => edge!.output.slice(-2000),
    );
    expect(done.status).toBe('completed');

    const device = (await (await fx.api(`/api/v1/devices/${deviceId}`)).json()) as Record<string, unknown>;
    expect(device).toMatchObject({ presence: 'online', reported: { state: 'active', running: { name: 'face-id', version: 1 }, deploymentId: id } });
    const activeAt = (await health()).frames as number;
    const later = await until(async () => {
      const now = await health();
      return (now.frames as number) >= activeAt + 3 ? now : undefined;
    }, 30_000);
    expect(later).toMatchObject({ ok: true, state: 'active', running: { name: 'face-id', version: 1 }, failedFrames: 0 });
    expect(edge.output).not.toMatch(/Cannot find module|MODULE_NOT_FOUND/);
    expect(await edge.stop()).toBe(0);
  });
});
