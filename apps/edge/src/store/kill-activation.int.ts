import { verifySignedManifest, type ModelManifest, type ModelVersionRef, type SignedManifest } from '@edgeloop/contracts';
import { seededRandom } from '@edgeloop/harness';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAtBoot } from '../runtime/boot';
import type { LoadedModel, PipelineLoader } from '../runtime/pipeline-loader';
import { CloudSigner } from '../testing/cloud-signer';
import { repoRoot } from '../testing/edge-env';
import { buildEdge } from '../testing/edge-process';
import { ModelStore } from './model-store';

/** Activations per run: 10 in `npm test`, EDGELOOP_KILL_ACTIVATIONS (200 in the long form) otherwise; seed EDGELOOP_KILL_SEED. */
const N = Number(process.env.EDGELOOP_KILL_ACTIVATIONS ?? 10);
const SEED = Number(process.env.EDGELOOP_KILL_SEED ?? 42);
const DEVICE = 'cam-kill';
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

type Candidate = 'valid' | 'unsigned' | 'corrupt';

/** Boot as the worker does (loadAtBoot), with a loader that records what it was asked to serve. */
const loader: PipelineLoader = {
  loadInstalled: async (signed: SignedManifest) =>
    ({ ref: { name: signed.manifest.name, version: signed.manifest.version }, origin: 'store', signed }) as unknown as LoadedModel,
  loadBase: async () => ({ ref: { name: 'base', version: 0 }, origin: 'base' }) as unknown as LoadedModel,
} as unknown as PipelineLoader;

/**
 * kill -9 during activation: the store side of a deployment (download with resume, sha256 check, manifest
 * save, pointer switch, garbage collection; `testing/activation-child.ts`) runs as a child process and is
 * killed with SIGKILL at a random moment, N times in a seeded loop, with signed, unsigned (manifest signed
 * by another key) and corrupt (blob bytes that do not match) candidates. After every kill the device boots
 * (loadAtBoot) on a valid version — the one before or the new one — whose manifest verifies and whose blobs
 * hash to their names; never on the unsigned or corrupt candidate, never on nothing.
 */
describe('kill -9 at random points of an activation', () => {
  let build: ReturnType<typeof buildEdge>;
  let server: Server;
  let cloudUrl: string;
  const signer = new CloudSigner();
  const state = mkdtempSync(join(tmpdir(), 'edge-kill-'));
  const work = mkdtempSync(join(tmpdir(), 'edge-kill-jobs-'));
  /** Blob bytes served by sha256; `poisoned` ones are served with other bytes. */
  const blobs = new Map<string, Buffer>();
  const poisoned = new Set<string>();
  const shared = { detector: randomBytes(192 * 1024), embedder: randomBytes(256 * 1024) };

  beforeAll(async () => {
    build = buildEdge();
    for (const bytes of Object.values(shared)) blobs.set(sha256(bytes), bytes);
    // a blob server that trickles (16 KiB every 5 ms) and honours Range, so kills land mid-download too
    server = createServer((req, res) => {
      const hex = /\/api\/v1\/blobs\/([0-9a-f]{64})$/.exec(req.url ?? '')?.[1];
      const bytes = hex && blobs.get(hex);
      if (!bytes) return void res.writeHead(404).end();
      const body = poisoned.has(hex) ? randomBytes(bytes.length) : bytes;
      const from = Number(/bytes=(\d+)-/.exec(req.headers.range ?? '')?.[1] ?? 0);
      res.writeHead(from > 0 ? 206 : 200, {
        'content-length': body.length - from,
        ...(from > 0 ? { 'content-range': `bytes ${from}-${body.length - 1}/${body.length}` } : {}),
      });
      let at = from;
      const pump = () => {
        if (at >= body.length || res.destroyed) return void res.end();
        res.write(body.subarray(at, (at += 16 * 1024)));
        setTimeout(pump, 5);
      };
      pump();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cloudUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  }, 120_000);
  afterAll(async () => {
    build?.remove();
    await new Promise((r) => server?.close(r));
    rmSync(state, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  const manifestOf = (version: number, head: Buffer): ModelManifest => ({
    schema: 'edgeloop.model/v1',
    name: 'face-id',
    version,
    ...(version > 1 ? { parent: version - 1 } : {}),
    files: [
      { role: 'detector', sha256: sha256(shared.detector), size: shared.detector.length, format: 'onnx' },
      { role: 'embedder', sha256: sha256(shared.embedder), size: shared.embedder.length, format: 'onnx' },
      { role: 'head', sha256: sha256(head), size: head.length, format: 'onnx' },
    ],
    labels: ['ann', 'ben'],
    thresholds: { detection: 0.7, match: 0.45 },
    metrics: {},
    createdBy: 'upload',
  });

  /** Runs the child to the end, or kills it with SIGKILL after `killAfterMs`; the exit code or 'killed'. */
  const activate = (version: number, candidate: Candidate, killAfterMs: number | null): Promise<number | 'killed'> => {
    const head = randomBytes(96 * 1024);
    blobs.set(sha256(head), head);
    if (candidate === 'corrupt') poisoned.add(sha256(head));
    const desired = signer.desired(DEVICE, manifestOf(version, head), {
      deploymentId: `dep-${version}-${candidate}`,
      ...(candidate === 'unsigned' ? { manifestKey: new CloudSigner().privateKey } : {}),
    });
    const jobFile = join(work, `job-${version}.json`);
    writeFileSync(jobFile, JSON.stringify({ desired, cloudUrl, publicKeyPem: signer.publicKeyPem }));
    const child = spawn(process.execPath, [join(build.main, '..', 'store', 'testing', 'activation-child.js'), state, jobFile], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH, NODE_PATH: join(repoRoot, 'node_modules') },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = killAfterMs === null ? undefined : setTimeout(() => process.kill(child.pid!, 'SIGKILL'), killAfterMs);
    return new Promise((resolve, reject) =>
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        if (signal === 'SIGKILL') resolve('killed');
        else if (code === 1) reject(new Error(`the activation crashed: ${stderr}`));
        else resolve(code ?? -1);
      }),
    );
  };

  /** What the device boots on now, checked independently of loadAtBoot: signed with the key, every blob intact. */
  const boot = async (): Promise<ModelVersionRef & { origin: string }> => {
    const store = new ModelStore(state);
    await store.open();
    const booted = await loadAtBoot(store, loader);
    const ref = { ...booted.model.ref, origin: booted.model.origin };
    if (booted.model.origin !== 'store') return ref;
    const signed = (booted.model as unknown as { signed: SignedManifest }).signed;
    expect(verifySignedManifest(signed, signer.publicKey)).toBe(true);
    for (const file of signed.manifest.files) expect(await store.blobIntact(file.sha256)).toBe(true);
    return ref;
  };

  it(
    `always boots on a valid version after ${N} activations killed at random points`,
    async () => {
      expect(await activate(1, 'valid', null)).toBe(0);
      expect(await boot()).toEqual({ name: 'face-id', version: 1, origin: 'store' });
      const random = seededRandom(SEED);
      // how long a whole activation takes here, to spread the kills over all of it
      let version = 1;
      const started = performance.now();
      expect(await activate(++version, 'valid', null)).toBe(0);
      const span = performance.now() - started;
      let current = version;
      const outcomes: Record<string, number> = {};
      for (let i = 0; i < N; i++) {
        const draw = random();
        const candidate: Candidate = draw < 0.7 ? 'valid' : draw < 0.85 ? 'unsigned' : 'corrupt';
        const result = await activate(++version, candidate, Math.floor(random() * span * 1.2));
        const booted = await boot();
        const allowed = candidate === 'valid' ? [current, version] : [current];
        if (booted.origin !== 'store' || !allowed.includes(booted.version)) {
          throw new Error(`activation ${i} (${candidate} v${version}, ${result}): booted ${JSON.stringify(booted)}, allowed ${allowed.join(' or ')}`);
        }
        if (candidate !== 'valid' && result !== 'killed') expect(result).toBe(candidate === 'unsigned' ? 3 : 4);
        current = booted.version;
        const key = `${candidate} ${result === 'killed' ? 'killed' : `exit ${result}`} → ${booted.version === version ? 'new' : 'previous'}`;
        outcomes[key] = (outcomes[key] ?? 0) + 1;
      }
      process.stdout.write(`kill -9 during activation, N=${N}, seed ${SEED}, activation ≈ ${Math.round(span)} ms: ${JSON.stringify(outcomes)}\n`);
      // the kills landed both before and after the switch
      expect(Object.keys(outcomes).some((k) => k.startsWith('valid killed → previous'))).toBe(true);
      expect(readdirSync(join(state, 'versions')).length).toBeLessThanOrEqual(3);
    },
    60_000 + N * 3_000,
  );
});
