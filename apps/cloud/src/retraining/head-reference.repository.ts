import { Injectable } from '@nestjs/common';
import { SqlDatabase } from '../database/sql-database';

/**
 * Which identity heads the registry and the fleet still refer to, for head deltas: a delta is made only
 * between registered heads, and kept only while both of its ends are in use.
 */
@Injectable()
export class HeadReferenceRepository {
  constructor(private readonly db: SqlDatabase) {}

  /** Whether `sha256` is the head file of any registered version. */
  async isHead(sha256: string): Promise<boolean> {
    return (await this.db.query(`select 1 from model_version_files where sha256 = $1 and role = 'head' limit 1`, [sha256])).length > 0;
  }

  /**
   * Heads in use: the head of every version an alias points at, that a device is told to run (its desired
   * state), or that a device reports running or keeps as its last known good.
   */
  async headsInUse(): Promise<Set<string>> {
    const rows = await this.db.query<{ sha256: string }>(
      `with used (model_name, version) as (
         select m.name, a.version from model_aliases a join models m on m.id = a.model_id
         union select model_name, model_version from device_desired
         union select s.reported->'running'->>'name', (s.reported->'running'->>'version')::int
                 from device_state s where jsonb_typeof(s.reported->'running') = 'object'
         union select s.reported->'lastKnownGood'->>'name', (s.reported->'lastKnownGood'->>'version')::int
                 from device_state s where jsonb_typeof(s.reported->'lastKnownGood') = 'object'
       )
       select distinct f.sha256 from used u
         join models m on m.name = u.model_name
         join model_versions v on v.model_id = m.id and v.version = u.version
         join model_version_files f on f.version_id = v.id and f.role = 'head'`,
    );
    return new Set(rows.map((r) => r.sha256.trim()));
  }
}
