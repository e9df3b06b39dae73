import type { Kysely } from 'kysely';
import type { Database } from './database.js';
import type { SettingsStore } from './store.js';
import { compareText } from './text-order.js';

export class KyselySettingsStore implements SettingsStore {
  constructor(private readonly db: Kysely<Database>) {}

  async getSetting<T>(key: string): Promise<T | undefined> {
    const row = await this.db.selectFrom('settings').select('value').where('key', '=', key).executeTakeFirst();
    return row && (JSON.parse(row.value) as T);
  }

  async setSetting(key: string, value: unknown): Promise<void> {
    // undefined has no JSON form; storing it would read back as something else, so it unsets.
    if (value === undefined) return this.deleteSetting(key);
    const json = JSON.stringify(value);
    await this.db
      .insertInto('settings')
      .values({ key, value: json })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value: json }))
      .execute();
  }

  async deleteSetting(key: string): Promise<void> {
    await this.db.deleteFrom('settings').where('key', '=', key).execute();
  }

  async allSettings(): Promise<Record<string, unknown>> {
    const rows = await this.db.selectFrom('settings').select(['key', 'value']).execute();
    rows.sort((a, b) => compareText(a.key, b.key));
    return Object.fromEntries(rows.map((r) => [r.key, JSON.parse(r.value) as unknown]));
  }
}
