import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { secretHash } from '../../src/auth/appapi.js';
import { openStore } from '../../src/store/open-store.js';
import { ensureBuilt, runCli } from './run-cli.js';

/** Providers registered by ExApps (over HTTP, into the database) are choosable from the CLI too. */
describe('taskproc tasktype:* with ExApp providers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'taskproc-tt-exapp-'));
  const cli = (args: string[]) => runCli([...args, '--data-dir', dir]);
  before(async () => {
    await ensureBuilt();
    const store = await openStore({ dataDir: dir, databaseUrl: null });
    await store.migrate();
    await store.exapps.createExApp({
      appId: 'llm2',
      version: '1.0.0',
      secretHash: secretHash('x'.repeat(40)),
      sealedSecret: null,
      baseUrl: null,
      enabled: true,
      createdAt: 0,
    });
    const provider = {
      id: 'llm2:text2text',
      name: 'Local LLM',
      task_type: 'core:text2text',
      expected_runtime: 30,
      optional_input_shape: [],
      optional_output_shape: [],
      input_shape_enum_values: {},
      input_shape_defaults: {},
      optional_input_shape_enum_values: {},
      optional_input_shape_defaults: {},
      output_shape_enum_values: {},
      optional_output_shape_enum_values: {},
    };
    await store.exapps.upsertProvider({
      appId: 'llm2',
      providerId: 'llm2:text2text',
      displayName: 'Local LLM',
      taskType: 'core:text2text',
      provider,
      customTaskType: null,
      registeredAt: 0,
    });
    await store.close();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('lists the ExApp provider and lets the admin prefer it', async () => {
    const list = await cli(['tasktype:list', '--output', 'json']);
    assert.equal(list.code, 0, list.stderr);
    const t2t = (JSON.parse(list.stdout) as { id: string; providers: string[] }[]).find((t) => t.id === 'core:text2text');
    assert.ok(t2t?.providers.includes('llm2:text2text'), list.stdout);
    const set = await cli(['tasktype:set-provider', 'core:text2text', 'llm2:text2text']);
    assert.equal(set.code, 0, set.stderr);
    const after = JSON.parse((await cli(['tasktype:list', '--output', 'json'])).stdout) as { id: string; preferredProvider: string | null }[];
    assert.equal(after.find((t) => t.id === 'core:text2text')?.preferredProvider, 'llm2:text2text');
  });
});
