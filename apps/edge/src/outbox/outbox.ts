import { randomBytes } from 'node:crypto';
import { DatabaseSync, type StatementSync } from 'node:sqlite';

export type OutboxKind = 'predictions' | 'hard-example';

export interface OutboxRow {
  id: number;
  kind: OutboxKind;
  /** The prediction batch's sequence number; null for hard examples. */
  seq: number | null;
  payload: string;
}

export interface OutboxLimits {
  /** Most rows kept; beyond it the oldest are dropped. */
  maxRows: number;
  /** Most payload bytes kept; beyond it the oldest are dropped. */
  maxBytes: number;
}

export interface OutboxStats {
  rows: number;
  bytes: number;
  /** Prediction batches waiting (reported as `outboxDepth`). */
  predictionRows: number;
  /** Prediction batches dropped by the drop-oldest policy since the outbox was created (persisted). */
  droppedPredictions: number;
  droppedHardExamples: number;
  /** The last sequence number given to a batch (0 before the first). */
  lastSeq: number;
  /** The epoch this outbox stamps on its batches: random, made once when the outbox file is created. */
  epoch: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL CHECK (kind IN ('predictions', 'hard-example')),
  seq INTEGER UNIQUE,
  payload TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO counters (name, value) VALUES ('last_seq', 0), ('dropped_predictions', 0), ('dropped_hard_examples', 0);
CREATE TABLE IF NOT EXISTS identity (name TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

/** 96 random bits in base64url (16 characters): two outboxes never share one. */
function newEpoch(): string {
  return randomBytes(12).toString('base64url');
}

/**
 * The durable outbox: prediction batches and hard examples wait here (SQLite in WAL mode, synchronous=FULL)
 * until the broker acknowledges them. A batch's `seq` is taken from a persisted counter in the same
 * transaction that stores it, so a number is never given twice, even across crashes. The outbox is bounded
 * by rows and bytes; when full, the oldest rows not currently in flight are dropped and counted (persisted).
 * Rows handed to the transport are marked in flight (in memory) until acknowledged or given back.
 *
 * Every batch also carries the outbox's `epoch`, a random id stored with the counters when the file is
 * first opened. A device whose state folder is wiped starts again at seq 1 under a new epoch, and the
 * cloud, which dedupes on (device, epoch, seq), counts those batches as new instead of as duplicates of
 * the batches numbered 1, 2, … before the wipe. (An outbox file from before epochs gets one at its
 * next open; its seq goes on from where it was.)
 */
export class Outbox {
  private readonly inFlight = new Set<number>();
  private readonly statements: Record<'insert' | 'oldest' | 'remove' | 'counter' | 'bump' | 'setSeq', StatementSync>;
  private rows = 0;
  private bytes = 0;
  private predictionRows = 0;
  private counters = { lastSeq: 0, droppedPredictions: 0, droppedHardExamples: 0 };
  private readonly epoch: string;

  private constructor(
    private readonly db: DatabaseSync,
    private readonly limits: OutboxLimits,
  ) {
    db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;');
    db.exec(SCHEMA);
    db.prepare("INSERT OR IGNORE INTO identity (name, value) VALUES ('epoch', ?)").run(newEpoch());
    this.epoch = String((db.prepare("SELECT value FROM identity WHERE name = 'epoch'").get() as { value: string }).value);
    this.statements = {
      insert: db.prepare('INSERT INTO outbox (kind, seq, payload, bytes, created_at) VALUES (?, ?, ?, ?, ?)'),
      oldest: db.prepare('SELECT id, kind, seq, payload, bytes FROM outbox ORDER BY id LIMIT ?'),
      remove: db.prepare('DELETE FROM outbox WHERE id = ? RETURNING kind, bytes'),
      counter: db.prepare('SELECT value FROM counters WHERE name = ?'),
      bump: db.prepare('UPDATE counters SET value = value + ? WHERE name = ?'),
      setSeq: db.prepare("UPDATE counters SET value = ? WHERE name = 'last_seq'"),
    };
    const totals = db.prepare("SELECT count(*) AS n, coalesce(sum(bytes), 0) AS b, coalesce(sum(kind = 'predictions'), 0) AS p FROM outbox").get() as {
      n: number;
      b: number;
      p: number;
    };
    this.rows = totals.n;
    this.bytes = totals.b;
    this.predictionRows = totals.p;
    this.counters = {
      lastSeq: this.counter('last_seq'),
      droppedPredictions: this.counter('dropped_predictions'),
      droppedHardExamples: this.counter('dropped_hard_examples'),
    };
  }

  static open(file: string, limits: OutboxLimits): Outbox {
    return new Outbox(new DatabaseSync(file), limits);
  }

  /**
   * Gives the batch the next sequence number, stores `build(seq, epoch)` and applies the bound, in one
   * transaction. Returns the seq and how many rows the bound dropped.
   */
  appendBatch(build: (seq: number, epoch: string) => string): { seq: number; dropped: number } {
    return this.transaction(() => {
      const seq = this.counters.lastSeq + 1;
      const payload = build(seq, this.epoch);
      this.statements.setSeq.run(seq);
      this.insert('predictions', seq, payload);
      this.counters.lastSeq = seq;
      return { seq, dropped: this.enforceLimits() };
    });
  }

  appendHardExample(payload: string): { dropped: number } {
    return this.transaction(() => {
      this.insert('hard-example', null, payload);
      return { dropped: this.enforceLimits() };
    });
  }

  /** The oldest rows not in flight, in order, at most `limit`. */
  nextToSend(limit: number): OutboxRow[] {
    if (limit <= 0) return [];
    const rows = this.statements.oldest.all(this.inFlight.size + limit) as unknown as Array<OutboxRow & { bytes: number }>;
    return rows
      .filter((row) => !this.inFlight.has(row.id))
      .slice(0, limit)
      .map(({ id, kind, seq, payload }) => ({ id, kind, seq, payload }));
  }

  markInFlight(id: number): void {
    this.inFlight.add(id);
  }

  /** The transport could not deliver the row: it is sent again later. */
  giveBack(id: number): void {
    this.inFlight.delete(id);
  }

  /** The broker acknowledged the row: it leaves the outbox. */
  acknowledge(id: number): void {
    this.inFlight.delete(id);
    if (!this.db.isOpen) return;
    const removed = this.statements.remove.get(id) as { kind: OutboxKind; bytes: number } | undefined;
    if (removed) this.forget(removed.kind, removed.bytes);
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  stats(): OutboxStats {
    return { rows: this.rows, bytes: this.bytes, predictionRows: this.predictionRows, ...this.counters, epoch: this.epoch };
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }

  private insert(kind: OutboxKind, seq: number | null, payload: string): void {
    const bytes = Buffer.byteLength(payload);
    this.statements.insert.run(kind, seq, payload, bytes, Date.now());
    this.rows++;
    this.bytes += bytes;
    if (kind === 'predictions') this.predictionRows++;
  }

  /** Drop-oldest: deletes the oldest rows that are not in flight until both limits hold. */
  private enforceLimits(): number {
    let dropped = 0;
    while (this.rows > this.limits.maxRows || this.bytes > this.limits.maxBytes) {
      const candidates = this.statements.oldest.all(this.inFlight.size + 64) as unknown as Array<{ id: number; kind: OutboxKind }>;
      const victims = candidates.filter((row) => !this.inFlight.has(row.id));
      if (victims.length === 0) break;
      for (const victim of victims) {
        if (this.rows <= this.limits.maxRows && this.bytes <= this.limits.maxBytes) break;
        const removed = this.statements.remove.get(victim.id) as { kind: OutboxKind; bytes: number } | undefined;
        if (!removed) continue;
        this.forget(removed.kind, removed.bytes);
        const counter = removed.kind === 'predictions' ? 'dropped_predictions' : 'dropped_hard_examples';
        this.statements.bump.run(1, counter);
        if (removed.kind === 'predictions') this.counters.droppedPredictions++;
        else this.counters.droppedHardExamples++;
        dropped++;
      }
    }
    return dropped;
  }

  private forget(kind: OutboxKind, bytes: number): void {
    this.rows--;
    this.bytes -= bytes;
    if (kind === 'predictions') this.predictionRows--;
  }

  private counter(name: string): number {
    return Number((this.statements.counter.get(name) as { value: number } | undefined)?.value ?? 0);
  }

  private transaction<T>(work: () => T): T {
    const before = { rows: this.rows, bytes: this.bytes, predictionRows: this.predictionRows, counters: { ...this.counters } };
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const result = work();
      this.db.exec('COMMIT');
      return result;
    } catch (err) {
      this.db.exec('ROLLBACK');
      Object.assign(this, { rows: before.rows, bytes: before.bytes, predictionRows: before.predictionRows, counters: before.counters });
      throw err;
    }
  }
}
