import { Injectable } from '@nestjs/common';
import { SqlDatabase } from '../database/sql-database';
import { json } from './model.repository';

/** Small cluster-wide settings (the signing key, encrypted) shared by every cloud replica through SQL. */
@Injectable()
export class SettingsRepository {
  constructor(private readonly db: SqlDatabase) {}

  async get<T>(key: string): Promise<T | undefined> {
    const rows = await this.db.query<{ value: T | string }>('select value from settings where key = $1', [key]);
    return rows[0] ? (json(rows[0].value) as T) : undefined;
  }

  /** Stores `value` unless the key exists; returns what is stored (the first writer wins across replicas). */
  async putIfAbsent<T>(key: string, value: T): Promise<T> {
    await this.db.query('insert into settings (key, value) values ($1, $2) on conflict (key) do nothing', [
      key,
      JSON.stringify(value),
    ]);
    return (await this.get<T>(key)) as T;
  }

  /** Stores `value` whether or not the key exists. */
  async put<T>(key: string, value: T): Promise<void> {
    await this.db.query('insert into settings (key, value) values ($1, $2) on conflict (key) do update set value = excluded.value', [
      key,
      JSON.stringify(value),
    ]);
  }

  async delete(key: string): Promise<void> {
    await this.db.query('delete from settings where key = $1', [key]);
  }
}
