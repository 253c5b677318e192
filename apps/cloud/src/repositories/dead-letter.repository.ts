import { Injectable } from '@nestjs/common';
import { SqlDatabase } from '../database/sql-database';

/** Messages that failed validation, kept with an excerpt for inspection. */
@Injectable()
export class DeadLetterRepository {
  constructor(private readonly db: SqlDatabase) {}

  async record(entry: { source: string; topic?: string; code: string; message: string; payload?: Uint8Array }): Promise<void> {
    const excerpt = entry.payload ? Buffer.from(entry.payload.subarray(0, 512)).toString('utf8').replace(/\u0000/g, '') : null;
    await this.db.query('insert into dead_letters (source, topic, code, message, payload_excerpt) values ($1, $2, $3, $4, $5)', [
      entry.source,
      entry.topic?.slice(0, 512) ?? null,
      entry.code,
      entry.message.slice(0, 2000),
      excerpt,
    ]);
  }

  async count(source?: string): Promise<number> {
    const [row] = await this.db.query<{ n: string }>('select count(*) as n from dead_letters where ($1::text is null or source = $1)', [
      source ?? null,
    ]);
    return Number(row.n);
  }
}
