/**
 * Uploads 1 GiB through WebDAV PUT to a real taskproc process, downloads it again, and samples
 * that process's RSS, to show that file contents stream with flat memory both ways. Run:
 * npm run bench:upload-memory [-- --file-storage database] (SIZE_MIB=... to change the size;
 * TASKPROC_DATABASE_URL=postgres://… to use PostgreSQL, whose schema is then left for you to drop).
 * Prints Markdown table rows for docs/BENCHMARKS.md.
 */
import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';

const SIZE_MIB = Number(process.env.SIZE_MIB ?? 1024);
const PORT = 18000 + Math.floor(Math.random() * 1000);
const { values: flags } = parseArgs({ options: { 'file-storage': { type: 'string' } } });
const FILE_STORAGE = flags['file-storage'] ?? process.env.TASKPROC_FILE_STORAGE ?? 'disk';
const DATABASE = process.env.TASKPROC_DATABASE_URL?.startsWith('postgres') ? 'PostgreSQL' : 'SQLite';
const dir = mkdtempSync(join(tmpdir(), 'taskproc-bench-'));
const env = {
  ...process.env,
  TASKPROC_DATA_DIR: dir,
  TASKPROC_PORT: String(PORT),
  TASKPROC_LOG_LEVEL: 'warn',
  TASKPROC_MAX_UPLOAD: String(4 * 1024 ** 3),
  TASKPROC_FILE_STORAGE: FILE_STORAGE,
};

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

async function main(): Promise<void> {
  // Admin commands refuse to create a database; the server's first start or `migrate` does.
  execFileSync('node', ['bin/taskproc.js', 'migrate'], { env });
  execFileSync('node', ['bin/taskproc.js', 'user:add', 'bench', '--password-from-env'], { env: { ...env, TASKPROC_PASS: 'bench-password' } });
  const token = execFileSync('node', ['bin/taskproc.js', 'user:app-password', 'bench'], { env }).toString().trim().split('\n').pop() as string;
  const server = spawn('node', ['bin/taskproc.js', 'serve'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => server.stdout.on('data', (d: Buffer) => d.toString().includes('listening') && resolve()));
  const pid = server.pid as number;
  await new Promise((r) => setTimeout(r, 500));
  const before = rssMiB(pid);
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 50);

  // Random bytes, not a constant fill: PostgreSQL compresses large bytea values, and a run of
  // one byte would shrink to nothing and measure the wrong thing.
  const chunk = randomBytes(1024 * 1024);
  let sent = 0;
  const body = new Readable({
    read() {
      if (sent >= SIZE_MIB) return this.push(null);
      sent++;
      this.push(chunk);
    },
  });
  const auth = `Basic ${Buffer.from(`bench:${token}`).toString('base64')}`;
  const path = '/remote.php/dav/files/bench/big.bin';
  const started = Date.now();
  const status = await new Promise<number>((resolve, reject) => {
    const req = http.request(
      { port: PORT, host: '127.0.0.1', method: 'PUT', path, headers: { authorization: auth, 'content-length': SIZE_MIB * 1024 * 1024 } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    body.pipe(req);
  });
  const seconds = (Date.now() - started) / 1000;
  const uploadPeak = peak;

  // The download: a server reading ahead of the client, or holding the file, would show in its RSS.
  await new Promise((r) => setTimeout(r, 500));
  const beforeDownload = rssMiB(pid);
  peak = beforeDownload;
  const downloadStarted = Date.now();
  const received = await new Promise<number>((resolve, reject) => {
    http
      .get({ port: PORT, host: '127.0.0.1', path, headers: { authorization: auth } }, (res) => {
        let bytes = 0;
        res.on('data', (d: Buffer) => (bytes += d.length));
        res.on('end', () => resolve(res.statusCode === 200 ? bytes : -1));
        res.on('error', reject);
      })
      .on('error', reject);
  });
  const downloadSeconds = (Date.now() - downloadStarted) / 1000;
  clearInterval(sampler);
  server.kill('SIGTERM');
  await new Promise((r) => server.on('exit', r));
  // The server took the setting: contents in the database leave no files on disk.
  const onDisk = existsSync(join(dir, 'files'));
  rmSync(dir, { recursive: true, force: true });
  if (onDisk !== (FILE_STORAGE === 'disk')) throw new Error(`${FILE_STORAGE} storage, yet ${onDisk ? 'a' : 'no'} files directory`);
  if (status !== 201) throw new Error(`PUT answered ${status}`);
  if (received !== SIZE_MIB * 1024 * 1024) throw new Error(`GET returned ${received} bytes`);
  const where = `${FILE_STORAGE === 'database' ? `database (${DATABASE})` : 'disk'}`;
  console.log(
    `| upload ${SIZE_MIB} MiB (WebDAV PUT), ${where} | RSS before ${before.toFixed(0)} MiB | peak ${uploadPeak.toFixed(0)} MiB | +${(uploadPeak - before).toFixed(0)} MiB | ${(SIZE_MIB / seconds).toFixed(0)} MiB/s |`,
  );
  console.log(
    `| download ${SIZE_MIB} MiB (WebDAV GET), ${where} | RSS before ${beforeDownload.toFixed(0)} MiB | peak ${peak.toFixed(0)} MiB | +${(peak - beforeDownload).toFixed(0)} MiB | ${(SIZE_MIB / downloadSeconds).toFixed(0)} MiB/s |`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
