import type { ColumnType } from 'kysely';

/**
 * The tables as Kysely sees them. Portable types only: booleans are 0/1 integers and JSON is text,
 * so SQLite and PostgreSQL store the same values. Kysely's Migrator keeps its own tables
 * (kysely_migration, kysely_migration_lock); they are not listed here because nothing else reads them.
 */
export interface Database {
  users: UsersTable;
  app_passwords: AppPasswordsTable;
  settings: SettingsTable;
  tasks: TasksTable;
  files: FilesTable;
  exapps: ExAppsTable;
  exapp_providers: ExAppProvidersTable;
  blob_chunks: BlobChunksTable;
  dispatch_parties: DispatchPartiesTable;
}

/**
 * A bigint column: SQLite hands back a number, node-postgres a string (int8 can exceed 2^53),
 * so readers convert with Number(). Unix seconds and row ids stay far below 2^53.
 */
type Int8 = ColumnType<number | string, number, number>;
type NullableInt8 = ColumnType<number | string | null, number | null, number | null>;
/** Assigned by the database; never written. */
type Id = ColumnType<number | string, never, never>;
/** 0 or 1. */
type Flag = number;

export interface UsersTable {
  id: string;
  display_name: string;
  password_hash: string | null;
  is_admin: Flag;
  is_guest: Flag;
  enabled: Flag;
  auth_epoch: number;
  created_at: Int8;
  /** null: no quota. */
  quota_bytes: NullableInt8;
}

export interface AppPasswordsTable {
  id: Id;
  user_id: string;
  token_hash: string;
  name: string;
  created_at: Int8;
  last_used_at: NullableInt8;
}

export interface SettingsTable {
  key: string;
  /** JSON text. */
  value: string;
}

export interface TasksTable {
  id: Id;
  type: string;
  status: number;
  user_id: string | null;
  anon_key: string | null;
  app_id: string;
  custom_id: string;
  /** JSON text. */
  input: string;
  /** JSON text. */
  output: string | null;
  progress: number | null;
  error_message: string | null;
  user_facing_error: string | null;
  webhook_uri: string | null;
  webhook_method: string | null;
  include_watermark: Flag;
  allow_cleanup: Flag;
  provider_id: string | null;
  lease_owner: string | null;
  lease_expires_at: NullableInt8;
  attempts: number;
  scheduled_at: NullableInt8;
  started_at: NullableInt8;
  ended_at: NullableInt8;
  last_updated: Int8;
  completion_expected_at: NullableInt8;
  /** JSON text: the latest intermediate output a worker streamed (migration 0004); null when none. */
  partial_output: string | null;
  /** Whether the client asked for progressive output (migration 0008; upstream's default 0). */
  prefer_streaming: Flag;
  /** Dispatch priority, higher first (migration 0009). */
  priority: number;
  /** Virtual start time in the type's fair queue (migration 0009): claims take the lowest within a priority. */
  vtime: Int8;
}

/** Per task type and party, the vtime of the party's newest task (migration 0009). */
export interface DispatchPartiesTable {
  type: string;
  party: string;
  last_vtime: Int8;
}

/**
 * User files and task outputs (migration 0002). A user file has `path` ("a/b/c.txt") and
 * `parent_path` ('' under the root); a task output has neither, and `task_id` instead.
 */
export interface FilesTable {
  id: Id;
  owner: string | null;
  parent_path: string | null;
  name: string;
  path: string | null;
  is_folder: Flag;
  mime: string;
  size: Int8;
  sha256: string | null;
  etag: string;
  /** Names the contents: a blob under <dataDir>/files, or the chunks in blob_chunks; null for folders. */
  storage_key: string | null;
  task_id: NullableInt8;
  created_at: Int8;
  updated_at: Int8;
}

export interface ExAppsTable {
  app_id: string;
  version: string;
  secret_hash: string;
  sealed_secret: string | null;
  base_url: string | null;
  enabled: Flag;
  created_at: Int8;
}

export interface ExAppProvidersTable {
  id: Id;
  app_id: string;
  provider_id: string;
  display_name: string;
  task_type: string;
  provider_json: string;
  custom_task_type_json: string | null;
  registered_at: Int8;
}

/**
 * File contents stored in the database (migration 0006): chunk `seq` (0, 1, …) of the blob
 * `storage_key`. Written once, never updated; see files/db-blob-store.ts for the chunk layout.
 */
export interface BlobChunksTable {
  storage_key: string;
  seq: number;
  /** A Buffer from both drivers (better-sqlite3 BLOB, node-postgres bytea). */
  data: Buffer;
}
