// Builds dist/ when it is missing or older than any source file, so `npm start` works on a fresh clone.
import { execSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const newest = (dir) =>
  readdirSync(dir, { withFileTypes: true }).reduce((max, e) => {
    const p = join(dir, e.name);
    return Math.max(max, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }, 0);

const stamp = 'dist/cli/index.js';
if (!existsSync(stamp) || statSync(stamp).mtimeMs < newest('src')) {
  console.error('Building taskproc...');
  execSync('npx tsc -p tsconfig.build.json', { stdio: 'inherit' });
}
