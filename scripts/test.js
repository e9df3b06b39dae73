// `npm test`: build, type-check, lint and format check, then every test on SQLite (store tests on each database of
// TEST_DIALECTS, both by default), then the API and file tests again on PostgreSQL. Each test phase
// runs whatever the one before it did, so one failing test does not hide the results of the
// hundreds after it; the summary at the end names what failed, and the exit code is 1 if anything did.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BIOME, run, TSC } from './child.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
process.chdir(ROOT);

/** test/<folder>/*.test.ts for the given folders (every folder when none), in a stable order. */
function testFiles(...folders) {
  const dirs =
    folders.length > 0
      ? folders
      : readdirSync('test', { withFileTypes: true })
          .filter((e) => e.isDirectory())
          .map((e) => e.name);
  return dirs
    .flatMap((dir) =>
      readdirSync(join('test', dir))
        .filter((f) => f.endsWith('.test.ts'))
        .map((f) => `test/${dir}/${f}`),
    )
    .sort();
}

// A terminal gets Node's readable reporter; anything else (CI, a file) its TAP, as before.
const NODE_TEST = ['--import', 'tsx', '--test', '--test-concurrency=2', ...(process.stdout.isTTY ? ['--test-reporter=spec'] : [])];

/** `stopsAll`: the later steps need this one (the CLI and scale tests run the built binary). */
const STEPS = [
  { name: 'build', args: [TSC, '-p', 'tsconfig.build.json'], stopsAll: true },
  { name: 'typecheck', args: [TSC, '--noEmit', '-p', '.'] },
  { name: 'lint and format check (Biome)', args: [BIOME, 'check', '.'] },
  { name: 'tests (SQLite; store tests on every database of TEST_DIALECTS)', args: [...NODE_TEST, ...testFiles()], counts: true },
  {
    name: 'API and file tests on PostgreSQL',
    args: [...NODE_TEST, ...testFiles('api', 'files')],
    env: { TASKPROC_TEST_DIALECT: 'postgres' },
    counts: true,
  },
];

const results = [];
/** Tests passed and failed over every test step, from the closing counts of Node's reporters (TAP `# pass N`, spec `ℹ pass N`). */
const totals = { pass: 0, fail: 0 };
const countLine = (line) => {
  const m = /^(?:#|ℹ) (pass|fail) (\d+)\s*$/.exec(line);
  if (m) totals[m[1]] += Number(m[2]);
};
for (const step of STEPS) {
  console.log(`\n=== npm test: ${step.name} ===\n`);
  const started = Date.now();
  const code = await run(step.args, step.env, step.counts ? countLine : undefined);
  results.push({ name: step.name, code, seconds: Math.round((Date.now() - started) / 1000) });
  // Stopped by Ctrl-C or a stop signal (128 + 2, 128 + 15): the run is over.
  if (code === 130 || code === 143 || (code !== 0 && step.stopsAll)) break;
}

console.log('\n=== npm test: summary ===');
for (const r of results) console.log(`  ${r.code === 0 ? 'ok  ' : 'FAIL'}  ${r.name} (${r.seconds} s${r.code === 0 ? '' : `, exit ${r.code}`})`);
for (const step of STEPS.slice(results.length)) console.log(`  skip  ${step.name}`);
const failed = results.some((r) => r.code !== 0) || results.length < STEPS.length;
console.log(failed ? 'npm test: FAILED' : 'npm test: all passed');
// The plain closing line that test-result readers look for.
console.log(`${totals.pass} passed, ${totals.fail} failed`);
process.exitCode = failed ? 1 : 0;
