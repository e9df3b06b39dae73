/** Most rows a cache keeps; past it the cache starts over. */
const MAX_ROWS = 10_000;

/**
 * Rows read on every request (the authenticated user, the calling ExApp), answered from memory
 * while nothing can have changed them. `externalChanges` returns a number that moves whenever
 * another connection commits (SQLite's `PRAGMA data_version`: the admin CLI in its own process, a
 * second store on the file); changes through the owning store go through `changing`, which moves
 * the local generation before and after the write, so a read in between cannot keep the old row
 * under the new stamp. Without `externalChanges` (PostgreSQL, where other nodes write at any
 * time) nothing is cached and every read goes to the database.
 *
 * Callers get a copy, so what they do with it never reaches the next caller.
 */
export class ReadCache<T extends object> {
  private readonly rows = new Map<string, { stamp: string; value: T }>();
  private generation = 0;

  constructor(private readonly externalChanges: (() => number) | null) {}

  async get(key: string, load: () => Promise<T | undefined>): Promise<T | undefined> {
    const stamp = this.externalChanges === null ? null : `${this.externalChanges()}:${this.generation}`;
    const hit = stamp === null ? undefined : this.rows.get(key);
    if (hit !== undefined && hit.stamp === stamp) return { ...hit.value };
    const value = await load();
    if (value !== undefined && stamp !== null) {
      if (this.rows.size >= MAX_ROWS) this.rows.clear();
      this.rows.set(key, { stamp, value: { ...value } });
    }
    return value;
  }

  async changing<R>(write: () => Promise<R>): Promise<R> {
    this.generation++;
    try {
      return await write();
    } finally {
      this.generation++;
    }
  }
}
