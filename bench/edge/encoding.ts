/**
 * Prediction-batch encoding on the edge (not a test): the bytes a batch takes on the wire (the MQTT payload)
 * and the CPU the edge spends to make it, JSON against the `columns` encoding, for batches of 10, 25 (the
 * default EDGE_BATCH_MAX_ITEMS) and 100 frames with one face each and the window's embedding centroid, as the
 * worker sends them (`wireBatch`: the edge's rounding). Timed: the encoder the worker calls
 * (`encodePredictionPayload`) alone, and with the schema check the worker makes first (what one batch costs
 * the results sink). Each run warms up, then times `BENCH_ENCODING_ITERATIONS` batches (process CPU time, user +
 * system, one thread); `BENCH_ENCODING_RUNS` runs give the ranges.
 *
 * Prints a table and writes bench/results/edge-encoding.json.
 *
 *   npm run build:bench && node dist/bench/edge/encoding.js
 *   BENCH_ENCODING_RUNS=3 BENCH_ENCODING_ITERATIONS=2000 (defaults shown)
 */
import { decodePredictionBatch, PAYLOAD_LIMITS, PredictionBatchSchema, type PredictionBatch, type PredictionBatchEncoding } from '@edgeloop/contracts';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encodePredictionPayload } from '../../apps/edge/src/results/prediction-payload';
import { STABLE } from '../../apps/cloud/src/testing/prediction-batches';
import { repoRoot } from '../common/repo-root';
import { wireBatch } from '../ingest/wire-batches';

const FRAMES = [10, 25, 100];
const ENCODINGS: PredictionBatchEncoding[] = ['json', 'columns'];
const runs = Number(process.env.BENCH_ENCODING_RUNS ?? 3);
const iterations = Number(process.env.BENCH_ENCODING_ITERATIONS ?? 2000);

interface Row {
  frames: number;
  encoding: PredictionBatchEncoding;
  bytes: number;
  /** µs of CPU per batch, one value per run: the encoder alone. */
  encodeUs: number[];
  /** µs of CPU per batch, one value per run: schema check + encoder (the results sink's work). */
  checkAndEncodeUs: number[];
}

function batchOf(frames: number): PredictionBatch {
  return { ...wireBatch('cam-bench', 41, { name: 'face-id', version: 3 }, STABLE, { frames, centroid: true }), epoch: 'BenchEpoch000001' };
}

/** CPU µs per call of `work` over `iterations` calls, after a warm-up. */
function cpuPerCall(work: () => unknown): number {
  for (let i = 0; i < Math.min(500, iterations); i++) work();
  const before = process.cpuUsage();
  for (let i = 0; i < iterations; i++) work();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / iterations;
}

function main(): void {
  const loadBefore = os.loadavg();
  const rows: Row[] = [];
  for (const frames of FRAMES) {
    const batch = batchOf(frames);
    for (const encoding of ENCODINGS) {
      const payload = encodePredictionPayload(batch, encoding);
      const decoded = decodePredictionBatch(payload, PAYLOAD_LIMITS.predictions);
      if (!decoded.ok) throw new Error(`${encoding} ${frames}: the cloud refuses it: ${decoded.error.message}`);
      rows.push({ frames, encoding, bytes: Buffer.byteLength(payload), encodeUs: [], checkAndEncodeUs: [] });
    }
  }
  for (let run = 0; run < runs; run++) {
    for (const row of rows) {
      const batch = batchOf(row.frames);
      row.encodeUs.push(cpuPerCall(() => encodePredictionPayload(batch, row.encoding)));
      row.checkAndEncodeUs.push(
        cpuPerCall(() => {
          if (!PredictionBatchSchema.safeParse(batch).success) throw new Error('invalid batch');
          return encodePredictionPayload(batch, row.encoding);
        }),
      );
    }
  }
  const loadAfter = os.loadavg();
  const range = (values: number[]) => `${Math.min(...values).toFixed(0)}–${Math.max(...values).toFixed(0)}`;
  process.stdout.write(`runs ${runs} × ${iterations} batches; load ${loadBefore[0]!.toFixed(1)} → ${loadAfter[0]!.toFixed(1)} (${os.cpus().length} cores)\n`);
  process.stdout.write('frames | encoding | bytes | ratio | encode µs CPU | check + encode µs CPU\n');
  for (const row of rows) {
    const json = rows.find((r) => r.frames === row.frames && r.encoding === 'json')!;
    process.stdout.write(
      `${row.frames} | ${row.encoding} | ${row.bytes} | ${(row.bytes / json.bytes).toFixed(3)} | ${range(row.encodeUs)} | ${range(row.checkAndEncodeUs)}\n`,
    );
  }
  const out = path.join(repoRoot(), 'bench', 'results', 'edge-encoding.json');
  mkdirSync(path.dirname(out), { recursive: true });
  const document = {
    at: new Date().toISOString(),
    node: process.version,
    cores: os.cpus().length,
    load: { before: loadBefore, after: loadAfter },
    runs,
    iterations,
    rows,
  };
  writeFileSync(out, `${JSON.stringify(document, null, 2)}\n`);
  process.stdout.write(`wrote ${path.relative(process.cwd(), out)}\n`);
}

main();
