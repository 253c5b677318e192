import { Injectable, OnApplicationShutdown, Optional } from '@nestjs/common';
import { parseTopic } from '@edgeloop/contracts';
import { CloudConfig } from '../config/cloud.config';
import { SqlDatabase } from '../database/sql-database';
import { iso } from './model.repository';

export interface DeadLetterEntry {
  source: string;
  topic?: string;
  code: string;
  message: string;
  payload?: Uint8Array;
  /** Taken from the topic when it is a device topic. */
  deviceId?: string;
}

export interface DeadLetterRecord {
  id: string;
  at: string;
  source: string;
  deviceId: string | null;
  topic: string | null;
  code: string;
  message: string;
  payloadExcerpt: string | null;
}

export interface DeadLetterFilter {
  deviceId?: string;
  code?: string;
  since?: Date;
  until?: Date;
  limit: number;
  /** From the previous page's `next`. */
  cursor?: { at: Date; id: string };
}

interface Row {
  id: string;
  at: Date | string;
  source: string;
  device_id: string | null;
  topic: string | null;
  code: string;
  message: string;
  payload_excerpt: string | null;
}

/** Sampling when no config is given (a repository built outside the app). */
const DEFAULT_SAMPLING = { sample: 20, windowSeconds: 3600 };
/** How often dead letters counted in memory (their sample was full) are added to the SQL counters. */
const FLUSH_EVERY_MS = 250;
/** (device, code, window) samples known to be full; past this many, SQL decides every dead letter again. */
const MAX_FULL_SAMPLES = 10_000;

/** A (device, code, window) whose sample SQL reported full, and the dead letters of it counted here since. */
interface FullSample {
  deviceId: string;
  code: string;
  windowStart: Date;
  windowEnd: number;
  pending: number;
}

/**
 * Messages that failed validation, sampled: every one is counted per (device, code, window) and per code,
 * the first EDGELOOP_DEAD_LETTER_SAMPLE of each (device, code, window) are kept with an excerpt, the rest
 * only counted. Until a sample is full, one statement decides and counts; once it answered "not kept", the
 * window's sample stays full (on every replica), so the rest are counted in memory and added to the counters
 * every 250 ms in one statement: a device flooding garbage costs a map lookup per message, not a SQL
 * round trip. `prune` applies the retention and the total cap.
 */
@Injectable()
export class DeadLetterRepository implements OnApplicationShutdown {
  private readonly sampling: { sample: number; windowSeconds: number };
  private readonly full = new Map<string, FullSample>();
  private readonly flushTimer = setInterval(() => void this.flushCounts().catch(() => undefined), FLUSH_EVERY_MS).unref();

  constructor(
    private readonly db: SqlDatabase,
    @Optional() config?: CloudConfig,
  ) {
    this.sampling = config?.quotas.deadLetters ?? DEFAULT_SAMPLING;
  }

  /** Counts the dead letter and keeps it when within the sample; true when kept. */
  async record(entry: DeadLetterEntry, at = new Date()): Promise<boolean> {
    const excerpt = entry.payload ? Buffer.from(entry.payload.subarray(0, 512)).toString('utf8').replace(/\u0000/g, '') : null;
    const deviceId = entry.deviceId ?? (entry.topic ? parseTopic(entry.topic)?.deviceId : undefined) ?? '';
    const windowMs = this.sampling.windowSeconds * 1000;
    const windowStart = new Date(Math.floor(at.getTime() / windowMs) * windowMs);
    const code = entry.code.slice(0, 100);
    const sampleKey = `${windowStart.getTime()}|${code}|${deviceId}`;
    const full = this.full.get(sampleKey);
    if (full) {
      full.pending++;
      return false;
    }
    const [row] = await this.db.query<{ kept: string }>(
      `with counted as (
         insert into dead_letter_counters (device_id, code, window_start, received, kept)
         values ($1, $2, $3, 1, case when $8::bigint >= 1 then 1 else 0 end)
         on conflict (device_id, code, window_start) do update
           set received = dead_letter_counters.received + 1,
               kept = dead_letter_counters.kept + case when dead_letter_counters.received < $8::bigint then 1 else 0 end
         returning received
       ), kept as (
         insert into dead_letters (at, source, topic, code, message, payload_excerpt, device_id)
         select $9, $4, $5, $2, $6, $7, nullif($1, '') from counted where counted.received <= $8::bigint
         returning id
       ), totals as (
         insert into dead_letter_totals (code, received, kept) values ($2, 1, (select count(*) from kept))
         on conflict (code) do update set received = dead_letter_totals.received + 1, kept = dead_letter_totals.kept + excluded.kept
         returning code
       )
       select (select count(*) from kept)::text as kept, (select count(*) from totals) as totals`,
      [
        deviceId,
        code,
        windowStart,
        entry.source,
        entry.topic?.slice(0, 512) ?? null,
        entry.message.slice(0, 2000),
        excerpt,
        this.sampling.sample,
        at,
      ],
    );
    const kept = Number(row?.kept ?? 0) > 0;
    if (!kept && this.full.size < MAX_FULL_SAMPLES) {
      this.full.set(sampleKey, { deviceId, code, windowStart, windowEnd: windowStart.getTime() + windowMs, pending: 0 });
    }
    return kept;
  }

  /** Adds the dead letters counted in memory to their window's counter and their code's total; forgets windows that are over. */
  async flushCounts(): Promise<void> {
    const now = Date.now();
    const counted: Array<[string, FullSample, number]> = [];
    for (const [key, sample] of this.full) {
      if (sample.pending > 0) counted.push([key, sample, sample.pending]);
      sample.pending = 0;
      if (now >= sample.windowEnd) this.full.delete(key);
    }
    if (counted.length === 0) return;
    try {
      await this.db.query(
        `with added as (
           select * from unnest($1::text[], $2::text[], $3::timestamptz[], $4::bigint[]) as a(device_id, code, window_start, received)
         ), counters as (
           insert into dead_letter_counters (device_id, code, window_start, received, kept)
           select device_id, code, window_start, received, 0 from added
           on conflict (device_id, code, window_start) do update set received = dead_letter_counters.received + excluded.received
         )
         insert into dead_letter_totals (code, received, kept)
         select code, sum(received), 0 from added group by code
         on conflict (code) do update set received = dead_letter_totals.received + excluded.received`,
        [counted.map(([, s]) => s.deviceId), counted.map(([, s]) => s.code), counted.map(([, s]) => s.windowStart), counted.map(([, , n]) => n)],
      );
    } catch (err) {
      // counted again at the next flush
      for (const [key, sample, n] of counted) {
        sample.pending += n;
        this.full.set(key, sample);
      }
      throw err;
    }
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.flushTimer);
    await this.flushCounts().catch(() => undefined);
  }

  /** Dead letters counted and kept per code since the start, and removed by retention (cheap: one row per code). */
  async totals(): Promise<Array<{ code: string; received: number; kept: number; pruned: number }>> {
    const rows = await this.db.query<{ code: string; received: string; kept: string; pruned: string }>(
      'select code, received, kept, pruned from dead_letter_totals order by code',
    );
    return rows.map((r) => ({ code: r.code, received: Number(r.received), kept: Number(r.kept), pruned: Number(r.pruned) }));
  }

  /** Newest first, keyset-paginated on (at, id). */
  async list(filter: DeadLetterFilter): Promise<{ deadLetters: DeadLetterRecord[]; next: { at: Date; id: string } | null }> {
    const rows = await this.db.query<Row>(
      `select id::text as id, at, source, device_id, topic, code, message, payload_excerpt from dead_letters
        where ($1::text is null or device_id = $1)
          and ($2::text is null or code = $2)
          and ($3::timestamptz is null or at >= $3)
          and ($4::timestamptz is null or at < $4)
          and ($5::timestamptz is null or (at, id) < ($5, $6::bigint))
        order by at desc, id desc
        limit $7`,
      [filter.deviceId ?? null, filter.code ?? null, filter.since ?? null, filter.until ?? null, filter.cursor?.at ?? null, filter.cursor?.id ?? null, filter.limit + 1],
    );
    const page = rows.slice(0, filter.limit);
    const last = page.at(-1);
    return {
      deadLetters: page.map((r) => ({
        id: r.id,
        at: iso(r.at),
        source: r.source,
        deviceId: r.device_id,
        topic: r.topic,
        code: r.code,
        message: r.message,
        payloadExcerpt: r.payload_excerpt,
      })),
      next: rows.length > filter.limit && last ? { at: new Date(iso(last.at)), id: last.id } : null,
    };
  }

  /** Rows older than `before`, then the oldest past `maxRows`; counter rows older than `before` too. */
  async prune(before: Date, maxRows: number): Promise<{ aged: number; capped: number }> {
    const aged = await this.removeAndCount('select id from dead_letters where at < $1', [before]);
    const capped = await this.removeAndCount('select id from dead_letters order by at desc, id desc offset $1', [maxRows]);
    await this.db.query('delete from dead_letter_counters where window_start < $1', [before]);
    return { aged, capped };
  }

  private async removeAndCount(select: string, params: unknown[]): Promise<number> {
    const rows = await this.db.query<{ code: string; n: string }>(
      `with removed as (delete from dead_letters where id in (${select}) returning code),
            per_code as (select code, count(*) as n from removed group by code),
            counted as (update dead_letter_totals t set pruned = t.pruned + p.n from per_code p where t.code = p.code returning t.code)
       select code, n::text as n from per_code`,
      params,
    );
    return rows.reduce((sum, r) => sum + Number(r.n), 0);
  }
}
