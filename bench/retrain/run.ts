/**
 * Retraining benchmark (not a test): time from trigger to candidate registered. The production cloud
 * (in this process, as `startCloud` builds it) on Redis, an S3 server and PGlite in a temp folder; a base
 * model whose head is a blurred estimate of the people; IDENTITIES × PER_IDENTITY synthetic labelled hard
 * examples (plus strangers) from four cameras in SQL, read by the real TrainingDataService; then
 * `POST /api/v1/retraining/jobs` and the run polled until it is finished. Prints each step's time and
 * writes bench/results/retrain.json.
 *
 *   npm run bench:retrain      (BENCH_RETRAIN_IDENTITIES, BENCH_RETRAIN_PER_IDENTITY, BENCH_RETRAIN_METHOD)
 */
import { freePort, startRedis, startS3, type RedisServer, type S3Server } from '@edgeloop/harness';
import { apiPaths, RETRAINING_STEPS, type RetrainingRun } from '@edgeloop/contracts';
import { buildIdentityHead } from '@edgeloop/vision';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { startCloud, type RunningCloud } from '../../apps/cloud/src/app/bootstrap';
import { CloudConfig } from '../../apps/cloud/src/config/cloud.config';
import { SqlDatabase } from '../../apps/cloud/src/database/sql-database';
import { blurredHead, syntheticGallery } from '../../apps/cloud/src/retraining/testing/synthetic-training-data';
import { repoRoot } from '../common/repo-root';
import { stopOnSignal } from '../common/stop-on-signal';

const out = (line = '') => process.stdout.write(`${line}\n`);
const int = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);

async function main(): Promise<void> {
  const identities = int('BENCH_RETRAIN_IDENTITIES', 100);
  const perIdentity = int('BENCH_RETRAIN_PER_IDENTITY', 20);
  const method = (process.env.BENCH_RETRAIN_METHOD ?? 'auto') as 'auto' | 'prototypes' | 'logistic';
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'edgeloop-bench-retrain-'));
  let redis: RedisServer | undefined;
  let s3: S3Server | undefined;
  let cloud: RunningCloud | undefined;
  const stop = stopOnSignal(async () => {
    await cloud?.close().catch(() => undefined);
    await redis?.stop();
    await s3?.stop();
    rmSync(workDir, { recursive: true, force: true });
  });
  try {
    [redis, s3] = await Promise.all([startRedis(), startS3()]);
    const token = `elt_${randomBytes(24).toString('base64url')}`;
    cloud = await startCloud(
      CloudConfig.fromEnv({
        S3_ENDPOINT: s3.endPoint,
        S3_PORT: String(s3.port),
        S3_ACCESS_KEY: s3.accessKey,
        S3_SECRET_KEY: s3.secretKey,
        REDIS_URL: redis.url,
        EDGELOOP_EMBEDDED_BROKER_PORT: String(await freePort()),
        EDGELOOP_SQL_DIR: path.join(workDir, 'sql'),
        EDGELOOP_DATA_DIR: path.join(workDir, 'data'),
        EDGELOOP_BOOTSTRAP_TOKEN: token,
        EDGELOOP_LOG_LEVEL: process.env.BENCH_RETRAIN_LOG_LEVEL ?? 'warn',
      }),
    );
    // the first request after a long pause may meet a keep-alive socket the server closed: sent again once
    const api = async <T>(method: string, route: string, body?: unknown, retry = true): Promise<T> => {
      const res = await fetch(`${cloud!.url}${route}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body !== undefined && !(body instanceof FormData) ? { 'content-type': 'application/json' } : {}) },
        body: body === undefined ? undefined : body instanceof FormData ? body : JSON.stringify(body),
      }).catch((err: Error) => {
        if (retry && String(err.cause).includes('ECONNRESET')) return undefined;
        throw new Error(`${method} ${route}: ${err.message} (${String(err.cause)})`);
      });
      if (!res) return api<T>(method, route, body, false);
      if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${await res.text()}`);
      return (await res.json()) as T;
    };

    const gallery = syntheticGallery({ identities, perIdentity, strangers: identities, seed: 5, sameCosine: 0.35, prefix: 'id' });
    const labels = [...gallery.centres.keys()];
    const form = new FormData();
    form.append('manifest', JSON.stringify({ labels }));
    const models = path.join(repoRoot(), 'models', 'base');
    const parts: Array<[string, Uint8Array]> = [
      ['detector', readFileSync(path.join(models, 'fr_detect.onnx'))],
      ['landmarks', readFileSync(path.join(models, 'fr_landmark.onnx'))],
      ['embedder', readFileSync(path.join(models, 'fr_feature.onnx'))],
      ['head', buildIdentityHead(blurredHead(gallery, labels, 0.3))],
    ];
    for (const [role, bytes] of parts) form.append(role, new Blob([new Uint8Array(bytes)]), `${role}.onnx`);
    await api('POST', apiPaths.modelVersions('face-id'), form);
    await api('PUT', apiPaths.modelAlias('face-id', 'production'), { version: 1 });
    await api('PUT', '/api/v1/retraining/settings/face-id', { trainer: { method, seed: 1 } });
    const db = cloud.app.get(SqlDatabase);
    for (const [i, e] of gallery.examples.entries()) {
      await db.query(
        `insert into hard_examples (id, device_id, example_id, model_name, model_version, reason, det_score, embedding, captured_at, label, labelled_at, unknown_confirmed_at)
         values ($1, $2, $1, 'face-id', 1, 'unknown', 0.9, $3, $4, $5, $6, $7)`,
        [
          `he-${i}`,
          `cam-${(i % 4) + 1}`,
          JSON.stringify(Array.from(e.embedding)),
          new Date(e.time),
          e.label,
          e.label ? new Date() : null,
          e.label ? null : new Date(),
        ],
      );
    }

    const started = performance.now();
    const queued = await api<RetrainingRun>('POST', apiPaths.retrainingJobs(), { base: 'face-id@production' });
    let run = queued;
    while (['queued', 'running'].includes(run.status)) {
      await new Promise((r) => setTimeout(r, 100));
      run = await api<RetrainingRun>('GET', apiPaths.retrainingJob(queued.id));
    }
    const totalMs = Math.round(performance.now() - started);

    out(
      `retraining: ${identities} identities × ${perIdentity} examples + ${identities} strangers (${run.dataset?.examples ?? '?'} examples), trainer ${method}`,
    );
    out(`status ${run.status}${run.candidate ? `, candidate ${run.candidate.name}@${run.candidate.version}` : ''}${run.error ? `, error ${run.error}` : ''}`);
    out('step            ms');
    for (const step of RETRAINING_STEPS) out(`${step.padEnd(14)} ${String(run.steps[step].durationMs ?? '-').padStart(6)}`);
    out(`${'trigger → end'.padEnd(14)} ${String(totalMs).padStart(6)}`);
    if (run.report)
      out(
        `gate ${run.report.verdict}: ${run.report.primary.metric} ${run.report.primary.candidate.toFixed(4)} vs production ${run.report.primary.production?.toFixed(4)}`,
      );
    const resultsDir = path.join(repoRoot(), 'bench', 'results');
    mkdirSync(resultsDir, { recursive: true });
    writeFileSync(
      path.join(resultsDir, 'retrain.json'),
      `${JSON.stringify(
        {
          bench: 'retrain',
          at: new Date().toISOString(),
          machine: { cpus: os.cpus().length, loadavg: os.loadavg() },
          settings: { identities, perIdentity, strangers: identities, method },
          status: run.status,
          triggerToEndMs: totalMs,
          steps: Object.fromEntries(RETRAINING_STEPS.map((s) => [s, run.steps[s].durationMs])),
          dataset: run.dataset,
          primary: run.report?.primary ?? null,
        },
        null,
        2,
      )}\n`,
    );
  } finally {
    await stop();
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}${(err as { cause?: unknown }).cause ? `\ncause: ${String((err as { cause?: unknown }).cause)}` : ''}\n`);
  process.exit(1);
});
