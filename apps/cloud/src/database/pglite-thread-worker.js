'use strict';
/**
 * Worker-thread entry of the embedded SQL store (see pglite-thread.ts): owns the PGlite instance (PostgreSQL
 * in WebAssembly) and runs the statements the cloud's main thread sends, one message per statement, so the
 * engine's work — parsing, planning, executing and decoding each result — never holds the main thread's event
 * loop. Plain JavaScript with one dependency: the same file runs from the built tree and from the sources.
 *
 * Messages in:  { id, op: 'query', text, params, tx? } | { id, op: 'exec', text } | { id, op: 'begin' | 'commit' |
 *               'rollback', tx } | { id, op: 'close' }
 * Messages out: { id, ok: true, rows? } | { id, ok: false, error: { name, message, code?, ... } }; first { ready }.
 */
const { parentPort, workerData } = require('node:worker_threads');

/** Thrown inside PGlite's transaction callback to roll it back on the caller's request. */
const ROLLBACK = Symbol('rollback');

/** The fields of a PostgreSQL error the cloud reads (`code` above all: 23505, 40001, …), kept across threads. */
const ERROR_FIELDS = ['code', 'detail', 'hint', 'constraint', 'table', 'column', 'schema', 'severity', 'position', 'routine'];

function errorOf(err) {
  const out = { name: (err && err.name) || 'Error', message: String((err && err.message) || err) };
  for (const field of ERROR_FIELDS) if (err && typeof err[field] === 'string') out[field] = err[field];
  return out;
}

async function main() {
  const { PGlite } = await import('@electric-sql/pglite');
  const db = await PGlite.create(workerData.dir, { startParams: [...PGlite.defaultStartParams, ...workerData.settings] });
  /** Open transactions by the caller's id: how to end each, its settling promise, and PGlite's object once inside. */
  const transactions = new Map();

  const reply = (id, body) => parentPort.postMessage({ id, ok: true, ...body });
  const fail = (id, err) => parentPort.postMessage({ id, ok: false, error: errorOf(err) });

  async function endTransaction(m, how) {
    const entry = transactions.get(m.tx);
    if (!entry || !entry.tx) throw new Error(`transaction ${m.tx} is not open`);
    entry.end(how);
    await entry.done;
    return {};
  }

  const handlers = {
    async query(m) {
      const target = m.tx === undefined ? db : transactions.get(m.tx)?.tx;
      if (!target) throw new Error(`transaction ${m.tx} is not open`);
      return { rows: (await target.query(m.text, m.params)).rows };
    },
    async exec(m) {
      await db.exec(m.text);
      return {};
    },
    // PGlite's own transaction (its lock keeps every other statement out until it ends): answered from inside it,
    // ended when the caller sends commit or rollback
    begin(m) {
      return new Promise((resolve, reject) => {
        const entry = { tx: undefined, end: undefined, done: undefined };
        const ended = new Promise((end) => (entry.end = end));
        entry.done = db
          .transaction(async (tx) => {
            entry.tx = tx;
            resolve({});
            if ((await ended) === 'rollback') throw ROLLBACK;
          })
          .catch((err) => {
            if (err !== ROLLBACK) throw err;
          })
          .finally(() => transactions.delete(m.tx));
        // a BEGIN that fails never reaches the callback: the caller's begin fails (after it, commit reports it)
        entry.done.catch((err) => {
          if (!entry.tx) reject(err);
        });
        transactions.set(m.tx, entry);
      });
    },
    commit: (m) => endTransaction(m, 'commit'),
    rollback: (m) => endTransaction(m, 'rollback'),
    async close() {
      await db.close();
      return {};
    },
  };

  parentPort.on('message', (m) => {
    const handler = handlers[m.op];
    if (!handler) return fail(m.id, new Error(`unknown operation ${m.op}`));
    Promise.resolve()
      .then(() => handler(m))
      .then(
        (body) => reply(m.id, body),
        (err) => fail(m.id, err),
      );
  });
  parentPort.postMessage({ ready: true });
}

main().catch((err) => parentPort.postMessage({ ready: false, error: errorOf(err) }));
