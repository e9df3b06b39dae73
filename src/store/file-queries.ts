import type { Insertable, Kysely, Selectable, Transaction } from 'kysely';
import { DomainError } from '../core/errors.js';
import type { Database, FilesTable } from './database.js';
import type { DialectCapabilities } from './dialects.js';
import { FOLDER_MIME, notEnoughSpace, type FileContent, type FileRecord, type FileStore } from './store.js';
import { compareText } from './text-order.js';
import { isRowId } from './value-guards.js';

type FileRow = Selectable<FilesTable>;

/** Ids per `IN (…)` list: well below SQLite's and PostgreSQL's limits on bound parameters. */
const ID_CHUNK = 500;

export class KyselyFileStore implements FileStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly caps: DialectCapabilities,
  ) {}

  async getFile(id: number): Promise<FileRecord | undefined> {
    if (!isRowId(id)) return undefined;
    const row = await this.db.selectFrom('files').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toFileRecord(row);
  }

  async getFiles(ids: number[]): Promise<FileRecord[]> {
    const found: FileRecord[] = [];
    for (const chunk of chunks([...new Set(ids.filter(isRowId))])) {
      const rows = await this.db.selectFrom('files').selectAll().where('id', 'in', chunk).execute();
      found.push(...rows.map(toFileRecord));
    }
    return found;
  }

  async getByPath(owner: string, path: string): Promise<FileRecord | undefined> {
    const row = await this.db.selectFrom('files').selectAll().where('owner', '=', owner).where('path', '=', path).executeTakeFirst();
    return row && toFileRecord(row);
  }

  async listChildren(owner: string, folderPath: string): Promise<FileRecord[]> {
    const rows = await this.db.selectFrom('files').selectAll().where('owner', '=', owner).where('parent_path', '=', folderPath).execute();
    return rows.map(toFileRecord).sort((a, b) => compareText(a.name, b.name));
  }

  createFolder(owner: string, path: string, etag: string, now: number): Promise<FileRecord | undefined> {
    return this.insertEntry(owner, path, {
      is_folder: 1,
      mime: FOLDER_MIME,
      size: 0,
      sha256: null,
      etag,
      storage_key: null,
      created_at: now,
      updated_at: now,
    });
  }

  createFile(owner: string, path: string, content: FileContent, now: number): Promise<FileRecord | undefined> {
    return this.insertEntry(owner, path, { is_folder: 0, ...contentColumns(content), created_at: now, updated_at: now }, content.size);
  }

  async replaceContent(id: number, expectedStorageKey: string, content: FileContent, now: number): Promise<FileRecord | undefined> {
    if (!isRowId(id)) return undefined;
    return this.db.transaction().execute(async (trx) => {
      const current = await trx
        .selectFrom('files')
        .select(['owner', 'size', 'task_id'])
        .where('id', '=', id)
        .where('storage_key', '=', expectedStorageKey)
        .where('is_folder', '=', 0)
        .executeTakeFirst();
      if (!current) return undefined;
      // Contents never change under a storage key, so the size read with it is the one the update
      // replaces, or the update finds no row (another writer got there first) and the caller reads again.
      if (current.owner !== null && current.task_id === null) {
        const overQuota = await this.quotaRefusal(trx, current.owner, content.size, { id, size: Number(current.size) });
        if (overQuota) throw overQuota;
      }
      const row = await trx
        .updateTable('files')
        .set({ ...contentColumns(content), updated_at: now })
        .where('id', '=', id)
        .where('storage_key', '=', expectedStorageKey)
        .where('is_folder', '=', 0)
        .returningAll()
        .executeTakeFirst();
      return row && toFileRecord(row);
    });
  }

  async deleteTree(owner: string, path: string): Promise<{ deleted: number; storageKeys: string[] }> {
    // A prefix test without LIKE (as task-queries.ts releaseLeases): LIKE would need the path's
    // % and _ escaped and ignores ASCII case on SQLite only. substr counts characters, hence the
    // code points. The trailing slash keeps "a/bc" out of the delete of "a/b".
    const prefix = `${path}/`;
    return this.db.transaction().execute(async (trx) => {
      // With row locks, the root of the tree is locked first, which waits for every insert below
      // it that has checked its ancestors (insertEntry) and commits; the DELETE, a new statement,
      // then sees those entries too. Without the lock it could run on a snapshot taken before such
      // an insert committed and leave the new entry behind in no folder.
      if (this.caps.rowLocks) {
        await trx.selectFrom('files').select('id').where('owner', '=', owner).where('path', '=', path).forUpdate().execute();
      }
      const rows = await trx
        .deleteFrom('files')
        .where('owner', '=', owner)
        .where((eb) => eb.or([eb('path', '=', path), eb(eb.fn<string>('substr', ['path', eb.lit(1), eb.val([...prefix].length)]), '=', prefix)]))
        .returning('storage_key')
        .execute();
      return { deleted: rows.length, storageKeys: rows.flatMap((r) => (r.storage_key === null ? [] : [r.storage_key])) };
    });
  }

  usedBytes(owner: string): Promise<number> {
    return usedBytesOn(this.db, owner);
  }

  async createTaskFile(owner: string | null, taskId: number, name: string, content: FileContent, now: number): Promise<FileRecord> {
    const row = await this.db
      .insertInto('files')
      .values({
        owner,
        parent_path: null,
        name,
        path: null,
        is_folder: 0,
        ...contentColumns(content),
        task_id: taskId,
        created_at: now,
        updated_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toFileRecord(row);
  }

  async countTaskFiles(taskId: number): Promise<number> {
    if (!isRowId(taskId)) return 0;
    const row = await this.db
      .selectFrom('files')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('task_id', '=', taskId)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async deleteOwnerFiles(owner: string): Promise<string[]> {
    const rows = await this.db.deleteFrom('files').where('owner', '=', owner).returning('storage_key').execute();
    return rows.flatMap((r) => (r.storage_key === null ? [] : [r.storage_key]));
  }

  async deleteTaskFiles(taskIds: number[]): Promise<string[]> {
    const keys: string[] = [];
    for (const chunk of chunks([...new Set(taskIds.filter(isRowId))])) {
      const rows = await this.db.deleteFrom('files').where('task_id', 'in', chunk).returning('storage_key').execute();
      for (const r of rows) if (r.storage_key !== null) keys.push(r.storage_key);
    }
    return keys;
  }

  /**
   * The parent check and the insert share a transaction. On SQLite (one writer) a concurrent
   * delete of the parent cannot get in between; with row locks, the check locks the parent and
   * every ancestor (FOR SHARE) until the commit, so a deleteTree of any of them waits for this
   * insert and then deletes the new entry with the rest (see deleteTree).
   */
  private async insertEntry(
    owner: string,
    path: string,
    columns: Omit<Insertable<FilesTable>, 'owner' | 'parent_path' | 'name' | 'path' | 'task_id'>,
    size = 0,
  ): Promise<FileRecord | undefined> {
    const cut = path.lastIndexOf('/');
    const parentPath = cut < 0 ? '' : path.slice(0, cut);
    try {
      return await this.db.transaction().execute(async (trx) => {
        // The owner's row first: every quota-checked write takes it before any files row, so two
        // of them cannot wait on each other's locks in opposite order.
        const overQuota = await this.quotaRefusal(trx, owner, size);
        if (overQuota) {
          // A file put at this path meanwhile (a racing PUT of the same path) makes this write a
          // replace, which needs room only for its growth: say the path is taken, and the caller
          // retries as a replace.
          const taken = await trx.selectFrom('files').select('id').where('owner', '=', owner).where('path', '=', path).executeTakeFirst();
          throw taken ? alreadyExists() : overQuota;
        }
        if (parentPath !== '') {
          let check = trx.selectFrom('files').select(['path', 'is_folder']).where('owner', '=', owner).where('path', 'in', ancestors(parentPath));
          if (this.caps.rowLocks) check = check.forShare();
          const parent = (await check.execute()).find((r) => r.path === parentPath);
          if (parent?.is_folder !== 1) return undefined;
        }
        const row = await trx
          .insertInto('files')
          .values({ owner, parent_path: parentPath, name: path.slice(cut + 1), path, task_id: null, ...columns })
          .returningAll()
          .executeTakeFirstOrThrow();
        return toFileRecord(row);
      });
    } catch (error) {
      if (this.caps.isUniqueViolation(error)) throw alreadyExists();
      throw error;
    }
  }

  /**
   * Inside the transaction that then writes: the refusal for `newSize` bytes (in a new file, or
   * `replacing` one) when the owner's files would take more than their quota, else undefined.
   * On PostgreSQL the owner's users row is locked (FOR NO KEY UPDATE: a new app password's
   * foreign-key check, FOR KEY SHARE, need not wait) until the commit, so quota-checked writes of
   * one owner take turns on every node, and the sum below, a new statement under READ COMMITTED,
   * sees every such write committed before. On SQLite the transaction already runs alone: the
   * group-commit driver keeps every other statement out while it is open, and its sum also sees
   * the writes of the group not yet committed, which commit or fail together with this one. A
   * write that does not grow is not checked (nor locked for), so an owner over a lowered quota
   * can still shrink or delete files.
   */
  private async quotaRefusal(
    trx: Transaction<Database>,
    owner: string,
    newSize: number,
    replacing?: { id: number; size: number },
  ): Promise<DomainError | undefined> {
    if (newSize <= (replacing?.size ?? 0)) return undefined;
    let quotaOf = trx.selectFrom('users').select('quota_bytes').where('id', '=', owner);
    if (this.caps.rowLocks) quotaOf = quotaOf.forNoKeyUpdate();
    const quota = (await quotaOf.executeTakeFirst())?.quota_bytes;
    // No row: an owner this server never stored (an ExApp's user), who has no quota.
    if (quota === null || quota === undefined) return undefined;
    // The other files: the one being replaced counts with its new size.
    const available = Number(quota) - (await usedBytesOn(trx, owner, replacing?.id));
    return newSize > available ? notEnoughSpace(newSize, available) : undefined;
  }
}

/** Bytes of the owner's files (not task outputs), leaving out the file `exceptId` when given. */
async function usedBytesOn(db: Kysely<Database>, owner: string, exceptId?: number): Promise<number> {
  let query = db
    .selectFrom('files')
    .select((eb) => eb.fn.coalesce(eb.fn.sum<number | string | null>('size'), eb.lit(0)).as('used'))
    .where('owner', '=', owner)
    .where('task_id', 'is', null);
  if (exceptId !== undefined) query = query.where('id', '<>', exceptId);
  const row = await query.executeTakeFirstOrThrow();
  // PostgreSQL's sum of bigint is numeric, which node-postgres hands back as a string.
  return Number(row.used);
}

// Sabre's message for MKCOL on an existing path; a PUT that loses a race for a new path retries as a replace.
const alreadyExists = () => new DomainError('method_not_allowed', 'The resource you tried to create already exists');

const contentColumns = (c: FileContent) => ({ mime: c.mime, size: c.size, sha256: c.sha256, etag: c.etag, storage_key: c.storageKey });

/** "a/b/c" → ["a", "a/b", "a/b/c"]; at most 100 (files/paths.ts limits the depth). */
function ancestors(path: string): string[] {
  const parts = path.split('/');
  return parts.map((_, i) => parts.slice(0, i + 1).join('/'));
}

function* chunks<T>(items: T[]): Generator<T[]> {
  for (let i = 0; i < items.length; i += ID_CHUNK) yield items.slice(i, i + ID_CHUNK);
}

function toFileRecord(row: FileRow): FileRecord {
  return {
    id: Number(row.id),
    owner: row.owner,
    path: row.path,
    name: row.name,
    isFolder: row.is_folder === 1,
    mime: row.mime,
    size: Number(row.size),
    sha256: row.sha256,
    etag: row.etag,
    storageKey: row.storage_key,
    taskId: row.task_id === null ? null : Number(row.task_id),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}
