export interface ReadCacheLimits<T> {
  /** Most rows kept; past it the oldest go first. */
  maxRows: number;
  /** Most total weight kept (see `weigh`); past it the oldest go first. */
  maxWeight?: number;
  /** A row's weight (its text length, say); a row heavier than maxWeight is not kept. */
  weigh?: (value: T) => number;
}

const DEFAULT_LIMITS = { maxRows: 10_000 };

/**
 * Rows read again and again (the authenticated user, the calling ExApp, a polled task), answered
 * from memory while nothing can have changed them.
 *
 * Two things can change a row. Another connection's commit (the admin CLI in its own process, a
 * second store on the same file): `externalChanges` returns a number that moves when that
 * happens (SQLite's `PRAGMA data_version`), and a row is kept under the number it was read
 * under. And a write through the owning store: it runs inside `changing`, which forgets the
 * rows it names when it ends (all of them unless it names some). A read that overlapped any
 * write is returned but not kept, since it may have seen the row before or after that write.
 *
 * Without `externalChanges` (PostgreSQL, where other nodes write at any time) nothing is cached
 * and every read goes to the database.
 *
 * Callers get a copy, so what they do with it never reaches the next caller.
 */
export class ReadCache<K, T extends object> {
  private readonly rows = new Map<K, { stamp: number; value: T; weight: number }>();
  /** Moves when a write starts and when it ends. */
  private writes = 0;
  private weight = 0;
  private readonly limits: ReadCacheLimits<T>;

  constructor(
    private readonly externalChanges: (() => number) | null,
    limits: ReadCacheLimits<T> = DEFAULT_LIMITS,
    private readonly copy: (value: T) => T = (v) => ({ ...v }),
  ) {
    this.limits = limits;
  }

  async get(key: K, load: () => Promise<T | undefined>): Promise<T | undefined> {
    if (this.externalChanges === null) return load();
    const stamp = this.externalChanges();
    const hit = this.rows.get(key);
    if (hit !== undefined && hit.stamp === stamp) return this.copy(hit.value);
    const writes = this.writes;
    const value = await load();
    if (value !== undefined && writes === this.writes) this.keep(key, stamp, value);
    return value;
  }

  /**
   * Runs a write through the owning store. `touched` names the rows it may have changed, from its
   * result; without it, or when the write fails, every row is forgotten.
   */
  async changing<R>(write: () => Promise<R>, touched?: (result: R) => Iterable<K>): Promise<R> {
    this.writes++;
    let keys: Iterable<K> | null = null;
    try {
      const result = await write();
      if (touched) keys = touched(result);
      return result;
    } finally {
      if (keys === null) this.forgetAll();
      else for (const key of keys) this.forget(key);
      this.writes++;
    }
  }

  private keep(key: K, stamp: number, value: T): void {
    const weight = this.limits.weigh?.(value) ?? 0;
    const maxWeight = this.limits.maxWeight ?? Number.POSITIVE_INFINITY;
    if (weight > maxWeight) return;
    this.forget(key);
    while (this.rows.size > 0 && (this.rows.size >= this.limits.maxRows || this.weight + weight > maxWeight)) {
      this.forget(this.rows.keys().next().value as K);
    }
    this.rows.set(key, { stamp, value: this.copy(value), weight });
    this.weight += weight;
  }

  private forget(key: K): void {
    const old = this.rows.get(key);
    if (old === undefined) return;
    this.rows.delete(key);
    this.weight -= old.weight;
  }

  private forgetAll(): void {
    this.rows.clear();
    this.weight = 0;
  }
}
