import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tokenHash, verifyPassword } from '../../src/auth/passwords.js';
import { TASK_STATUS } from '../../src/core/task.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';
import { type CliResult, ensureBuilt, migratedDataDir, runCli } from './run-cli.js';

before(ensureBuilt);

/**
 * A fresh data directory per suite, removed afterwards; `cli()` runs the binary against it. It holds
 * a migrated database, as the server's first start leaves it, unless `empty`.
 */
function withDataDir(opts: { empty?: boolean } = {}): { cli(args: string[], env?: Record<string, string>): Promise<CliResult>; dir(): string } {
  let dir = '';
  before(async () => {
    dir = opts.empty ? mkdtempSync(join(tmpdir(), 'taskproc-cli-')) : await migratedDataDir();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  return { cli: (args, env) => runCli([...args, '--data-dir', dir], env), dir: () => dir };
}

/** Opens the same database the CLI wrote, to check what it stored (the CLI's process has exited). */
async function withStore<T>(dir: string, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore({ dataDir: dir, databaseUrl: null });
  try {
    await store.migrate();
    return await fn(store);
  } finally {
    await store.close();
  }
}

function ok(r: CliResult): string {
  assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

function json<T>(r: CliResult): T {
  return JSON.parse(ok(r)) as T;
}

interface UserRow {
  uid: string;
  displayName: string;
  admin: boolean;
  guest: boolean;
  enabled: boolean;
}

describe('taskproc help', () => {
  it('lists every command with a summary, with no arguments, "help" and --help', async () => {
    for (const args of [[], ['help'], ['--help']]) {
      const out = ok(await runCli(args));
      for (const name of ['serve', 'migrate', 'user:add', 'user:app-password:revoke', 'tasktype:set-provider', 'config:set', 'task:list', 'task:cleanup']) {
        assert.match(out, new RegExp(`^  ${name} +\\S`, 'm'), `${name} missing from ${JSON.stringify(args)}`);
      }
    }
  });

  it('prints the usage of one command for <cmd> --help and help <cmd>', async () => {
    for (const args of [
      ['user:add', '--help'],
      ['help', 'user:add'],
    ]) {
      const out = ok(await runCli(args));
      assert.match(out, /^Usage: taskproc user:add <uid> .*--password-from-env/m);
      assert.match(out, /--data-dir/);
    }
  });

  it('prints the version of package.json for --version and -v, and names them in the overview', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    assert.match(version, /^\d+\.\d+\.\d+/);
    for (const args of [['--version'], ['-v']]) {
      const r = await runCli(args);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `taskproc ${version}\n`);
      assert.equal(r.stderr, '');
    }
    assert.match(ok(await runCli(['help'])), /"taskproc --version" \(-v\)/);
  });

  it('exits 2 with a message on stderr for an unknown command', async () => {
    const r = await runCli(['frobnicate']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^Error: Unknown command "frobnicate"/);
    assert.equal(r.stdout, '');
  });
});

describe('taskproc migrate', () => {
  const { cli } = withDataDir({ empty: true });

  it('creates the database and says it is up to date, twice', async () => {
    assert.equal(ok(await cli(['migrate'])).trim(), 'Database is up to date.');
    assert.equal(ok(await cli(['migrate'])).trim(), 'Database is up to date.');
  });
});

describe('taskproc argument errors', () => {
  const { cli } = withDataDir();

  it('prints the usage and exits 2 when an argument is missing', async () => {
    const r = await cli(['user:add']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Error: Missing argument <uid>/);
    assert.match(r.stderr, /Usage: taskproc user:add <uid>/);
  });

  it('exits 2 on an unknown option, an extra argument or a bad option value', async () => {
    for (const args of [
      ['user:list', '--frob'],
      ['user:delete', 'a', 'b'],
      ['user:list', '--output', 'xml'],
      ['task:list', '--limit', '0'],
    ]) {
      const r = await cli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^Error: /);
    }
  });

  it('prints the error first, on its own line of stderr, then the usage, for every kind of command-line mistake', async () => {
    const cases: [string[], string][] = [
      [['app:register'], 'Missing argument <appId>'],
      [['app:register', 'a', 'b'], 'Unexpected argument "b"'],
      [['app:register', 'a', '--frob'], 'Unknown option "--frob"'],
      [['app:register', 'a', '--secret-from-env=x'], "Option '--secret-from-env' does not take an argument"],
      [['app:register', 'a', '--url', 'ftp://host'], '--url: expected an http:// or https:// URL, got "ftp://host"'],
      [['user:add', 'bob', '--admin', '--guest'], '--admin and --guest exclude each other'],
    ];
    for (const [args, message] of cases) {
      const r = await cli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      const lines = r.stderr.split('\n');
      assert.equal(lines[0], `Error: ${message}`, args.join(' '));
      assert.match(lines[1] ?? '', new RegExp(`^Usage: taskproc ${args[0]} `), args.join(' '));
      assert.equal(lines.at(-2), `Run "taskproc ${args[0]} --help" for details.`);
    }
  });

  it('keeps a parse error that Node words on several lines to one line, above the usage', async () => {
    // `--version` followed by another option: Node asks whether its value was forgotten, in three lines.
    const r = await cli(['app:register', 'a', '--version', '--url', 'http://x']);
    assert.equal(r.code, 2, r.stderr);
    const [first, second] = r.stderr.split('\n');
    assert.match(first ?? '', /^Error: Option '--version' argument is ambiguous\. Did you forget .*'--version=-XYZ'\.$/);
    assert.match(second ?? '', /^Usage: taskproc app:register /);
  });

  it('exits 1 with the config message on a bad configuration flag', async () => {
    const r = await cli(['user:list', '--port', 'abc']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim(), 'Error: --port must be a whole number, got "abc"');
  });
});

describe('taskproc user:*', () => {
  const { cli, dir } = withDataDir();
  const listUsers = async () => json<UserRow[]>(await cli(['user:list', '--output', 'json']));

  it('user:add with --password-from-env stores the password from TASKPROC_PASS', async () => {
    const out = ok(await cli(['user:add', 'alice', '--display-name', 'Alice A', '--admin', '--password-from-env'], { TASKPROC_PASS: 's3cret pass' }));
    assert.equal(out.trim(), 'User "alice" created.');
    const hash = await withStore(dir(), async (s) => (await s.users.getUser('alice'))?.passwordHash);
    assert.ok(hash);
    assert.ok(await verifyPassword(hash, 's3cret pass'));
  });

  it('user:add without a password says that only app passwords can log in', async () => {
    const out = ok(await cli(['user:add', 'bob.b@example-1_x', '--guest']));
    assert.match(out, /^User "bob.b@example-1_x" created\.$/m);
    assert.match(out, /no password/);
  });

  it('user:list --output json shows the users, never a password hash', async () => {
    const r = await cli(['user:list', '--output', 'json']);
    assert.deepEqual(JSON.parse(ok(r)), [
      { uid: 'alice', displayName: 'Alice A', admin: true, guest: false, enabled: true },
      { uid: 'bob.b@example-1_x', displayName: 'bob.b@example-1_x', admin: false, guest: true, enabled: true },
    ]);
    assert.doesNotMatch(r.stdout, /argon2/);
  });

  it('user:list prints a table by default', async () => {
    const out = ok(await cli(['user:list']));
    assert.match(out, /^UID +DISPLAY NAME +ADMIN +GUEST +ENABLED$/m);
    assert.match(out, /^alice +Alice A +yes +no +yes$/m);
  });

  it('refuses a user id that is taken, with exit code 1', async () => {
    const r = await cli(['user:add', 'alice']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Error: User "alice" already exists/);
  });

  it('refuses invalid user ids with a message', async () => {
    for (const uid of ['bad/slash', ' lead', 'trail ', '..', 'x'.repeat(65), 'ünï']) {
      const r = await cli(['user:add', uid]);
      assert.equal(r.code, 1, uid);
      assert.match(r.stderr, /^Error: Invalid user id/, uid);
    }
    assert.deepEqual(
      (await listUsers()).map((u) => u.uid),
      ['alice', 'bob.b@example-1_x'],
    );
  });

  it('refuses --password-from-env when TASKPROC_PASS is empty', async () => {
    const r = await cli(['user:add', 'carol', '--password-from-env'], { TASKPROC_PASS: '' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /TASKPROC_PASS is empty/);
    assert.equal(
      (await listUsers()).find((u) => u.uid === 'carol'),
      undefined,
    );
  });

  it('user:disable and user:enable show in the list', async () => {
    assert.equal(ok(await cli(['user:disable', 'alice'])).trim(), 'User "alice" disabled.');
    assert.equal((await listUsers()).find((u) => u.uid === 'alice')?.enabled, false);
    assert.equal(ok(await cli(['user:enable', 'alice'])).trim(), 'User "alice" enabled.');
    assert.equal((await listUsers()).find((u) => u.uid === 'alice')?.enabled, true);
  });

  it('user:reset-password replaces the password and requires --password-from-env', async () => {
    assert.equal((await cli(['user:reset-password', 'alice'])).code, 2);
    ok(await cli(['user:reset-password', 'alice', '--password-from-env'], { TASKPROC_PASS: 'new one' }));
    const hash = await withStore(dir(), async (s) => (await s.users.getUser('alice'))?.passwordHash);
    assert.ok(hash && (await verifyPassword(hash, 'new one')));
  });

  it('fails with exit code 1 on an unknown user', async () => {
    for (const args of [
      ['user:delete', 'nobody'],
      ['user:disable', 'nobody'],
      ['user:app-password', 'nobody'],
      ['user:app-password:list', 'nobody'],
    ]) {
      const r = await cli(args);
      assert.equal(r.code, 1, args.join(' '));
      assert.match(r.stderr, /^Error: User "nobody" does not exist/);
    }
  });

  it('user:delete removes the user', async () => {
    assert.equal(ok(await cli(['user:delete', 'bob.b@example-1_x'])).trim(), 'User "bob.b@example-1_x" deleted.');
    assert.deepEqual(
      (await listUsers()).map((u) => u.uid),
      ['alice'],
    );
  });
});

describe('taskproc user:app-password*', () => {
  const { cli, dir } = withDataDir();
  before(async () => void ok(await cli(['user:add', 'dave'])));

  it('prints a new 72-character token once, on the last line, and stores only its hash', async () => {
    const lines = ok(await cli(['user:app-password', 'dave', '--name', 'laptop']))
      .trimEnd()
      .split('\n');
    assert.equal(lines.length, 2);
    assert.match(lines[0] ?? '', /shown only this once/);
    const token = lines.at(-1) ?? '';
    assert.match(token, /^[A-Za-z0-9]{72}$/);
    const stored = await withStore(dir(), (s) => s.users.findAppPassword(tokenHash(token)));
    assert.equal(stored?.userId, 'dave');
    assert.equal(stored?.name, 'laptop');
  });

  it('lists app passwords without their hashes; the default name is "cli"', async () => {
    ok(await cli(['user:app-password', 'dave']));
    const rows = json<Record<string, unknown>[]>(await cli(['user:app-password:list', 'dave', '--output', 'json']));
    assert.deepEqual(
      rows.map((r) => [r.name, r.lastUsedAt, Object.keys(r).sort()]),
      [
        ['laptop', null, ['createdAt', 'id', 'lastUsedAt', 'name']],
        ['cli', null, ['createdAt', 'id', 'lastUsedAt', 'name']],
      ],
    );
    assert.match(ok(await cli(['user:app-password:list', 'dave'])), /^ID +NAME +CREATED +LAST USED$/m);
  });

  it('revokes one by id, then all, and says how many', async () => {
    ok(await cli(['user:app-password', 'dave']));
    const [first] = json<{ id: number }[]>(await cli(['user:app-password:list', 'dave', '--output', 'json']));
    assert.match(ok(await cli(['user:app-password:revoke', 'dave', '--id', String(first?.id)])), /Revoked 1 app password of user "dave"/);
    assert.match(ok(await cli(['user:app-password:revoke', 'dave'])), /Revoked 2 app passwords of user "dave"/);
    assert.match(ok(await cli(['user:app-password:revoke', 'dave'])), /Revoked 0 app passwords/);
    assert.deepEqual(json(await cli(['user:app-password:list', 'dave', '--output', 'json'])), []);
  });

  it('fails on an id the user does not have', async () => {
    const r = await cli(['user:app-password:revoke', 'dave', '--id', '999']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no app password with id 999/);
  });
});

interface TaskTypeRow {
  id: string;
  enabled: boolean;
  providers: string[];
  preferredProvider: string | null;
  priority: number;
}

describe('taskproc tasktype:*', () => {
  const { cli } = withDataDir();
  const summaryType = async () => json<TaskTypeRow[]>(await cli(['tasktype:list', '--output', 'json'])).find((t) => t.id === 'core:text2text:summary');

  it('tasktype:list shows every core type with its providers', async () => {
    const rows = json<TaskTypeRow[]>(await cli(['tasktype:list', '--output', 'json']));
    assert.equal(rows.length, 29);
    assert.deepEqual(
      rows.find((t) => t.id === 'core:text2text:summary'),
      {
        id: 'core:text2text:summary',
        name: 'Summarize',
        enabled: true,
        providers: ['taskproc:extractive:summary'],
        preferredProvider: 'taskproc:extractive:summary',
        priority: 0,
      },
    );
    assert.deepEqual(rows.find((t) => t.id === 'core:text2image')?.providers, []);
  });

  it('tasktype:set-provider refuses an unknown provider, naming the valid ones', async () => {
    const r = await cli(['tasktype:set-provider', 'core:text2text:summary', 'acme:llm']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Error: Provider "acme:llm" is not registered.*taskproc:extractive:summary/);
  });

  it('tasktype:set-provider refuses a provider of another type', async () => {
    const r = await cli(['tasktype:set-provider', 'core:text2text:summary', 'taskproc:extractive:headline']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /does not serve task type "core:text2text:summary"/);
  });

  it('tasktype:set-provider and unset-provider store the preference', async () => {
    ok(await cli(['tasktype:set-provider', 'core:text2text:summary', 'taskproc:extractive:summary']));
    assert.deepEqual(json(await cli(['config:get', 'provider_preferences'])), { 'core:text2text:summary': 'taskproc:extractive:summary' });
    ok(await cli(['tasktype:unset-provider', 'core:text2text:summary']));
    assert.deepEqual(json(await cli(['config:get', 'provider_preferences'])), {});
    assert.equal((await summaryType())?.preferredProvider, 'taskproc:extractive:summary');
  });

  it('tasktype:disable and enable show in the list', async () => {
    assert.equal(ok(await cli(['tasktype:disable', 'core:text2text:summary'])).trim(), 'Task type "core:text2text:summary" disabled.');
    assert.equal((await summaryType())?.enabled, false);
    assert.deepEqual(json(await cli(['config:get', 'type_preferences'])), { 'core:text2text:summary': false });
    ok(await cli(['tasktype:enable', 'core:text2text:summary']));
    assert.equal((await summaryType())?.enabled, true);
  });

  it('fails on an unknown task type', async () => {
    for (const args of [
      ['tasktype:disable', 'core:nope'],
      ['tasktype:set-provider', 'core:nope', 'x'],
    ]) {
      const r = await cli(args);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^Error: Unknown task type "core:nope"/);
    }
  });
});

describe('taskproc config:*', () => {
  const { cli } = withDataDir();

  it('config:set stores a JSON value and config:get prints it', async () => {
    assert.equal(ok(await cli(['config:get', 'anonymous_access'])).trim(), 'false');
    ok(await cli(['config:set', 'anonymous_access', 'true']));
    assert.equal(ok(await cli(['config:get', 'anonymous_access'])).trim(), 'true');
    ok(await cli(['config:set', 'retention_seconds', '3600']));
    assert.equal(ok(await cli(['config:get', 'retention_seconds'])).trim(), '3600');
  });

  it('config:list shows every setting with its value', async () => {
    const rows = json<{ key: string; value: unknown; isDefault: boolean }[]>(await cli(['config:list', '--output', 'json']));
    assert.deepEqual(
      rows.map((r) => r.key),
      [
        'anonymous_access',
        'guests_allowed',
        'ratelimit_enabled',
        'retention_seconds',
        'provider_preferences',
        'type_preferences',
        'type_priorities',
        'exapp_priority_boost',
      ],
    );
    assert.deepEqual(rows[0], { key: 'anonymous_access', value: true, isDefault: false });
    assert.deepEqual(rows[1], { key: 'guests_allowed', value: false, isDefault: true });
  });

  it('config:delete restores the default', async () => {
    ok(await cli(['config:delete', 'anonymous_access']));
    assert.equal(ok(await cli(['config:get', 'anonymous_access'])).trim(), 'false');
  });

  it('refuses an unknown key, listing the known ones', async () => {
    for (const args of [
      ['config:set', 'anonymous', 'true'],
      ['config:get', 'anonymous'],
    ]) {
      const r = await cli(args);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^Error: Unknown setting "anonymous"/);
      assert.match(r.stderr, /^ +guests_allowed +true\|false/m);
    }
  });

  it('refuses a value the setting does not accept', async () => {
    for (const [key, value] of [
      ['anonymous_access', 'maybe'],
      ['retention_seconds', '0'],
      ['retention_seconds', '1.5'],
      ['type_preferences', '{"core:text2text":"no"}'],
    ]) {
      const r = await cli(['config:set', key as string, value as string]);
      assert.equal(r.code, 1, `${key} ${value}`);
      assert.match(r.stderr, new RegExp(`^Error: Invalid value for ${key}`));
    }
  });
});

describe('taskproc task:*', () => {
  const { cli, dir } = withDataDir();
  const DAY = 24 * 3600;

  before(async () => {
    ok(await cli(['user:add', 'erin']));
    const now = Math.floor(Date.now() / 1000);
    await withStore(dir(), async (s) => {
      for (const [userId, lastUpdated] of [
        ['erin', now - 400 * DAY],
        ['erin', now - 300 * DAY],
        [null, now - 400 * DAY],
        ['erin', now],
      ] as const) {
        await s.tasks.createTask({
          type: 'core:text2text:summary',
          userId,
          anonKey: null,
          appId: 'test',
          customId: '',
          input: { input: 'Some text.' },
          webhookUri: null,
          webhookMethod: null,
          includeWatermark: false,
          providerId: 'taskproc:extractive:summary',
          scheduledAt: lastUpdated,
          lastUpdated,
          completionExpectedAt: null,
        });
      }
    });
  });

  it('task:list filters by user, status and type, newest first', async () => {
    const all = json<{ id: number; userId: string | null; status: string }[]>(await cli(['task:list', '--output', 'json']));
    assert.deepEqual(
      all.map((t) => t.id),
      [4, 3, 2, 1],
    );
    assert.deepEqual(
      json<{ id: number }[]>(await cli(['task:list', '--user', 'erin', '--limit', '2', '--output', 'json'])).map((t) => t.id),
      [4, 2],
    );
    assert.deepEqual(json(await cli(['task:list', '--status', 'running', '--output', 'json'])), []);
    assert.equal(json<unknown[]>(await cli(['task:list', '--status', 'scheduled', '--type', 'core:text2text:summary', '--output', 'json'])).length, 4);
    assert.equal(all[0]?.status, 'STATUS_SCHEDULED');
    assert.match(ok(await cli(['task:list'])), /^ID +TYPE +STATUS +USER/m);
  });

  it('task:cleanup deletes the tasks past the retention period and prints the count', async () => {
    ok(await cli(['config:set', 'retention_seconds', String(365 * DAY)]));
    assert.match(ok(await cli(['task:cleanup'])), /^Deleted 2 tasks /);
    const left = await withStore(dir(), async (s) => [await s.tasks.getTask(2), await s.tasks.getTask(4)]);
    assert.deepEqual(
      left.map((t) => t?.status),
      [TASK_STATUS.SCHEDULED, TASK_STATUS.SCHEDULED],
    );
    assert.match(ok(await cli(['task:cleanup'])), /^Deleted 0 tasks /);
  });
});
