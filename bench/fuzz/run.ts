/**
 * Long-form fuzzing (not a test, not in `npm test`): the properties of libs/contracts/src/fuzz.spec.ts (every
 * MQTT payload decoder, topics, jobs) and apps/cloud/src/security/fuzz.int.ts (garbage on device topics, random
 * REST bodies and queries, hostile multipart uploads against a running cloud) with many more runs, each
 * property stopped after a time bound, and a slow-loris held long enough to meet Node's request timeout; and
 * apps/edge/src/store/kill-activation.int.ts with N activations killed at random points (200 by default).
 *
 *   node bench/fuzz/run.ts [--runs 5000] [--cloud-runs 300] [--seconds 120] [--seed 1] [--slow-loris-ms 30000]
 *                          [--kill-activations 200] [--only contracts,cloud,kill]
 *
 * Run it from the repository root with Node 24 (`node_modules/.bin/node`, which strips the types). Exit code 0
 * when every property held; jest prints the counterexample (and its seed) of any that did not.
 */
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5000' },
    'cloud-runs': { type: 'string', default: '300' },
    seconds: { type: 'string', default: '120' },
    seed: { type: 'string', default: String(Date.now() % 2 ** 31) },
    'slow-loris-ms': { type: 'string', default: '30000' },
    'kill-activations': { type: 'string', default: '200' },
    only: { type: 'string', default: 'contracts,cloud,kill' },
  },
});

const jest = (files: string[], runs: string): number => {
  const env = {
    ...process.env,
    EDGELOOP_FUZZ_RUNS: runs,
    EDGELOOP_FUZZ_SECONDS: values.seconds,
    EDGELOOP_FUZZ_SEED: values.seed,
    EDGELOOP_FUZZ_SLOW_LORIS_MS: values['slow-loris-ms'],
    EDGELOOP_KILL_ACTIVATIONS: values['kill-activations'],
    EDGELOOP_KILL_SEED: values.seed,
  };
  const started = Date.now();
  const run = spawnSync(process.execPath, ['--experimental-vm-modules', 'node_modules/jest/bin/jest.js', '--runInBand', ...files], { stdio: 'inherit', env });
  process.stdout.write(
    `fuzz: ${files.join(' ')}: runs ${runs}, ≤ ${values.seconds} s per property, seed ${values.seed}: exit ${run.status} in ${Math.round((Date.now() - started) / 1000)} s\n`,
  );
  return run.status ?? 1;
};

const parts = new Set(values.only.split(','));
const exits = [
  parts.has('contracts') ? jest(['libs/contracts/src/fuzz.spec.ts'], values.runs) : 0,
  parts.has('cloud') ? jest(['apps/cloud/src/security/fuzz.int.ts'], values['cloud-runs']) : 0,
  parts.has('kill') ? jest(['apps/edge/src/store/kill-activation.int.ts'], values['kill-activations']) : 0,
];
process.exit(exits.every((code) => code === 0) ? 0 : 1);
