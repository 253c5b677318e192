#!/usr/bin/env node
// Long form of the fault suite: runs e2e/faults.e2e.ts again and again, each run with every cell of the
// matrix in a seeded random order and a seeded random moment for each fault, S3 down for a minute, until
// --minutes have passed (a run that has started is finished). Prints one row per cell with N.
//
//   npm run faults -- --minutes 30 --seed 7 [--s3-down-ms 60000] [--cells broker-restart,redis-restart]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ALL = ['broker-restart', 'redis-restart', 'cloud-sigkill', 's3-down', 'postgres-restart'];
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : fallback;
};
const minutes = Number(option('minutes', '30'));
const seed = Number(option('seed', String(Date.now() % 100000)));
const s3DownMs = option('s3-down-ms', '60000');
const cells = option('cells', ALL.join(',')).split(',');
if (!(minutes > 0) || !Number.isInteger(seed)) {
  process.stderr.write('usage: npm run faults -- --minutes M --seed S [--s3-down-ms 60000] [--cells a,b]\n');
  process.exit(2);
}

function mulberry32(a) {
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = mulberry32(seed);
const root = resolve(import.meta.dirname, '..');
const reportFile = join(mkdtempSync(join(tmpdir(), 'edgeloop-faults-')), 'runs.jsonl');
const deadline = Date.now() + minutes * 60_000;
process.stdout.write(`faults: seed ${seed}, ${minutes} min, cells ${cells.join(', ')}, S3 down ${s3DownMs} ms; runs in ${reportFile}\n`);

let run = 0;
let failed = 0;
while (Date.now() < deadline) {
  run++;
  const order = [...cells].sort(() => random() - 0.5);
  const runSeed = Math.floor(random() * 1e9);
  process.stdout.write(`faults: run ${run}: ${order.join(' → ')} (seed ${runSeed})\n`);
  const result = spawnSync(
    process.execPath,
    ['--experimental-vm-modules', join(root, 'node_modules', 'jest', 'bin', 'jest.js'), '--runInBand', '--forceExit', 'e2e/faults.e2e.ts'],
    {
      cwd: root,
      stdio: 'inherit',
      env: { ...process.env, FAULTS_CELLS: order.join(','), FAULTS_SEED: String(runSeed), FAULTS_S3_DOWN_MS: s3DownMs, FAULTS_REPORT: reportFile },
      timeout: Math.max(20 * 60_000, deadline - Date.now() + 20 * 60_000),
    },
  );
  if (result.status !== 0) failed++;
}

const runs = existsSync(reportFile)
  ? readFileSync(reportFile, 'utf8')
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
  : [];
const table = new Map(cells.map((c) => [c, { n: 0, completed: 0, rolledBack: 0, uploaded: 0, uploadRefused: 0, outcomes: {} }]));
let sent = 0;
let lost = 0;
let twice = 0;
let duplicates = 0;
for (const r of runs) {
  sent += r.sent;
  lost += r.lost;
  twice += r.twice;
  duplicates += r.duplicates;
  for (const c of r.cells) {
    const row = table.get(c.cell);
    if (!row) continue;
    row.n++;
    if (c.deployment === 'completed') row.completed++;
    else row.rolledBack++;
    if (c.upload === '201') row.uploaded++;
    else row.uploadRefused++;
    row.outcomes[c.upload] = (row.outcomes[c.upload] ?? 0) + 1;
  }
}
process.stdout.write(
  `\n| fault | N | rollout completed / rolled back | upload registered / refused (then whole on retry) | upload answers |\n| --- | --- | --- | --- | --- |\n`,
);
for (const [cell, row] of table)
  process.stdout.write(
    `| ${cell} | ${row.n} | ${row.completed} / ${row.rolledBack} | ${row.uploaded} / ${row.uploadRefused} | ${Object.entries(row.outcomes)
      .map(([k, v]) => `${k} × ${v}`)
      .join(', ')} |\n`,
  );
process.stdout.write(
  `\nruns ${run} (${failed} failed, ${runs.length} reported); batches sent ${sent}, lost ${lost}, counted twice ${twice}; webhook events received twice ${duplicates}\n`,
);
process.exit(failed > 0 ? 1 : 0);
