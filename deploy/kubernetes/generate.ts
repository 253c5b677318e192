/**
 * Writes the Kubernetes manifests of deploy/kubernetes from the typed objects in ./src (kubernetes-types:
 * `tsc` rejects a field Kubernetes does not know). Run with Node 24 from the repository root:
 *
 *   node deploy/kubernetes/generate.ts           # write the YAML
 *   node deploy/kubernetes/generate.ts --check   # exit 1 naming every file that differs
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { renderAll } from './src/render.ts';

const here = dirname(resolve(process.argv[1]));
const files = renderAll(readFileSync(join(here, '..', 'mosquitto', 'mosquitto.conf'), 'utf8'));
const check = process.argv.includes('--check');
const stale: string[] = [];
for (const [path, text] of files) {
  const file = join(here, path);
  let current: string | undefined;
  try {
    current = readFileSync(file, 'utf8');
  } catch {
    current = undefined;
  }
  if (current === text) continue;
  if (check) stale.push(path);
  else {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
    process.stdout.write(`wrote deploy/kubernetes/${path}\n`);
  }
}
if (stale.length > 0) {
  process.stderr.write(`out of date (run node deploy/kubernetes/generate.ts): ${stale.join(', ')}\n`);
  process.exit(1);
}
