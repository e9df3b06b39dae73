// `npm run test:one -- <file.test.ts> [more files] [--postgres] [--test-name-pattern=<regex>]`: runs
// the given test files, on SQLite unless --postgres (then the API tests' server and the store
// suites use the PostgreSQL of TASKPROC_TEST_DATABASE_URL). TASKPROC_TEST_DIALECT and
// TEST_DIALECTS, when set, win over the default. Node's own --test-* flags are passed on.
import { existsSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from './child.js';

const USAGE = 'Usage: npm run test:one -- <path/to/file.test.ts> [more files] [--postgres] [--test-name-pattern=<regex>]';
const args = process.argv.slice(2);
const postgres = args.includes('--postgres');
const nodeFlags = args.filter((a) => a.startsWith('--test-'));
const unknown = args.filter((a) => a.startsWith('-') && a !== '--postgres' && !a.startsWith('--test-'));
// npm runs scripts in the project folder; a path is taken from the folder npm was started in (INIT_CWD).
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const files = args.filter((a) => !a.startsWith('-')).map((f) => relative(ROOT, resolve(process.env.INIT_CWD ?? process.cwd(), f)));

if (unknown.length > 0 || files.length === 0) {
  console.error(unknown.length > 0 ? `Error: unknown option ${unknown[0]}` : 'Error: name a test file');
  console.error(USAGE);
  process.exit(2);
}
process.chdir(ROOT);
const missing = files.find((f) => !existsSync(f));
if (missing !== undefined) {
  console.error(`Error: no such file: ${missing}`);
  process.exit(2);
}

const env = {
  TASKPROC_TEST_DIALECT: postgres ? 'postgres' : (process.env.TASKPROC_TEST_DIALECT ?? 'sqlite'),
  TEST_DIALECTS: postgres ? 'postgres' : (process.env.TEST_DIALECTS ?? 'sqlite'),
};
console.error(`test:one on ${env.TASKPROC_TEST_DIALECT} (store suites on ${env.TEST_DIALECTS}): ${files.join(' ')}`);
process.exitCode = await run(['--import', 'tsx', '--test', ...nodeFlags, ...files], env);
