import type { DesiredState } from '@edgeloop/contracts';
import { DesiredStateQueue, type DesiredJobResult } from './desired-queue';

const desired = (id: string): DesiredState => ({ deploymentId: id, signature: { alg: 'ed25519', keyId: 'k', value: id } }) as unknown as DesiredState;

describe('DesiredStateQueue', () => {
  it('handles one at a time; a newer state replaces the pending one and aborts the one in progress', async () => {
    const seen: string[] = [];
    const aborted: string[] = [];
    let release!: () => void;
    const queue = new DesiredStateQueue(async (d, signal) => {
      seen.push(d.deploymentId);
      if (d.deploymentId === 'a') {
        await new Promise<void>((resolve) => (release = resolve));
        if (signal.aborted) aborted.push('a');
      }
      return 'done';
    }, 1_000);
    queue.push(desired('a'));
    queue.push(desired('b'));
    queue.push(desired('c'));
    release();
    await queue.idle();
    expect(seen).toEqual(['a', 'c']);
    expect(aborted).toEqual(['a']);
  });

  it('ignores the same message delivered again while it is pending or in progress', async () => {
    const seen: string[] = [];
    let release!: () => void;
    const queue = new DesiredStateQueue(async (d) => {
      seen.push(d.deploymentId);
      await new Promise<void>((resolve) => (release = resolve));
      return 'done';
    }, 1_000);
    queue.push(desired('a'));
    queue.push(desired('a'));
    release();
    await queue.idle();
    expect(seen).toEqual(['a']);
  });

  it('retries a transient failure after a delay, unless a newer state arrived', async () => {
    const results: DesiredJobResult[] = ['retry', 'done'];
    const seen: string[] = [];
    const queue = new DesiredStateQueue(async (d) => {
      seen.push(d.deploymentId);
      return results.shift() ?? 'done';
    }, 20);
    queue.push(desired('a'));
    await queue.idle();
    await new Promise((resolve) => setTimeout(resolve, 60));
    await queue.idle();
    expect(seen).toEqual(['a', 'a']);
    await queue.stop();
  });
});
