// Builds dist/ when it is missing or older than any source file, so `npm start` works on a fresh clone.
// Run as a script (the bench commands) or imported (scripts/start.js, which then serves in-process).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const STAMP = join(ROOT, 'dist', 'cli', 'index.js');

const newest = (dir) =>
  readdirSync(dir, { withFileTypes: true }).reduce((max, e) => {
    const p = join(dir, e.name);
    return Math.max(max, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }, 0);

/** Builds with the project's TypeScript (a child process that ends before this returns); throws when that fails. */
export function ensureBuilt() {
  if (existsSync(STAMP) && statSync(STAMP).mtimeMs >= newest(join(ROOT, 'src'))) return;
  let tsc;
  try {
    tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  } catch {
    throw new Error('dist/ is missing or older than src/, and TypeScript is not installed to build it: run `npm install`, then `npm run build`.');
  }
  console.error('Building taskproc...');
  const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`Building taskproc failed (tsc exited with ${r.status ?? r.signal}); see the errors above.`);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    ensureBuilt();
  } catch (err) {
    console.error(`Error: ${err.message}`);
    process.exit(1);
  }
}
