/**
 * Uploads 1 GiB through WebDAV PUT to a real taskproc process and samples that process's RSS,
 * to show that uploads stream to disk with flat memory. Run: npm run bench:upload-memory
 * (SIZE_MIB=... to change the size). Prints a Markdown table row for docs/BENCHMARKS.md.
 */
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';

const SIZE_MIB = Number(process.env.SIZE_MIB ?? 1024);
const PORT = 18000 + Math.floor(Math.random() * 1000);
const dir = mkdtempSync(join(tmpdir(), 'taskproc-bench-'));
const env = { ...process.env, TASKPROC_DATA_DIR: dir, TASKPROC_PORT: String(PORT), TASKPROC_LOG_LEVEL: 'warn', TASKPROC_MAX_UPLOAD: String(4 * 1024 ** 3) };

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

async function main(): Promise<void> {
  execFileSync('node', ['bin/taskproc.js', 'user:add', 'bench', '--password-from-env'], { env: { ...env, TASKPROC_PASS: 'bench-password' } });
  const token = execFileSync('node', ['bin/taskproc.js', 'user:app-password', 'bench'], { env }).toString().trim().split('\n').pop() as string;
  const server = spawn('node', ['bin/taskproc.js', 'serve'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => server.stdout.on('data', (d: Buffer) => d.toString().includes('listening') && resolve()));
  const pid = server.pid as number;
  await new Promise((r) => setTimeout(r, 500));
  const before = rssMiB(pid);
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 50);

  const chunk = Buffer.alloc(1024 * 1024, 7);
  let sent = 0;
  const body = new Readable({
    read() {
      if (sent >= SIZE_MIB) return this.push(null);
      sent++;
      this.push(chunk);
    },
  });
  const started = Date.now();
  const status = await new Promise<number>((resolve, reject) => {
    const req = http.request(
      {
        port: PORT,
        host: '127.0.0.1',
        method: 'PUT',
        path: '/remote.php/dav/files/bench/big.bin',
        headers: { authorization: `Basic ${Buffer.from(`bench:${token}`).toString('base64')}`, 'content-length': SIZE_MIB * 1024 * 1024 },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    body.pipe(req);
  });
  const seconds = (Date.now() - started) / 1000;
  clearInterval(sampler);
  server.kill('SIGTERM');
  await new Promise((r) => server.on('exit', r));
  rmSync(dir, { recursive: true, force: true });
  if (status !== 201) throw new Error(`PUT answered ${status}`);
  console.log(`| upload ${SIZE_MIB} MiB (WebDAV PUT) | RSS before ${before.toFixed(0)} MiB | peak ${peak.toFixed(0)} MiB | +${(peak - before).toFixed(0)} MiB | ${(SIZE_MIB / seconds).toFixed(0)} MiB/s |`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
