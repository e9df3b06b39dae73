import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'taskproc.js');
const ENTRY = join(ROOT, 'dist', 'cli', 'index.js');

const newest = (dir: string): number =>
  readdirSync(dir, { withFileTypes: true }).reduce((max, e) => {
    const p = join(dir, e.name);
    return Math.max(max, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }, 0);

/**
 * Builds dist/ when it is missing or older than src/, so the tests run the binary users run.
 * tsc's exit status is not checked: it still emits when some other file has a type error, and
 * `npm test` type-checks the whole tree before running any test.
 */
export function ensureBuilt(): void {
  if (existsSync(ENTRY) && statSync(ENTRY).mtimeMs >= newest(join(ROOT, 'src'))) return;
  const tsc = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, encoding: 'utf8' });
  if (!existsSync(ENTRY)) throw new Error(`building dist/ failed:\n${tsc.stdout}${tsc.stderr}`);
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node bin/taskproc.js <args>` (from the project folder unless `cwd`). The child sees none of this process's TASKPROC_* variables,
 * so a developer's or CI's settings (a Postgres URL, say) cannot leak into the test database.
 */
export function runCli(args: string[], env: Record<string, string> = {}, opts: { cwd?: string } = {}): Promise<CliResult> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TASKPROC_')));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? ROOT, env: { ...base, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * A new temporary data directory holding a migrated database, as the server's first start (or
 * `taskproc migrate`) leaves it: the other admin commands refuse to create one.
 */
export async function migratedDataDir(prefix = 'taskproc-cli-'): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const r = await runCli(['migrate', '--data-dir', dir]);
  if (r.code !== 0) throw new Error(`taskproc migrate failed (exit ${r.code}):\n${r.stdout}${r.stderr}`);
  return dir;
}
