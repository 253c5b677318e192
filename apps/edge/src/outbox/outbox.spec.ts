import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { FILE_SLACK_BYTES, Outbox } from './outbox';

describe('Outbox (SQLite, WAL)', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'outbox-spec-'));
    file = join(dir, 'outbox.sqlite');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** A batch as the worker stores one: stamped with the outbox's epoch. */
  const batch = (seq: number, epoch: string) => JSON.stringify({ seq, epoch, items: [] });

  it('numbers batches from 1, keeps them across a reopen, and never gives a number twice', () => {
    let outbox = Outbox.open(file, { maxRows: 100, maxBytes: 1e6 });
    expect(outbox.appendBatch(batch).seq).toBe(1);
    expect(outbox.appendBatch(batch).seq).toBe(2);
    const [first] = outbox.nextToSend(1);
    outbox.markInFlight(first!.id);
    outbox.acknowledge(first!.id);
    outbox.close();

    outbox = Outbox.open(file, { maxRows: 100, maxBytes: 1e6 });
    expect(outbox.stats()).toMatchObject({ rows: 1, predictionRows: 1, lastSeq: 2 });
    expect(outbox.nextToSend(10).map((r) => r.seq)).toEqual([2]);
    expect(outbox.appendBatch(batch).seq).toBe(3);
    outbox.close();
  });

  it('hands out rows oldest first and skips those in flight until they are given back', () => {
    const outbox = Outbox.open(file, { maxRows: 100, maxBytes: 1e6 });
    for (let i = 0; i < 4; i++) outbox.appendBatch(batch);
    outbox.appendHardExample('{"id":"h"}');
    const firstTwo = outbox.nextToSend(2);
    expect(firstTwo.map((r) => r.seq)).toEqual([1, 2]);
    firstTwo.forEach((r) => outbox.markInFlight(r.id));
    expect(outbox.nextToSend(10).map((r) => r.seq ?? r.kind)).toEqual([3, 4, 'hard-example']);
    outbox.giveBack(firstTwo[1]!.id);
    expect(outbox.nextToSend(1).map((r) => r.seq)).toEqual([2]);
    outbox.close();
  });

  it('drops the oldest rows beyond the bound, not those in flight, and persists the count', () => {
    let outbox = Outbox.open(file, { maxRows: 3, maxBytes: 1e6 });
    outbox.appendBatch(batch);
    outbox.markInFlight(outbox.nextToSend(1)[0]!.id); // seq 1 is with the broker
    let dropped = 0;
    for (let i = 0; i < 5; i++) dropped += outbox.appendBatch(batch).dropped;
    expect(dropped).toBe(3);
    expect(outbox.stats()).toMatchObject({ rows: 3, droppedPredictions: 3, lastSeq: 6 });
    expect(outbox.nextToSend(10).map((r) => r.seq)).toEqual([5, 6]);
    outbox.close();
    outbox = Outbox.open(file, { maxRows: 3, maxBytes: 1e6 });
    expect(outbox.stats()).toMatchObject({ rows: 3, droppedPredictions: 3 });
    outbox.close();
  });

  it('applies the byte bound too, counting hard examples apart from batches', () => {
    const outbox = Outbox.open(file, { maxRows: 100, maxBytes: 100 });
    outbox.appendHardExample('x'.repeat(60));
    const { dropped } = outbox.appendBatch(() => 'y'.repeat(60));
    expect(dropped).toBe(1);
    expect(outbox.stats()).toMatchObject({ rows: 1, bytes: 60, droppedHardExamples: 1, droppedPredictions: 0 });
    outbox.close();
  });

  it('holds the file on disk to the byte bound, not only the payload: rows take whole pages', () => {
    // 3,000-byte payloads take a 4 KiB page each: by payload alone 344 rows fit in 1 MiB
    const maxBytes = 1024 * 1024;
    const outbox = Outbox.open(file, { maxRows: 10_000, maxBytes });
    let dropped = 0;
    for (let i = 0; i < 500; i++) dropped += outbox.appendBatch((seq, epoch) => JSON.stringify({ seq, epoch, pad: 'p'.repeat(3000) })).dropped;
    const stats = outbox.stats();
    outbox.close();
    // without the file bound the same inserts left a 1,458,176-byte file (344 rows, checked with the same schema); now the bound, its slack and the newest row's page
    expect(statSync(file).size).toBeLessThanOrEqual(maxBytes + FILE_SLACK_BYTES + 4096);
    // the oldest went, counted, and the newest are all there
    expect(stats.droppedPredictions).toBe(dropped);
    expect(stats.rows + dropped).toBe(500);
    expect(stats.rows).toBeGreaterThan(200);
    const reopened = Outbox.open(file, { maxRows: 10_000, maxBytes });
    expect(reopened.nextToSend(1000).map((r) => r.seq)).toEqual(Array.from({ length: stats.rows }, (_, i) => 500 - stats.rows + i + 1));
    reopened.close();
  });

  it('does not use up a number when the batch cannot be built', () => {
    const outbox = Outbox.open(file, { maxRows: 100, maxBytes: 1e6 });
    expect(() =>
      outbox.appendBatch(() => {
        throw new Error('invalid');
      }),
    ).toThrow('invalid');
    expect(outbox.appendBatch(batch).seq).toBe(1);
    expect(outbox.stats().rows).toBe(1);
    outbox.close();
  });

  it('stamps every batch with one epoch, kept across reopens, new when the file is gone', () => {
    let outbox = Outbox.open(file, { maxRows: 100, maxBytes: 1e6 });
    const stamps: Array<[number, string]> = [];
    const stamped = (seq: number, epoch: string) => {
      stamps.push([seq, epoch]);
      return JSON.stringify({ seq, epoch });
    };
    outbox.appendBatch(stamped);
    const epoch = outbox.stats().epoch;
    expect(epoch).toMatch(/^[A-Za-z0-9_-]{16}$/);
    outbox.close();
    outbox = Outbox.open(file, { maxRows: 100, maxBytes: 1e6 });
    outbox.appendBatch(stamped);
    expect(outbox.stats().epoch).toBe(epoch);
    expect(outbox.nextToSend(10).map((r) => JSON.parse(r.payload as string) as unknown)).toEqual([
      { seq: 1, epoch },
      { seq: 2, epoch },
    ]);
    outbox.close();

    rmSync(dir, { recursive: true, force: true });
    dir = mkdtempSync(join(tmpdir(), 'outbox-spec-'));
    outbox = Outbox.open(join(dir, 'outbox.sqlite'), { maxRows: 100, maxBytes: 1e6 });
    outbox.appendBatch(stamped);
    expect(stamps.at(-1)![0]).toBe(1);
    expect(stamps.at(-1)![1]).not.toBe(epoch);
    expect(outbox.stats().epoch).toBe(stamps.at(-1)![1]);
    outbox.close();
  });

  it("keeps a row the broker acknowledged until the cloud's ack names it: batches by epoch and seq, hard examples by id", () => {
    const outbox = Outbox.open(file, { maxRows: 100, maxBytes: 1e6 });
    const { epoch } = outbox.stats();
    outbox.appendBatch(batch);
    outbox.appendHardExample(JSON.stringify({ id: 'hx-1' }));
    outbox.appendBatch(batch);
    const rows = outbox.nextToSend(10);
    expect(rows.map((r) => r.seq ?? r.kind)).toEqual([1, 'hard-example', 2]);
    for (const row of rows) {
      outbox.markInFlight(row.id, 1000);
      expect(outbox.markPublished(row.id, 2000)).toBe(true);
    }
    expect(outbox.awaitingAckCount).toBe(3);
    expect(outbox.nextToSend(10)).toEqual([]);
    expect(outbox.stats().rows).toBe(3);

    // another epoch's batch 1 and a batch with no epoch are not this outbox's
    expect(outbox.acknowledgeItem({ kind: 'predictions', epoch: 'AnotherEpoch0000', seq: 1 })).toBeUndefined();
    expect(outbox.acknowledgeItem({ kind: 'predictions', seq: 1 })).toBeUndefined();
    expect(outbox.acknowledgeItem({ kind: 'hard-examples', id: 'hx-2' })).toBeUndefined();
    expect(outbox.stats().rows).toBe(3);

    expect(outbox.acknowledgeItem({ kind: 'predictions', epoch, seq: 2 })).toEqual({
      row: { id: rows[2]!.id, kind: 'predictions', seq: 2 },
      publishedAt: 2000,
    });
    expect(outbox.acknowledgeItem({ kind: 'hard-examples', id: 'hx-1' })).toEqual({
      row: { id: rows[1]!.id, kind: 'hard-example', seq: null },
      publishedAt: 2000,
    });
    // acked twice: the second finds nothing
    expect(outbox.acknowledgeItem({ kind: 'predictions', epoch, seq: 2 })).toBeUndefined();
    expect(outbox.stats()).toMatchObject({ rows: 1, predictionRows: 1 });
    expect(outbox.inFlightCount).toBe(1);
    expect(outbox.markPublished(rows[2]!.id)).toBe(false);
    outbox.close();
  });

  it('gives back rows awaiting an ack since before a moment (or all), and hands them out again in order', () => {
    const outbox = Outbox.open(file, { maxRows: 100, maxBytes: 1e6 });
    for (let i = 0; i < 4; i++) outbox.appendBatch(batch);
    const rows = outbox.nextToSend(4);
    rows.forEach((row, i) => outbox.markInFlight(row.id, 100 * i));
    outbox.markPublished(rows[0]!.id, 1000);
    outbox.markPublished(rows[1]!.id, 2000);
    outbox.markPublished(rows[2]!.id, 3000);
    // seq 4 still awaits its PUBACK: never given back by the ack clock
    expect(outbox.giveBackAwaiting(2500)).toBe(2);
    expect(outbox.nextToSend(10).map((r) => r.seq)).toEqual([1, 2]);
    expect(outbox.inFlightStage(rows[2]!.id)).toEqual({ stage: 'awaiting-ack', since: 3000 });
    expect(outbox.giveBackAwaiting()).toBe(1);
    expect(outbox.nextToSend(10).map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(outbox.inFlightStage(rows[3]!.id)?.stage).toBe('publishing');
    outbox.close();
  });

  it('sends rows that were awaiting an ack again after a restart', () => {
    let outbox = Outbox.open(file, { maxRows: 100, maxBytes: 1e6 });
    outbox.appendBatch(batch);
    outbox.appendBatch(batch);
    for (const row of outbox.nextToSend(2)) {
      outbox.markInFlight(row.id);
      outbox.markPublished(row.id);
    }
    expect(outbox.nextToSend(10)).toEqual([]);
    outbox.close();
    outbox = Outbox.open(file, { maxRows: 100, maxBytes: 1e6 });
    expect(outbox.nextToSend(10).map((r) => r.seq)).toEqual([1, 2]);
    outbox.close();
  });

  it('opens an outbox file written before acks (no ref column) and acks its hard examples, those stored before too', () => {
    const old = new DatabaseSync(file);
    old.exec(`CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL CHECK (kind IN ('predictions', 'hard-example')),
      seq INTEGER UNIQUE, payload TEXT NOT NULL, bytes INTEGER NOT NULL, created_at INTEGER NOT NULL);
      INSERT INTO outbox (kind, seq, payload, bytes, created_at) VALUES ('hard-example', NULL, '{"id":"old"}', 12, 0);`);
    old.close();
    const outbox = Outbox.open(file, { maxRows: 100, maxBytes: 1e6 });
    outbox.appendHardExample(JSON.stringify({ id: 'new' }));
    expect(outbox.acknowledgeItem({ kind: 'hard-examples', id: 'new' })?.row.kind).toBe('hard-example');
    expect(outbox.acknowledgeItem({ kind: 'hard-examples', id: 'old' })?.row.kind).toBe('hard-example');
    expect(outbox.stats().rows).toBe(0);
    outbox.close();
  });

  it('stores a columns batch as a BLOB and hands back the same bytes, beside JSON text rows', () => {
    const outbox = Outbox.open(file, { maxRows: 100, maxBytes: 1e6 });
    // bytes that are no valid UTF-8 (0xc0, 0xff) and a NUL: a TEXT round trip would change them
    const bytes = Uint8Array.from([0x8c, 0xa1, 0x76, 0x01, 0xc0, 0xff, 0x00, 0x7f]);
    outbox.appendBatch(() => bytes);
    outbox.appendBatch((seq) => JSON.stringify({ seq }));
    const [columns, json] = outbox.nextToSend(10);
    expect(Buffer.isBuffer(columns!.payload)).toBe(true);
    expect([...(columns!.payload as Buffer)]).toEqual([...bytes]);
    expect(json!.payload).toBe('{"seq":2}');
    expect(outbox.stats().bytes).toBe(bytes.byteLength + '{"seq":2}'.length);
    outbox.close();
    const db = new DatabaseSync(file);
    expect(
      db
        .prepare('SELECT typeof(payload) AS t FROM outbox ORDER BY id')
        .all()
        .map((r) => (r as { t: string }).t),
    ).toEqual(['blob', 'text']);
    db.close();
  });

  it('deletes a batch stored before epochs when the cloud acks it without an epoch, and only such a batch', () => {
    const old = new DatabaseSync(file);
    old.exec(`CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL CHECK (kind IN ('predictions', 'hard-example')),
      seq INTEGER UNIQUE, payload TEXT NOT NULL, bytes INTEGER NOT NULL, created_at INTEGER NOT NULL);
      CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
      INSERT INTO counters (name, value) VALUES ('last_seq', 3), ('dropped_predictions', 0), ('dropped_hard_examples', 0);
      INSERT INTO outbox (kind, seq, payload, bytes, created_at) VALUES ('predictions', 3, '{"seq":3,"items":[]}', 20, 0);`);
    old.close();
    const outbox = Outbox.open(file, { maxRows: 100, maxBytes: 1e6 });
    const { epoch } = outbox.stats();
    expect(outbox.appendBatch(() => Uint8Array.from([0x81, 0xa1, 0x76, 0x01])).seq).toBe(4);
    expect(outbox.acknowledgeItem({ kind: 'predictions', seq: 4 })).toBeUndefined(); // stored with an epoch: not this ack
    expect(outbox.acknowledgeItem({ kind: 'predictions', seq: 3 })?.row).toEqual({ id: 1, kind: 'predictions', seq: 3 });
    expect(outbox.acknowledgeItem({ kind: 'predictions', epoch, seq: 4 })?.row.seq).toBe(4);
    expect(outbox.stats().rows).toBe(0);
    outbox.close();
  });
});
