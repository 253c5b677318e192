import { createServer, type Server, type Socket } from 'node:net';
import { SqlDatabase } from './sql-database';

/** A PostgreSQL wire message: type byte, length, body. */
function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}
const authOk = message('R', Buffer.from([0, 0, 0, 0]));
const ready = message('Z', Buffer.from('I'));
const selectDone = message('C', Buffer.from('SELECT 0\0'));
const adminShutdown = message('E', Buffer.from('SFATAL\0C57P01\0Mterminating connection due to administrator command\0\0'));

/**
 * A server that accepts a connection and ends it at once with 57P01 — what PostgreSQL does to a connection it
 * accepted just as a restart began (the fault suite's postgres-restart cell, long form seed 7 run 3: the cloud
 * exited). Here the server sends ReadyForQuery and the 57P01 in one TCP write, so pg parses both in one
 * callback: a client handed to `transaction` through a Promise had no 'error' listener between the two.
 */
describe('SqlDatabase.transaction on a connection ended as it opens', () => {
  let server: Server;
  let db: SqlDatabase;
  let terminate = false;
  const sockets: Socket[] = [];
  const uncaught: Error[] = [];
  const onUncaught = (err: Error) => uncaught.push(err);

  beforeAll(async () => {
    server = createServer((socket) => {
      sockets.push(socket);
      let startup = true;
      socket.on('data', (data) => {
        if (startup) {
          startup = false;
          socket.write(terminate ? Buffer.concat([authOk, ready, adminShutdown]) : Buffer.concat([authOk, ready]));
          if (terminate) socket.end();
        } else if (data[0] === 'Q'.charCodeAt(0)) socket.write(Buffer.concat([selectDone, ready]));
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    db = await SqlDatabase.open({ kind: 'postgres', url: `postgres://edgeloop@127.0.0.1:${port}/edgeloop`, poolSize: 1 });
    process.prependListener('uncaughtException', onUncaught);
  });
  afterAll(async () => {
    process.off('uncaughtException', onUncaught);
    for (const socket of sockets) socket.destroy();
    await db?.close().catch(() => undefined);
    await new Promise((resolve) => server.close(resolve));
  });

  it('fails the transaction and does not crash the process', async () => {
    // the pool's idle connection goes away (its own listener handles that), so the transaction opens a new one
    for (const socket of sockets) socket.destroy();
    await new Promise((r) => setTimeout(r, 100));
    terminate = true;
    await expect(db.transaction((tx) => tx.query('select 1'))).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 100));
    expect(uncaught.map((e) => e.message)).toEqual([]);
  });
});
