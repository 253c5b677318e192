import type { DomainEvent, ModelVersionRef } from '@edgeloop/contracts';
import { EmbedderChangeListener } from './embedder-change.listener';
import type { FaceModelFiles } from './face-model-files';
import type { TrainingDataService } from './training-data.service';

const sha = (c: string) => c.repeat(64);
const EMBEDDER_1 = sha('a');
const EMBEDDER_2 = sha('b');

function created(version: number, parent: number | null, embedder: string | null, roles = ['detector', 'landmarks']): DomainEvent<'model.version.created'> {
  const files = [
    ...roles.map((role, i) => ({ role, sha256: sha(String(i + 1)), size: 10 })),
    ...(embedder ? [{ role: 'embedder', sha256: embedder, size: 10 }] : []),
  ];
  return {
    id: `ev-${version}`,
    type: 'model.version.created',
    at: new Date(0).toISOString(),
    data: { model: { name: 'face-id', version }, parent, files: files as DomainEvent<'model.version.created'>['data']['files'], createdBy: 'test' },
  };
}

describe('EmbedderChangeListener', () => {
  // versions 1 (embedder 1), 2 (a retrained head: embedder 1), 3 (embedder 2)
  const embedders = new Map<number, string>([
    [1, EMBEDDER_1],
    [2, EMBEDDER_1],
    [3, EMBEDDER_2],
  ]);
  let reembed: jest.Mock;
  let listener: EmbedderChangeListener;

  beforeEach(() => {
    reembed = jest.fn(async () => ({ enrolment: 0, hardExamples: 0, negatives: 0, reembedded: 0, skippedPrivate: 0, unreadable: 0 }));
    const files = { embedderOf: jest.fn(async (ref: ModelVersionRef) => embedders.get(ref.version)) };
    listener = new EmbedderChangeListener({ reembed } as unknown as TrainingDataService, files as unknown as FaceModelFiles);
  });

  it('returns at once, reading no example, when the new version keeps its parent’s embedder', async () => {
    listener.onVersionCreated(created(2, 1, EMBEDDER_1));
    await listener.idle();
    expect(reembed).not.toHaveBeenCalled();
  });

  it('re-embeds the gallery when the embedder changed, or the version has no parent (or an unknown one)', async () => {
    listener.onVersionCreated(created(3, 2, EMBEDDER_2));
    listener.onVersionCreated(created(1, null, EMBEDDER_1));
    listener.onVersionCreated(created(9, 7, EMBEDDER_1));
    await listener.idle();
    expect(reembed.mock.calls.map(([ref]) => ref)).toEqual([
      { name: 'face-id', version: 3 },
      { name: 'face-id', version: 1 },
      { name: 'face-id', version: 9 },
    ]);
  });

  it('ignores a version that cannot embed faces (no embedder, detector or landmarks)', async () => {
    listener.onVersionCreated(created(4, null, null));
    listener.onVersionCreated(created(5, null, EMBEDDER_2, ['detector']));
    await listener.idle();
    expect(reembed).not.toHaveBeenCalled();
  });
});
