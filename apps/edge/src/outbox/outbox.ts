import type { AckedItem } from '@edgeloop/contracts';
import { randomBytes } from 'node:crypto';
import { DatabaseSync, type StatementSync } from 'node:sqlite';

export type OutboxKind = 'predictions' | 'hard-example';

export interface OutboxRow {
  id: number;
  kind: OutboxKind;
  /** The prediction batch's sequence number; null for hard examples. */
  seq: number | null;
  /** JSON text (hard examples, batches in the `json` encoding, rows written before the `columns` encoding) or the bytes of a `columns` batch. */
  payload: string | Buffer;
}

/** A row the cloud acknowledged and the outbox deleted (its payload is not read back). */
export type AckedRow = Pick<OutboxRow, 'id' | 'kind' | 'seq'>;

/** Where a row handed to the transport is: with mqtt.js awaiting the broker's PUBACK, or PUBACKed and awaiting the cloud's ack. */
export type InFlightStage = 'publishing' | 'awaiting-ack';

interface InFlight {
  stage: InFlightStage;
  /** When it was handed to the transport, then when the broker acknowledged it (ms). */
  since: number;
}

export interface OutboxLimits {
  /** Most rows kept; beyond it the oldest are dropped. */
  maxRows: number;
  /**
   * Most payload bytes kept; beyond it the oldest are dropped. The database file is held to it too: its
   * pages in use stay within maxBytes + FILE_SLACK_BYTES / 2 (a row takes more room than its payload), so
   * the file — which also holds the pages a transaction frees — stays within maxBytes + FILE_SLACK_BYTES plus
   * the newest row, and the WAL within WAL_LIMIT_BYTES between checkpoints.
   */
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

/** Room the file may take beyond maxBytes: its schema (≈ 40 KiB), partly filled pages, the pages a transaction frees. */
export const FILE_SLACK_BYTES = 128 * 1024;
/**
 * SQLite's page cache for the outbox, KiB (its default is 2,000 KiB). Rows are appended at the end and read
 * from the front, a few pages each, so a small cache serves as well; the default one fills within the
 * worker's first minutes (every new row touches new pages) and stays in its RSS.
 */
export const PAGE_CACHE_KIB = 256;
/** The write-ahead log is truncated to this after each checkpoint (it would otherwise keep its largest size). */
export const WAL_LIMIT_BYTES = 4 * 1024 * 1024;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL CHECK (kind IN ('predictions', 'hard-example')),
  seq INTEGER UNIQUE,
  payload TEXT NOT NULL, -- TEXT affinity keeps a BLOB as a BLOB: JSON rows are TEXT, columns batches BLOB
  bytes INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO counters (name, value) VALUES ('last_seq', 0), ('dropped_predictions', 0), ('dropped_hard_examples', 0);
CREATE TABLE IF NOT EXISTS identity (name TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

/** The hard example's own id (what the cloud's ack names), added after the first schema; filled in for rows already there. */
const REF_COLUMN = `
BEGIN IMMEDIATE;
ALTER TABLE outbox ADD COLUMN ref TEXT;
UPDATE outbox SET ref = json_extract(payload, '$.id') WHERE kind = 'hard-example' AND json_valid(payload);
COMMIT;
`;
const REF_INDEX = 'CREATE INDEX IF NOT EXISTS outbox_ref ON outbox (ref) WHERE ref IS NOT NULL;';

/** A hard example's `id` from its JSON payload (null when there is none to read: it is then never acked by id). */
function hardExampleId(payload: string): string | null {
  try {
    const id = (JSON.parse(payload) as { id?: unknown } | null)?.id;
    return typeof id === 'string' ? id : null;
  } catch {
    return null;
  }
}

/** 96 random bits in base64url (16 characters): two outboxes never share one. */
function newEpoch(): string {
  return randomBytes(12).toString('base64url');
}

/**
 * The durable outbox: prediction batches and hard examples wait here (SQLite in WAL mode, synchronous=FULL)
 * until the cloud acknowledges them on the device's `acks` topic — by (epoch, seq) for a batch, by id for a
 * hard example. A batch's `seq` is taken from a persisted counter in the same transaction that stores it, so
 * a number is never given twice, even across crashes. The outbox is bounded by rows and bytes; when full,
 * the oldest rows not currently in flight are dropped and counted (persisted).
 *
 * Rows handed to the transport are in flight (in memory): `publishing` until the broker's PUBACK, then
 * `awaiting-ack` until the cloud's ack deletes them — or until they are given back (the link dropped, the
 * ack is late) and sent again. Nothing of that is persisted: after a restart every row is simply unsent, so
 * rows that were awaiting an ack are sent again.
 *
 * A row's payload is what goes on the wire: JSON text, or the bytes of a batch in the `columns` encoding
 * (stored as a BLOB). The column was declared TEXT before that encoding; SQLite's TEXT affinity stores a BLOB
 * unchanged, so no migration is needed, and rows an older worker wrote (JSON text) are sent as they are.
 *
 * Every batch also carries the outbox's `epoch`, a random id stored with the counters when the file is
 * first opened. A device whose state folder is wiped starts again at seq 1 under a new epoch, and the
 * cloud, which dedupes on (device, epoch, seq), counts those batches as new instead of as duplicates of
 * the batches numbered 1, 2, … before the wipe. (An outbox file from before epochs gets one at its
 * next open; its seq goes on from where it was.)
 */
export class Outbox {
  private readonly inFlight = new Map<number, InFlight>();
  private readonly statements: Record<
    | 'insert'
    | 'oldest'
    | 'remove'
    | 'removeBatch'
    | 'removeBatchBeforeEpochs'
    | 'removeHardExample'
    | 'counter'
    | 'bump'
    | 'setSeq'
    | 'pageCount'
    | 'freePages',
    StatementSync
  >;
  private readonly pageSize: number;
  private rows = 0;
  private bytes = 0;
  private predictionRows = 0;
  private counters = { lastSeq: 0, droppedPredictions: 0, droppedHardExamples: 0 };
  private readonly epoch: string;

  private constructor(
    private readonly db: DatabaseSync,
    private readonly limits: OutboxLimits,
  ) {
    db.exec(
      `PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000; PRAGMA journal_size_limit = ${WAL_LIMIT_BYTES}; PRAGMA cache_size = -${PAGE_CACHE_KIB};`,
    );
    this.pageSize = Number((db.prepare('PRAGMA page_size').get() as { page_size: number }).page_size);
    db.exec(SCHEMA);
    const columns = db.prepare('PRAGMA table_info(outbox)').all() as Array<{ name: string }>;
    if (!columns.some((column) => column.name === 'ref')) db.exec(REF_COLUMN);
    db.exec(REF_INDEX);
    db.prepare("INSERT OR IGNORE INTO identity (name, value) VALUES ('epoch', ?)").run(newEpoch());
    this.epoch = String((db.prepare("SELECT value FROM identity WHERE name = 'epoch'").get() as { value: string }).value);
    this.statements = {
      insert: db.prepare('INSERT INTO outbox (kind, seq, payload, bytes, created_at, ref) VALUES (?, ?, ?, ?, ?, ?)'),
      oldest: db.prepare('SELECT id, kind, seq, payload, bytes FROM outbox ORDER BY id LIMIT ?'),
      remove: db.prepare('DELETE FROM outbox WHERE id = ? RETURNING kind, bytes'),
      removeBatch: db.prepare("DELETE FROM outbox WHERE kind = 'predictions' AND seq = ? RETURNING id, kind, seq, bytes"),
      removeBatchBeforeEpochs: db.prepare(
        "DELETE FROM outbox WHERE kind = 'predictions' AND seq = ? AND typeof(payload) = 'text' AND json_valid(payload) AND json_type(payload, '$.epoch') IS NULL RETURNING id, kind, seq, bytes",
      ),
      removeHardExample: db.prepare("DELETE FROM outbox WHERE kind = 'hard-example' AND ref = ? RETURNING id, kind, seq, bytes"),
      counter: db.prepare('SELECT value FROM counters WHERE name = ?'),
      bump: db.prepare('UPDATE counters SET value = value + ? WHERE name = ?'),
      setSeq: db.prepare("UPDATE counters SET value = ? WHERE name = 'last_seq'"),
      pageCount: db.prepare('PRAGMA page_count'),
      freePages: db.prepare('PRAGMA freelist_count'),
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
  appendBatch(build: (seq: number, epoch: string) => string | Uint8Array): { seq: number; dropped: number } {
    return this.transaction(() => {
      const seq = this.counters.lastSeq + 1;
      const payload = build(seq, this.epoch);
      this.statements.setSeq.run(seq);
      this.insert('predictions', seq, payload);
      this.counters.lastSeq = seq;
      return { seq, dropped: this.enforceLimits() };
    });
  }

  /** Stores a hard example; `ref` is its id (read from the payload when not given), which the cloud's ack names. */
  appendHardExample(payload: string, ref: string | null = hardExampleId(payload)): { dropped: number } {
    return this.transaction(() => {
      this.insert('hard-example', null, payload, ref);
      return { dropped: this.enforceLimits() };
    });
  }

  /** The oldest rows not in flight, in order, at most `limit`. */
  nextToSend(limit: number): OutboxRow[] {
    if (limit <= 0) return [];
    const rows = this.statements.oldest.all(this.inFlight.size + limit) as unknown as Array<Omit<OutboxRow, 'payload'> & { payload: string | Uint8Array }>;
    return rows
      .filter((row) => !this.inFlight.has(row.id))
      .slice(0, limit)
      .map(({ id, kind, seq, payload }) => ({
        id,
        kind,
        seq,
        // node:sqlite reads a BLOB as a Uint8Array; a TEXT row (JSON) as a string
        payload: typeof payload === 'string' ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength),
      }));
  }

  /** The row is handed to the transport (`publishing`). */
  markInFlight(id: number, now = Date.now()): void {
    this.inFlight.set(id, { stage: 'publishing', since: now });
  }

  /** The broker acknowledged the row: it stays, `awaiting-ack`, until the cloud's ack (false if it is no longer in flight). */
  markPublished(id: number, now = Date.now()): boolean {
    const entry = this.inFlight.get(id);
    if (!entry) return false;
    entry.stage = 'awaiting-ack';
    entry.since = now;
    return true;
  }

  /** The transport could not deliver the row, or its ack is overdue: it is sent again, in order, later. */
  giveBack(id: number): void {
    this.inFlight.delete(id);
  }

  /** Gives back the rows awaiting an ack since before `before` (all of them by default); returns how many. */
  giveBackAwaiting(before = Number.POSITIVE_INFINITY): number {
    let n = 0;
    for (const [id, entry] of this.inFlight) {
      if (entry.stage === 'awaiting-ack' && entry.since < before) {
        this.inFlight.delete(id);
        n++;
      }
    }
    return n;
  }

  /** The stage of a row in flight, and since when; undefined when it is not. */
  inFlightStage(id: number): Readonly<InFlight> | undefined {
    return this.inFlight.get(id);
  }

  /** The row leaves the outbox (whatever its stage). */
  acknowledge(id: number): void {
    this.inFlight.delete(id);
    if (!this.db.isOpen) return;
    const removed = this.statements.remove.get(id) as { kind: OutboxKind; bytes: number } | undefined;
    if (removed) this.forget(removed.kind, removed.bytes);
  }

  /**
   * The cloud acknowledged an item: the row it names leaves the outbox and is returned, with when the broker
   * had acknowledged it (undefined if it was not awaiting an ack). Undefined when no row matches — acked
   * before (a duplicate ack), dropped by the bound meanwhile, or a batch of another epoch (an outbox file
   * since replaced). A batch acked without an epoch matches only a row stored before epochs (JSON without one).
   */
  acknowledgeItem(item: AckedItem): { row: AckedRow; publishedAt: number | undefined } | undefined {
    if (!this.db.isOpen) return undefined;
    if (item.kind === 'predictions' && item.epoch !== undefined && item.epoch !== this.epoch) return undefined;
    // a batch acked without an epoch can only be one stored before epochs (JSON text with no `epoch` field)
    const removeBatch = item.kind === 'predictions' && item.epoch === undefined ? this.statements.removeBatchBeforeEpochs : this.statements.removeBatch;
    const removed = (item.kind === 'predictions' ? removeBatch.get(item.seq) : this.statements.removeHardExample.get(item.id)) as
      (AckedRow & { bytes: number }) | undefined;
    if (!removed) return undefined;
    const entry = this.inFlight.get(removed.id);
    this.inFlight.delete(removed.id);
    this.forget(removed.kind, removed.bytes);
    return { row: { id: removed.id, kind: removed.kind, seq: removed.seq }, publishedAt: entry?.stage === 'awaiting-ack' ? entry.since : undefined };
  }

  /** Rows handed to the transport and not yet acknowledged by the cloud (both stages). */
  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Of those, the rows the broker has acknowledged that await the cloud's ack. */
  get awaitingAckCount(): number {
    let n = 0;
    for (const entry of this.inFlight.values()) if (entry.stage === 'awaiting-ack') n++;
    return n;
  }

  stats(): OutboxStats {
    return { rows: this.rows, bytes: this.bytes, predictionRows: this.predictionRows, ...this.counters, epoch: this.epoch };
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }

  private insert(kind: OutboxKind, seq: number | null, payload: string | Uint8Array, ref: string | null = null): void {
    const bytes = Buffer.byteLength(payload);
    this.statements.insert.run(kind, seq, payload, bytes, Date.now(), ref);
    this.rows++;
    this.bytes += bytes;
    if (kind === 'predictions') this.predictionRows++;
  }

  /** Drop-oldest: deletes the oldest rows that are not in flight until both limits hold. */
  private enforceLimits(): number {
    let dropped = 0;
    while (this.overLimits()) {
      const candidates = this.statements.oldest.all(this.inFlight.size + 64) as unknown as Array<{ id: number; kind: OutboxKind }>;
      const victims = candidates.filter((row) => !this.inFlight.has(row.id));
      if (victims.length === 0) break;
      for (const victim of victims) {
        if (!this.overLimits()) break;
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

  /** Over the row or payload bound, or the file's pages in use (free pages are reused) over the byte bound. */
  private overLimits(): boolean {
    if (this.rows > this.limits.maxRows || this.bytes > this.limits.maxBytes) return true;
    if (this.rows === 0) return false;
    const pages = Number((this.statements.pageCount.get() as { page_count: number }).page_count);
    const free = Number((this.statements.freePages.get() as { freelist_count: number }).freelist_count);
    return (pages - free) * this.pageSize > this.limits.maxBytes + FILE_SLACK_BYTES / 2;
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
