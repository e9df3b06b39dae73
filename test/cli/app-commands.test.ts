import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { secretHash } from '../../src/auth/appapi.js';
import { loadServerKey, openSealedSecret } from '../../src/auth/sealed-secret.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';
import { startServer } from '../helpers/server.js';
import { type CliResult, ensureBuilt, migratedDataDir, runCli } from './run-cli.js';

before(ensureBuilt);

const ENV_SECRET = 'env-secret-0123456789-abcdefghijklmnopqrstuvwxyz';

interface AppRow {
  appId: string;
  version: string;
  enabled: boolean;
  url: string | null;
  providers: string[];
}

function ok(r: CliResult): string {
  assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

function failed(r: CliResult, code: number, message: RegExp): void {
  assert.equal(r.code, code, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
  assert.match(r.stderr, message);
}

describe('taskproc app:*', () => {
  let dir = '';
  before(async () => {
    dir = await migratedDataDir();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const cli = (args: string[], env?: Record<string, string>) => runCli([...args, '--data-dir', dir], env);
  const listApps = async () => JSON.parse(ok(await cli(['app:list', '--output', 'json']))) as AppRow[];

  async function withStore<T>(fn: (store: Store) => Promise<T>): Promise<T> {
    const store = await openStore({ dataDir: dir, databaseUrl: null });
    try {
      await store.migrate();
      return await fn(store);
    } finally {
      await store.close();
    }
  }

  it('lists the app commands in the overview', async () => {
    const out = ok(await runCli(['help']));
    for (const name of ['app:register', 'app:list', 'app:disable', 'app:enable', 'app:unregister', 'app:set-secret']) {
      assert.match(out, new RegExp(`^  ${name} +\\S`, 'm'));
    }
  });

  it('app:register --secret-from-env stores the hash of TASKPROC_APP_SECRET and prints no secret', async () => {
    const out = ok(await cli(['app:register', 'llm2', '--secret-from-env', '--version', '1.2.0'], { TASKPROC_APP_SECRET: ENV_SECRET }));
    assert.equal(out.trim(), 'ExApp "llm2" registered and enabled.');
    const app = await withStore(async (s) => s.exapps.getExApp('llm2'));
    assert.equal(app?.secretHash, secretHash(ENV_SECRET));
    assert.equal(app?.sealedSecret, null, 'no URL: nothing to call back, so only the hash is kept');
    assert.equal(app?.version, '1.2.0');
  });

  it('app:register without --secret-from-env prints a generated secret once, as the last line, that authenticates', async () => {
    const out = ok(await cli(['app:register', 'translate2', '--url', 'http://127.0.0.1:23000/']));
    const lines = out.trim().split('\n');
    const secret = lines.at(-1) as string;
    assert.match(secret, /^[A-Za-z0-9]{64}$/);
    assert.equal(out.split(secret).length - 1, 1, 'printed exactly once');
    const app = await withStore(async (s) => s.exapps.getExApp('translate2'));
    assert.equal(app?.secretHash, secretHash(secret));
    assert.equal(app?.version, '1.0.0');
    assert.equal(app?.baseUrl, 'http://127.0.0.1:23000');
    // With a URL the secret is also sealed under the server key, which was created 0600 on first use.
    const keyFile = join(dir, 'secret.key');
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    const key = await loadServerKey({ dataDir: dir }, {});
    assert.equal(openSealedSecret(app?.sealedSecret as string, key), secret);

    const s = await startServer({ dir, config: { runnerConcurrency: 0 } });
    try {
      const request = (sec: string) =>
        fetch(`${s.url}/ocs/v1.php/apps/app_api/api/v1/ai_provider/task_processing?name=none&format=json`, {
          headers: {
            'EX-APP-ID': 'translate2',
            'EX-APP-VERSION': '1.0.0',
            'AUTHORIZATION-APP-API': Buffer.from(`:${sec}`).toString('base64'),
            'AA-VERSION': '32.0.0',
            'OCS-APIRequest': 'true',
          },
        });
      const good = await request(secret);
      assert.equal(good.status, 200);
      assert.equal(((await good.json()) as any).ocs.meta.statuscode, 404, 'authenticated; the provider just does not exist');
      assert.equal((await request(`${secret}x`)).status, 401);
    } finally {
      await s.stop();
    }
  });

  it('app:register seals with TASKPROC_SECRET_KEY when it is set', async () => {
    const key = randomBytes(32);
    const otherDir = await migratedDataDir();
    try {
      const env = { TASKPROC_APP_SECRET: ENV_SECRET, TASKPROC_SECRET_KEY: key.toString('base64') };
      ok(await runCli(['app:register', 'keyed', '--secret-from-env', '--url', 'https://apps.example/keyed', '--data-dir', otherDir], env));
      assert.equal(existsSync(join(otherDir, 'secret.key')), false);
      const store = await openStore({ dataDir: otherDir, databaseUrl: null });
      try {
        const app = await store.exapps.getExApp('keyed');
        assert.equal(openSealedSecret(app?.sealedSecret as string, key), ENV_SECRET);
      } finally {
        await store.close();
      }
    } finally {
      rmSync(otherDir, { recursive: true, force: true });
    }
  });

  it('app:register refuses a taken id, a bad id, an empty or short env secret, and a bad URL', async () => {
    failed(await cli(['app:register', 'llm2']), 1, /^Error: ExApp "llm2" is already registered/);
    failed(await cli(['app:register', 'bad id!']), 1, /^Error: Invalid app id "bad id!"/);
    failed(await cli(['app:register', 'x', '--secret-from-env']), 1, /^Error: --secret-from-env given, but TASKPROC_APP_SECRET is empty/);
    failed(await cli(['app:register', 'x', '--secret-from-env'], { TASKPROC_APP_SECRET: 'short' }), 1, /too short/);
    failed(await cli(['app:register', 'x', '--url', 'ftp://host']), 2, /--url: expected an http:\/\/ or https:\/\/ URL/);
    assert.deepEqual(
      (await listApps()).map((a) => a.appId),
      ['llm2', 'translate2'],
    );
  });

  it('app:register and app:set-secret with a short TASKPROC_APP_SECRET say the minimum length, alone on stderr', async () => {
    for (const args of [
      ['app:register', 'shortsecret'],
      ['app:set-secret', 'llm2'],
    ]) {
      const r = await cli([...args, '--secret-from-env'], { TASKPROC_APP_SECRET: 'a'.repeat(31) });
      assert.equal(r.code, 1, `${args[0]}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr, 'Error: TASKPROC_APP_SECRET is too short (31 characters): an ExApp secret needs at least 32 characters\n');
    }
    assert.equal(
      (await listApps()).some((a) => a.appId === 'shortsecret'),
      false,
    );
    assert.equal((await withStore(async (s) => s.exapps.getExApp('llm2')))?.secretHash, secretHash(ENV_SECRET));
  });

  it('app:list --output json shows every app with its providers, never a secret', async () => {
    await withStore((s) =>
      s.exapps.upsertProvider({
        appId: 'llm2',
        providerId: 'llm2:text2text',
        displayName: 'LLM',
        taskType: 'core:text2text',
        provider: {},
        customTaskType: null,
        registeredAt: 0,
      }),
    );
    const r = await cli(['app:list', '--output', 'json']);
    assert.deepEqual(JSON.parse(ok(r)), [
      { appId: 'llm2', version: '1.2.0', enabled: true, url: null, providers: ['llm2:text2text'] },
      { appId: 'translate2', version: '1.0.0', enabled: true, url: 'http://127.0.0.1:23000', providers: [] },
    ]);
    assert.doesNotMatch(r.stdout, /secret|v1\./i);
    const table = ok(await cli(['app:list']));
    assert.match(table, /^APP ID +VERSION +ENABLED +URL +PROVIDERS$/m);
    assert.match(table, /^llm2 +1\.2\.0 +yes +- +llm2:text2text$/m);
  });

  it('app:disable and app:enable flip the flag; an unknown app exits 1', async () => {
    assert.equal(ok(await cli(['app:disable', 'llm2'])).trim(), 'ExApp "llm2" disabled.');
    assert.equal((await listApps()).find((a) => a.appId === 'llm2')?.enabled, false);
    assert.equal(ok(await cli(['app:enable', 'llm2'])).trim(), 'ExApp "llm2" enabled.');
    assert.equal((await listApps()).find((a) => a.appId === 'llm2')?.enabled, true);
    failed(await cli(['app:disable', 'nope']), 1, /^Error: ExApp "nope" is not registered/);
  });

  it('app:set-secret replaces the hash (and the sealed copy of an app with a URL)', async () => {
    ok(await cli(['app:set-secret', 'llm2', '--secret-from-env'], { TASKPROC_APP_SECRET: `${ENV_SECRET}-new` }));
    assert.equal((await withStore(async (s) => s.exapps.getExApp('llm2')))?.secretHash, secretHash(`${ENV_SECRET}-new`));

    const out = ok(await cli(['app:set-secret', 'translate2']));
    const secret = out.trim().split('\n').at(-1) as string;
    assert.match(secret, /^[A-Za-z0-9]{64}$/);
    const app = await withStore(async (s) => s.exapps.getExApp('translate2'));
    assert.equal(app?.secretHash, secretHash(secret));
    assert.equal(openSealedSecret(app?.sealedSecret as string, await loadServerKey({ dataDir: dir }, {})), secret);
    failed(await cli(['app:set-secret', 'nope']), 1, /not registered/);
  });

  it('app:unregister deletes the app and its providers; a second time exits 1', async () => {
    assert.equal(ok(await cli(['app:unregister', 'llm2'])).trim(), 'ExApp "llm2" unregistered, with its providers.');
    assert.deepEqual(
      (await listApps()).map((a) => a.appId),
      ['translate2'],
    );
    assert.deepEqual(await withStore((s) => s.exapps.listProviders()), []);
    failed(await cli(['app:unregister', 'llm2']), 1, /^Error: ExApp "llm2" is not registered/);
  });
});
