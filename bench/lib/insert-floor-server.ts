/**
 * The storage floor of `schedule` on SQLite: a bare node:http server that, for every POST, parses
 * the JSON body and inserts one row into the real `tasks` table (taskproc's own schema, every
 * index), committing the inserts of two event-loop turns together with `synchronous = FULL` and
 * answering each request only after its commit, as taskproc does (src/store/sqlite-driver.ts).
 * No auth, no validation, no framework: what a durable insert alone costs on this machine,
 * measured in the same round as the ceiling. Run as its own child process by
 * bench/lib/floor-server.ts; argv[2] is a migrated taskproc.db, argv[3] the canned answer's body.
 *
 * With argv[4] = 'one-column' it inserts the input's JSON into a table of its own with only an
 * integer key and that text, and nothing else changes: what the same durable group commit reaches
 * when the row and its indexes cost next to nothing, which bounds what any server on this disk can
 * answer at this concurrency without weakening what a 200 means.
 */
import http from 'node:http';
import BetterSqlite3 from 'better-sqlite3';
import { serveAsFloor } from './floor-child.js';

const [file, answer = '{}', table = 'tasks'] = process.argv.slice(2);
if (!file || (table !== 'tasks' && table !== 'one-column')) throw new Error('usage: insert-floor-server <taskproc.db> [answer body] [tasks|one-column]');
const db = new BetterSqlite3(file);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
type Payload = { type: string; appId: string; customId?: string; input: unknown };
/** Inserts one request's row (its statement prepared once, before the first request). */
const insertRow = ((): ((p: Payload) => void) => {
  if (table === 'one-column') {
    db.exec('CREATE TABLE bench_one_column (id INTEGER PRIMARY KEY, input TEXT NOT NULL)');
    const stmt = db.prepare('INSERT INTO bench_one_column (input) VALUES (?) RETURNING *');
    return (p) => stmt.all(JSON.stringify(p.input));
  }
  const stmt = db.prepare(
    `INSERT INTO tasks (type, status, user_id, app_id, custom_id, input, include_watermark, allow_cleanup, provider_id, attempts, scheduled_at, last_updated, completion_expected_at)
     VALUES (?, 1, 'bench', ?, ?, ?, 1, 1, 'bench:provider', 0, ?, ?, ?) RETURNING *`,
  );
  return (p) => {
    const now = Math.floor(Date.now() / 1000);
    stmt.all(p.type, p.appId, p.customId ?? '', JSON.stringify(p.input), now, now, now + 10);
  };
})();

let group: (() => void)[] | null = null;

function commit(): void {
  const members = group ?? [];
  group = null;
  db.exec('COMMIT');
  for (const reply of members) reply();
}

const server = http.createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk: string) => (body += chunk));
  req.on('end', () => {
    const p = JSON.parse(body) as Payload;
    if (group === null) {
      group = [];
      db.exec('BEGIN IMMEDIATE');
      setImmediate(() => setImmediate(commit));
    }
    insertRow(p);
    group.push(() => {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(answer) });
      res.end(answer);
    });
  });
});
serveAsFloor(server, () => db.close());
