/**
 * The storage floor of `get` on SQLite: a bare node:http server that, for every GET, reads the
 * task named by the path's last segment from the same SQLite file taskproc serves (one prepared
 * `SELECT … WHERE id = ?`, the store's read by primary key), encodes the row with JSON.stringify,
 * and answers the canned answer's bytes (the same size as taskproc's). No auth, no framework, no
 * OCS envelope: what a server that reads SQLite on every request can reach on this machine,
 * measured in the same rounds as the ceiling. Run as its own child process by
 * bench/lib/floor-server.ts; argv[2] is the store's taskproc.db, argv[3] the canned answer's body.
 */
import http from 'node:http';
import BetterSqlite3 from 'better-sqlite3';
import { serveAsFloor } from './floor-child.js';

const [file, answer = '{}'] = process.argv.slice(2);
if (!file) throw new Error('usage: read-floor-server <taskproc.db> [answer body]');
const db = new BetterSqlite3(file, { readonly: true });
const read = db.prepare('SELECT * FROM tasks WHERE id = ?');
const body = Buffer.from(answer);

const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const id = Number((req.url ?? '').split('?')[0]?.split('/').pop());
    const row = read.get(id);
    if (row === undefined) {
      res.writeHead(404).end();
      return;
    }
    // The encoding a server must do; the bytes sent are the canned answer's, so sizes match.
    JSON.stringify(row);
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length });
    res.end(body);
  });
});
serveAsFloor(server, () => db.close());
