import { transformFileSync } from '@swc/core';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MIN_NODE_VERSION, unsupportedNode } from './node-engine';

describe('the Node.js the edge worker needs', () => {
  it('is what package.json declares', () => {
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', '..', 'package.json'), 'utf8')) as { engines: { node: string } };
    expect(pkg.engines.node).toBe(`>=${MIN_NODE_VERSION}`);
  });

  it('refuses Node 20 and 22 before node:sqlite lost its flag, with the version it needs', () => {
    expect(unsupportedNode('20.20.2')).toMatch(/^Node\.js 20\.20\.2 is too old: the edge worker needs Node\.js >= 22\.13\.0/);
    expect(unsupportedNode('v22.12.0')).toBeDefined();
    expect(unsupportedNode('22.5.1')).toBeDefined();
  });

  it('accepts 22.13 and later', () => {
    for (const version of ['22.13.0', '22.20.1', '23.0.0', '24.21.0', '26.1.0']) expect(unsupportedNode(version)).toBeUndefined();
  });

  // the system's Node 20 (Debian's), when there is one: the worker must stop with one line, not a stack trace
  const oldNode = ['/usr/bin/node', '/usr/local/bin/node'].find(
    (path) => existsSync(path) && unsupportedNode(spawnSync(path, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim()) !== undefined,
  );
  if (!oldNode) process.stdout.write('node-engine.spec: no Node.js older than 22.13 on this machine; the old-runtime check is skipped\n');
  (oldNode ? it : it.skip)('stops a worker started on an old Node.js with one line, before node:sqlite is loaded', () => {
    const dir = mkdtempSync(join(tmpdir(), 'edge-engine-'));
    try {
      for (const file of ['node-engine', 'assert-node']) {
        const { code } = transformFileSync(join(__dirname, `${file}.ts`), { module: { type: 'commonjs' }, jsc: { parser: { syntax: 'typescript' }, target: 'es2022' } });
        writeFileSync(join(dir, `${file}.js`), code);
      }
      // main.ts's order: the check first, then the modules that need node:sqlite
      writeFileSync(join(dir, 'main.js'), "require('./assert-node');\nrequire('node:sqlite');\n");
      const run = spawnSync(oldNode!, [join(dir, 'main.js')], { encoding: 'utf8' });
      expect(run.status).toBe(1);
      expect(run.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^edgeloop edge: Node\.js \d+\.\d+\.\d+ is too old: the edge worker needs Node\.js >= 22\.13\.0/)]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
