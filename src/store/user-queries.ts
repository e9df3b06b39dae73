import type { Kysely, Selectable } from 'kysely';
import { DomainError } from '../core/errors.js';
import type { AppPasswordsTable, Database, UsersTable } from './database.js';
import type { DialectCapabilities } from './dialects.js';
import type { AppPassword, User, UserStore } from './store.js';
import { compareText } from './text-order.js';
import { ReadCache } from './read-cache.js';
import type { TaskRowCache } from './task-queries.js';
import { isRowId, isStorableText } from './value-guards.js';

export class KyselyUserStore implements UserStore {
  /** getUser runs on every authenticated request; see ReadCache for when it answers from memory. */
  private readonly reads: ReadCache<string, User>;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly caps: DialectCapabilities,
    externalChanges: (() => number) | null = null,
    private readonly taskRows: TaskRowCache | null = null,
  ) {
    this.reads = new ReadCache(externalChanges);
  }

  async createUser(user: Omit<User, 'authEpoch' | 'quotaBytes'> & { quotaBytes?: number | null }): Promise<User> {
    return this.reads.changing(async () => {
      try {
        const row = await this.db
          .insertInto('users')
          .values({
            id: user.id,
            display_name: user.displayName,
            password_hash: user.passwordHash,
            is_admin: flag(user.isAdmin),
            is_guest: flag(user.isGuest),
            enabled: flag(user.enabled),
            auth_epoch: 0,
            created_at: user.createdAt,
            quota_bytes: user.quotaBytes ?? null,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        return toUser(row);
      } catch (error) {
        if (this.caps.isUniqueViolation(error)) throw new DomainError('bad_request', `User "${user.id}" already exists`);
        throw error;
      }
    });
  }

  async getUser(id: string): Promise<User | undefined> {
    // No user has such an id, and a login name from a Basic header must give 401, not 400.
    if (!isStorableText(id)) return undefined;
    return this.reads.get(id, async () => {
      const row = await this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
      return row && toUser(row);
    });
  }

  async listUsers(): Promise<User[]> {
    const rows = await this.db.selectFrom('users').selectAll().execute();
    return rows.map(toUser).sort((a, b) => compareText(a.id, b.id));
  }

  async updateUser(
    id: string,
    changes: Partial<Pick<User, 'displayName' | 'passwordHash' | 'isAdmin' | 'isGuest' | 'enabled' | 'quotaBytes'>>,
  ): Promise<User | undefined> {
    return this.reads.changing(async () => {
      const row = await this.db
        .updateTable('users')
        .set((eb) => ({
          ...(changes.displayName !== undefined && { display_name: changes.displayName }),
          ...(changes.passwordHash !== undefined && { password_hash: changes.passwordHash }),
          ...(changes.isAdmin !== undefined && { is_admin: flag(changes.isAdmin) }),
          ...(changes.isGuest !== undefined && { is_guest: flag(changes.isGuest) }),
          ...(changes.enabled !== undefined && { enabled: flag(changes.enabled) }),
          ...(changes.quotaBytes !== undefined && { quota_bytes: changes.quotaBytes }),
          auth_epoch: eb('auth_epoch', '+', 1),
        }))
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst();
      return row && toUser(row);
    });
  }

  async deleteUser(id: string): Promise<boolean> {
    const forgettingTasks = <R>(write: () => Promise<R>) => (this.taskRows ? this.taskRows.changing(write) : write());
    return this.reads.changing(async () =>
      forgettingTasks(async () => {
        return this.db.transaction().execute(async (trx) => {
          await trx.deleteFrom('app_passwords').where('user_id', '=', id).execute();
          await trx.deleteFrom('tasks').where('user_id', '=', id).execute();
          const result = await trx.deleteFrom('users').where('id', '=', id).executeTakeFirst();
          return result.numDeletedRows > 0n;
        });
      }),
    );
  }

  async countUsers(): Promise<number> {
    const row = await this.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number | string>().as('count'))
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }

  async createAppPassword(p: Omit<AppPassword, 'id' | 'lastUsedAt'>): Promise<AppPassword> {
    return this.reads.changing(async () => {
      const row = await this.db
        .insertInto('app_passwords')
        .values({ user_id: p.userId, token_hash: p.tokenHash, name: p.name, created_at: p.createdAt, last_used_at: null })
        .returningAll()
        .executeTakeFirstOrThrow();
      return toAppPassword(row);
    });
  }

  async findAppPassword(tokenHash: string): Promise<AppPassword | undefined> {
    const row = await this.db.selectFrom('app_passwords').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
    return row && toAppPassword(row);
  }

  async listAppPasswords(userId: string): Promise<AppPassword[]> {
    const rows = await this.db.selectFrom('app_passwords').selectAll().where('user_id', '=', userId).orderBy('id').execute();
    return rows.map(toAppPassword);
  }

  async revokeAppPasswords(userId: string, id?: number): Promise<number> {
    return this.reads.changing(async () => {
      if (id !== undefined && !isRowId(id)) return 0;
      return this.db.transaction().execute(async (trx) => {
        let query = trx.deleteFrom('app_passwords').where('user_id', '=', userId);
        if (id !== undefined) query = query.where('id', '=', id);
        const removed = Number((await query.executeTakeFirst()).numDeletedRows);
        // Nothing removed means no cached credential went stale, so caches may keep theirs.
        if (removed > 0) {
          await trx
            .updateTable('users')
            .set((eb) => ({ auth_epoch: eb('auth_epoch', '+', 1) }))
            .where('id', '=', userId)
            .execute();
        }
        return removed;
      });
    });
  }

  async touchAppPassword(id: number, now: number): Promise<void> {
    if (!isRowId(id)) return;
    await this.db.updateTable('app_passwords').set({ last_used_at: now }).where('id', '=', id).execute();
  }
}

const flag = (b: boolean): number => (b ? 1 : 0);

function toUser(row: Selectable<UsersTable>): User {
  return {
    id: row.id,
    displayName: row.display_name,
    passwordHash: row.password_hash,
    isAdmin: row.is_admin === 1,
    isGuest: row.is_guest === 1,
    enabled: row.enabled === 1,
    authEpoch: row.auth_epoch,
    createdAt: Number(row.created_at),
    quotaBytes: row.quota_bytes === null ? null : Number(row.quota_bytes),
  };
}

function toAppPassword(row: Selectable<AppPasswordsTable>): AppPassword {
  return {
    id: Number(row.id),
    userId: row.user_id,
    tokenHash: row.token_hash,
    name: row.name,
    createdAt: Number(row.created_at),
    lastUsedAt: row.last_used_at === null ? null : Number(row.last_used_at),
  };
}
