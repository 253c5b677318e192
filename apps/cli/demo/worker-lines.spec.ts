import { PassThrough } from 'node:stream';
import { namedInFrame, WorkerLines } from './worker-lines';

const frameLine = (faces: string) =>
  `2026-12-05T08:28:00.436Z INFO  [edge-2 InferenceLoop] frame 2287 http-push:127.0.0.1:37375 from 127.0.0.1: ${faces} — 65 ms (detect 4, align 11, embed 44)\n`;

describe('WorkerLines', () => {
  it('finds the first frame line that names a person, across chunk boundaries, with its score', async () => {
    const stream = new PassThrough();
    const lines = new WorkerLines(stream);
    const named = lines.next(namedInFrame('nicolas-cage'), 5000);
    stream.write(frameLine('unknown (closest nicolas-cage) score 0.21 margin 0.02'));
    stream.write(frameLine('franck score 0.93 margin 0.82'));
    const line = frameLine('franck score 0.81 margin 0.67; nicolas-cage score 0.96 margin 0.98');
    stream.write(line.slice(0, 60));
    stream.write(line.slice(60));
    const match = await named;
    expect(match?.[1]).toBe('0.96');
    lines.close();
  });

  it('matches a face at the start of the list, and a name only as a whole name', () => {
    const pattern = namedInFrame('franck');
    expect(pattern.exec(frameLine('franck score 0.89 margin 0.81'))?.[1]).toBe('0.89');
    expect(pattern.exec(frameLine('unknown (closest franck) score 0.01 margin 0.01'))).toBeNull();
    expect(pattern.exec(frameLine('no face'))).toBeNull();
    expect(namedInFrame('sean.connery').exec(frameLine('seanXconnery score 0.5 margin 0.1'))).toBeNull();
  });

  it('gives up after the timeout, and closing leaves the stream flowing for its other readers', async () => {
    const stream = new PassThrough();
    let seen = '';
    stream.on('data', (c: Buffer) => (seen += c.toString()));
    const lines = new WorkerLines(stream);
    expect(await lines.next(namedInFrame('nobody'), 50)).toBeUndefined();
    lines.close();
    expect(stream.listenerCount('data')).toBe(1);
    stream.write(frameLine('franck score 0.9 margin 0.8'));
    await new Promise((r) => setImmediate(r));
    expect(seen).toMatch(/franck score 0\.9/);
  });
});
