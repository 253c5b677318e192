import { unsupportedNode } from './node-engine';

// Imported first by main.ts: an unsupported Node.js stops here with one clear line, before any module that
// needs a newer one (node:sqlite) is loaded and fails with a stack trace.
const problem = unsupportedNode();
if (problem) {
  process.stderr.write(`edgeloop edge: ${problem}\n`);
  process.exit(1);
}
