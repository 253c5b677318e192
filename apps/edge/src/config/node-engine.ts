/**
 * The oldest Node.js the edge worker runs on: its outbox uses `node:sqlite`, which Node ships without a flag
 * from 22.13. Equal to `engines.node` in package.json (a spec checks).
 */
export const MIN_NODE_VERSION = '22.13.0';

/** Why this Node.js cannot run the edge worker, or undefined when it can. */
export function unsupportedNode(version: string = process.versions.node): string | undefined {
  const have = version.replace(/^v/, '').split('.').map(Number);
  const need = MIN_NODE_VERSION.split('.').map(Number);
  for (let i = 0; i < need.length; i++) {
    if ((have[i] ?? 0) > need[i]) return undefined;
    if ((have[i] ?? 0) < need[i]) {
      return `Node.js ${version} is too old: the edge worker needs Node.js >= ${MIN_NODE_VERSION} (node:sqlite keeps its outbox). Run it with a newer node (the repository's scripts use the one in node_modules/.bin; the container image ships Node 24).`;
    }
  }
  return undefined;
}
