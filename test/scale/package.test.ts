import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, relative, sep } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { until } from '../helpers/until.js';

/**
 * Issue 21, item 5: the package as a user gets it. `npm pack` (its prepack builds), then
 * `npm install -g` of the tarball into an empty prefix, as a user does, with dependencies from the
 * registry (npm's cache) and their install scripts (better-sqlite3 compiles here: its prebuilt
 * binaries are on GitHub), then the installed `taskproc` run from a folder outside the checkout,
 * with none of npm's script variables and no PATH entry into the checkout.
 *
 * The tarball is packed from a copy of the source tree: prepack empties and rebuilds dist/, which
 * the tests running beside this one are using. The copy borrows the checkout's node_modules for
 * the build (typescript); the install never sees it.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string; devDependencies: Record<string, string> };
/** The packages with install scripts, allowed by name as the README tells users to (npm 11 asks for it). */
const NATIVE = ['argon2', 'better-sqlite3'];
/** Compiling better-sqlite3's SQLite takes 1.5 to 3 minutes on two busy cores. */
const INSTALL_MS = 10 * 60_000;
const PASSWORD = 'package-admin-password';
const BOB_PASSWORD = 'package-bob-password';
const V2 = '/ocs/v2.php/taskprocessing';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Children still running, with their process groups (npm's install scripts run make and the compiler), killed however this file ends. */
const children = new Set<ChildProcess>();
const killAll = () => {
  for (const c of children) {
    try {
      process.kill(-(c.pid as number), 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
};
process.on('exit', killAll);
// The test runner ends a file that runs over its time with SIGTERM, which skips 'exit' hooks.
process.once('SIGTERM', () => {
  killAll();
  process.exit(143);
});

/**
 * A user's shell: this process's environment without npm's script variables (this file runs under
 * `npm test`), TASKPROC_* settings or NODE_OPTIONS, and without PATH entries inside the checkout.
 */
function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(npm_|taskproc_|init_cwd$|node_options$)/i.test(k)));
  const inCheckout = (p: string) => !relative(ROOT, p).startsWith('..');
  env.PATH = (process.env.PATH ?? '')
    .split(delimiter)
    .filter((p) => p !== '' && !inCheckout(p))
    .join(delimiter);
  return { ...env, ...extra };
}

/** Starts `command` in a process group of its own, in `cwd`, with the user's environment plus `env`. */
function start(command: string, args: string[], cwd: string, env: Record<string, string> = {}): ChildProcess & { output: () => string } {
  const child = spawn(command, args, { cwd, env: userEnv(env), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (out += s));
  return Object.assign(child, { output: () => out });
}

/** Runs `command` to its end (its group killed after `timeoutMs`). */
function run(command: string, args: string[], cwd: string, env: Record<string, string> = {}, timeoutMs = 60_000): Promise<Run> {
  const child = spawn(command, args, { cwd, env: userEnv(env), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const timer = setTimeout(() => process.kill(-(child.pid as number), 'SIGKILL'), timeoutMs);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, stdout, stderr: signal === null ? stderr : `${stderr}\n(killed by ${signal} after ${timeoutMs} ms)` });
    });
  });
}

/** Every file under `dir`, as paths relative to it with forward slashes. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)).split(sep).join('/'));
}

/** The packages installed under `nodeModules`, nested ones included, each with the names it depends on. */
function installedPackages(nodeModules: string): { name: string; needs: string[] }[] {
  if (!existsSync(nodeModules)) return [];
  const dirs = readdirSync(nodeModules)
    .filter((n) => !n.startsWith('.'))
    .flatMap((n) => (n.startsWith('@') ? readdirSync(join(nodeModules, n)).map((m) => `${n}/${m}`) : [n]));
  return dirs.flatMap((name) => {
    const dir = join(nodeModules, name);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>;
    const needs = [pkg.dependencies, pkg.optionalDependencies, pkg.peerDependencies].flatMap((deps) => Object.keys(deps ?? {}));
    return [{ name, needs }, ...installedPackages(join(dir, 'node_modules'))];
  });
}

describe('the npm package', { timeout: INSTALL_MS + 5 * 60_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), 'taskproc-package-'));
  const source = join(work, 'source');
  const prefix = join(work, 'prefix');
  const home = join(work, 'home');
  const dataDir = join(home, 'data');
  const installed = join(prefix, 'lib', 'node_modules', PKG.name);
  const taskproc = join(prefix, 'bin', 'taskproc');
  let packed: string[] = [];
  /** Seconds each step took, reported by the first test: the install is most of this file's time. */
  const seconds: Record<string, number> = {};
  const timed = async <T>(step: string, f: () => Promise<T>): Promise<T> => {
    const started = Date.now();
    try {
      return await f();
    } finally {
      seconds[step] = Math.round((Date.now() - started) / 1000);
    }
  };

  before(
    async () => {
      const skip = new Set(['node_modules', 'dist', 'data', '.git', '.tmp']);
      cpSync(ROOT, source, { recursive: true, filter: (from) => !skip.has(relative(ROOT, from).split(sep)[0] as string) });
      symlinkSync(join(ROOT, 'node_modules'), join(source, 'node_modules'), 'dir');
      const pack = await timed('npm pack', () => run('npm', ['pack', '--json', '--pack-destination', work], source, {}, 5 * 60_000));
      assert.equal(pack.code, 0, `npm pack failed:\n${pack.stdout}${pack.stderr}`);
      const [result] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
      assert.ok(result);
      packed = result.files.map((f) => f.path);

      mkdirSync(prefix);
      mkdirSync(home);
      const install = await timed('npm install -g', () =>
        run(
          'npm',
          [
            'install',
            '--global',
            '--prefix',
            prefix,
            '--prefer-offline',
            '--no-audit',
            '--no-fund',
            `--allow-scripts=${NATIVE.join(',')}`,
            join(work, result.filename),
          ],
          home,
          {},
          INSTALL_MS,
        ),
      );
      assert.equal(install.code, 0, `npm install -g failed:\n${install.stdout}${install.stderr}`);
    },
    { timeout: INSTALL_MS + 5 * 60_000 },
  );

  after(() => rmSync(work, { recursive: true, force: true }));

  it('packs the built files, bin and docs, and none of the sources, tests, benchmarks or source maps', (t) => {
    t.diagnostic(`seconds taken: ${JSON.stringify(seconds)}`);
    for (const f of ['package.json', 'README.md', 'LICENSE', 'bin/taskproc.js']) assert.ok(packed.includes(f), `${f} is in the tarball`);
    const sources = filesUnder(join(ROOT, 'src')).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'));
    const missing = sources.map((f) => `dist/${f.replace(/\.ts$/, '.js')}`).filter((f) => !packed.includes(f));
    assert.deepEqual(missing, [], 'every compiled module (migrations included) is in the tarball');
    const unwanted = packed.filter((f) => /^(src|test|bench|scripts|docs|\.ci)\//.test(f) || /\.(ts|map)$/.test(f));
    assert.deepEqual(unwanted, []);
  });

  it('installs into the empty prefix as files of its own, with the runtime dependencies and no development tool', () => {
    assert.equal(lstatSync(installed).isSymbolicLink(), false, 'the package is extracted, not linked to a folder');
    assert.deepEqual(readdirSync(join(prefix, 'lib', 'node_modules')), [PKG.name]);
    assert.deepEqual(
      filesUnder(installed)
        .filter((f) => !f.startsWith('node_modules/'))
        .sort(),
      [...packed].sort(),
    );
    const packages = installedPackages(join(installed, 'node_modules'));
    const names = new Set(packages.map((p) => p.name));
    for (const native of NATIVE) assert.ok(names.has(native), `${native} is installed`);
    // A development dependency may be there only because a runtime package needs it too (fastify uses ajv).
    const needed = new Set(packages.flatMap((p) => p.needs));
    const devOnly = Object.keys(PKG.devDependencies).filter((d) => !needed.has(d));
    assert.ok(devOnly.includes('typescript') && devOnly.includes('tsx'));
    assert.deepEqual(
      devOnly.filter((d) => names.has(d)),
      [],
    );
  });

  it('runs --version, migrate, serve and the admin commands from the prefix, outside the checkout, and stops cleanly on SIGTERM', async () => {
    const version = await run(taskproc, ['--version'], home);
    assert.equal(version.code, 0, version.stderr);
    assert.equal(version.stdout.trim(), `taskproc ${PKG.version}`);

    const env = { TASKPROC_DATA_DIR: dataDir };
    const migrate = await run(taskproc, ['migrate'], home, env);
    assert.equal(migrate.code, 0, `${migrate.stdout}${migrate.stderr}`);

    const server = start(taskproc, ['serve'], home, { ...env, TASKPROC_PORT: '0', TASKPROC_ADMIN_PASSWORD: PASSWORD });
    const exited = new Promise<number | null>((resolve) => server.on('exit', (code) => resolve(code)));
    try {
      let url = '';
      await until(
        'the installed server to say where it listens',
        () => {
          url = /taskproc is listening on (http:\/\/\S+)/.exec(server.output())?.[1] ?? '';
          return url !== '' || server.exitCode !== null;
        },
        60_000,
        { everyMs: 50 },
      );
      assert.notEqual(url, '', server.output());
      const headers = (user: string, password: string) => ({
        authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
        'ocs-apirequest': 'true',
        accept: 'application/json',
      });
      const admin = headers('admin', PASSWORD);

      const caps = await fetch(`${url}/ocs/v2.php/cloud/capabilities`, { headers: admin });
      assert.equal(caps.status, 200);
      const capabilities = (await caps.json()) as { ocs: { data: { capabilities: { taskprocessing: { version: string } } } } };
      assert.equal(capabilities.ocs.data.capabilities.taskprocessing.version, PKG.version);

      // Speech from eSpeak: its WebAssembly and voice data are read from the installed dependency.
      const scheduled = await fetch(`${url}${V2}/schedule`, {
        method: 'POST',
        headers: { ...admin, 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'core:text2speech', appId: 'package-test', input: { input: 'Installed from the tarball.' } }),
      });
      const body = (await scheduled.json()) as { ocs: { data: { task: { id: number } } } };
      assert.equal(scheduled.status, 200, JSON.stringify(body));
      const id = body.ocs.data.task.id;
      let task: { status: string; output: { speech?: number } | null } | undefined;
      await until(
        'the speech task to end',
        async () => {
          const r = await fetch(`${url}${V2}/task/${id}`, { headers: admin });
          task = ((await r.json()) as { ocs: { data: { task: typeof task } } }).ocs.data.task;
          return task?.status !== 'STATUS_SCHEDULED' && task?.status !== 'STATUS_RUNNING';
        },
        60_000,
        { everyMs: 100, describe: server.output },
      );
      assert.equal(task?.status, 'STATUS_SUCCESSFUL', `${JSON.stringify(task)}\n${server.output()}`);
      const wav = await fetch(`${url}${V2}/tasks/${id}/file/${task?.output?.speech}`, { headers: admin });
      assert.equal(wav.status, 200);
      const bytes = Buffer.from(await wav.arrayBuffer());
      assert.equal(`${bytes.toString('ascii', 0, 4)}${bytes.toString('ascii', 8, 12)}`, 'RIFFWAVE');

      // An admin command on the running server's data: the server sees the user at once.
      const add = await run(taskproc, ['user:add', 'bob', '--password-from-env'], home, { ...env, TASKPROC_PASS: BOB_PASSWORD });
      assert.equal(add.code, 0, `${add.stdout}${add.stderr}`);
      const bobs = await fetch(`${url}${V2}/tasktypes`, { headers: headers('bob', BOB_PASSWORD) });
      assert.equal(bobs.status, 200, await bobs.text());
      const list = await run(taskproc, ['user:list', '--output', 'json'], home, env);
      assert.equal(list.code, 0, list.stderr);
      assert.deepEqual((JSON.parse(list.stdout) as { uid: string }[]).map((u) => u.uid).sort(), ['admin', 'bob']);

      server.kill('SIGTERM');
      assert.equal(await exited, 0, server.output());
      assert.match(server.output(), /SIGTERM: shutting down/);
    } finally {
      if (server.exitCode === null) process.kill(-(server.pid as number), 'SIGKILL');
    }
  });
});
