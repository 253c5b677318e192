/**
 * Times the trainer at the size the retraining job must handle: 1,000 identities × 10 examples ×
 * 512 dimensions (plus 1,000 strangers), both methods and the validation of each, one thread.
 * Prints one JSON line with wall and CPU time.
 * Run after a build: `node dist/libs/training/src/testing/measure-trainer.js` (Jest's sandbox makes
 * Math-heavy code several times slower, so this is a script, not a spec).
 */
import { trainHead } from '../trainer';
import { syntheticFaces } from './synthetic';

function main(): void {
  const identities = Number(process.argv[2] ?? 1000);
  const perIdentity = Number(process.argv[3] ?? 10);
  let started = performance.now();
  // One more example per identity than trained on: the last one of each is its validation probe.
  const examples = syntheticFaces({ identities, perIdentity: perIdentity + 1, strangers: identities, seed: 7, sameCosine: 0.6 });
  const generateMs = performance.now() - started;
  const last = `/${String(perIdentity + 1).padStart(4, '0')}`;
  const train = examples.filter((e) => e.kind !== 'identity' || !e.id.endsWith(last));
  const validation = examples.filter((e) => e.kind === 'identity' && e.id.endsWith(last));
  started = performance.now();
  const cpu = process.cpuUsage();
  const trained = trainHead(train, validation, { seed: 1, method: 'auto' });
  const totalMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  process.stdout.write(
    `${JSON.stringify({
      identities,
      perIdentity,
      train: train.length,
      validation: validation.length,
      generateMs: Math.round(generateMs),
      prototypesMs: Math.round(trained.durationMs.prototypes ?? 0),
      logisticMs: Math.round(trained.durationMs.logistic ?? 0),
      totalMs: Math.round(totalMs),
      // On a shared machine wall time includes waiting for a core; CPU time is the work itself.
      cpuMs: Math.round((used.user + used.system) / 1000),
      method: trained.method,
      compared: trained.compared,
      loss: trained.logistic?.loss,
    })}\n`,
  );
}

main();
