import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { imageProvider, tinyPng, transcriptProvider } from '../helpers/providers.js';
import { startServer, type TestServer, type TestUser, waitForStatus } from '../helpers/server.js';

const V2 = '/ocs/v2.php/taskprocessing';

describe('file inputs and outputs of tasks', () => {
  let s: TestServer;
  let alice: TestUser;
  let bob: TestUser;
  const put = async (user: TestUser, path: string, body: string | Buffer, type = 'audio/wav') => {
    const res = await fetch(`${s.url}/remote.php/dav/files/${user.uid}/${path}`, {
      method: 'PUT',
      headers: { authorization: user.auth, 'content-type': type },
      body: typeof body === 'string' ? body : new Uint8Array(body),
    });
    assert.ok(res.status === 201 || res.status === 204, `PUT ${path}: ${res.status} ${await res.text()}`);
    return parseInt(res.headers.get('oc-fileid') ?? '', 10);
  };
  const schedule = (user: TestUser, body: Record<string, unknown>) => s.ocs('POST', `${V2}/schedule`, { auth: user.auth, body: { appId: 'files', ...body } });

  before(async () => {
    s = await startServer({ providers: [imageProvider(), transcriptProvider()] });
    alice = await s.addUser('alice');
    bob = await s.addUser('bob');
    await s.app.settings.set('rateLimitEnabled', false);
  });
  after(() => s.close());

  it('schedules on a file the user uploaded with WebDAV, and the provider reads it', async () => {
    const id = await put(alice, 'memo.wav', 'hello from the file');
    const propfind = await fetch(`${s.url}/remote.php/dav/files/alice/memo.wav`, { method: 'PROPFIND', headers: { authorization: alice.auth, depth: '0' } });
    assert.equal(propfind.status, 207);
    assert.ok((await propfind.text()).includes(`<oc:fileid>${id}</oc:fileid>`));
    const r = await schedule(alice, { type: 'core:audio2text', input: { input: id } });
    assert.equal(r.status, 200, r.text);
    const done = await waitForStatus(s, alice, r.json.ocs.data.task.id, 'STATUS_SUCCESSFUL');
    assert.equal(done.output.output, 'memo.wav (audio/wav, 19 bytes): hello from the file');
  });

  it("refuses another user's file with 401, a missing id and a folder with 400", async () => {
    const bobs = await put(bob, 'secret.wav', 'bob only');
    const r = await schedule(alice, { type: 'core:audio2text', input: { input: bobs } });
    assert.equal(r.status, 401);
    assert.equal(r.json.ocs.data.message, 'User does not have access to the files mentioned in the task input');
    const missing = await schedule(alice, { type: 'core:audio2text', input: { input: 987654 } });
    assert.equal(missing.status, 400);
    assert.equal(missing.json.ocs.data.message, 'Could not find file 987654');
    const mk = await fetch(`${s.url}/remote.php/dav/files/alice/folder`, { method: 'MKCOL', headers: { authorization: alice.auth } });
    assert.equal(mk.status, 201);
    const pf = await fetch(`${s.url}/remote.php/dav/files/alice/folder`, { method: 'PROPFIND', headers: { authorization: alice.auth, depth: '0' } });
    const folderId = Number(/<oc:fileid>(\d+)<\/oc:fileid>/.exec(await pf.text())?.[1]);
    const folder = await schedule(alice, { type: 'core:audio2text', input: { input: folderId } });
    assert.equal(folder.status, 400);
    assert.equal(folder.json.ocs.data.message, `File with id "${folderId}" is not a file`);
  });

  it('stores output files and serves them byte for byte, only to the owner and only when the task references them', async () => {
    const r = await schedule(alice, { type: 'core:text2image', input: { input: 'two cats', numberOfImages: 2 } });
    assert.equal(r.status, 200, r.text);
    const done = await waitForStatus(s, alice, r.json.ocs.data.task.id, 'STATUS_SUCCESSFUL');
    const ids: number[] = done.output.images;
    assert.equal(ids.length, 2);
    for (const [i, fileId] of ids.entries()) {
      for (const path of [`/tasks/${done.id}/file/${fileId}`, `/task/${done.id}/file/${fileId}`]) {
        const res = await fetch(`${s.url}${V2}${path}`, { headers: { authorization: alice.auth } });
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('content-type'), 'image/png');
        assert.equal(res.headers.get('content-length'), String(tinyPng(i).length));
        assert.match(res.headers.get('content-disposition') ?? '', new RegExp(`^attachment; filename="image-${i}\\.png"`));
        assert.deepEqual(Buffer.from(await res.arrayBuffer()), tinyPng(i));
      }
      const byBob = await s.ocs('GET', `${V2}/tasks/${done.id}/file/${fileId}`, { auth: bob.auth });
      assert.equal(byBob.status, 404);
      assert.deepEqual(byBob.json.ocs.data, { message: 'Not found' });
    }
    const own = await put(alice, 'unrelated.wav', 'not part of the task');
    const unrelated = await s.ocs('GET', `${V2}/tasks/${done.id}/file/${own}`, { auth: alice.auth });
    assert.equal(unrelated.status, 404, 'a file the task does not reference is not served through it');
  });

  it("deletes output files with their task and keeps the user's own input files", async () => {
    const input = await put(alice, 'keep.wav', 'keep me');
    const t = await schedule(alice, { type: 'core:audio2text', input: { input } });
    await waitForStatus(s, alice, t.json.ocs.data.task.id, 'STATUS_SUCCESSFUL');
    const img = await schedule(alice, { type: 'core:text2image', input: { input: 'a dog' } });
    const done = await waitForStatus(s, alice, img.json.ocs.data.task.id, 'STATUS_SUCCESSFUL');
    const [fileId] = done.output.images as number[];
    assert.ok(await s.app.files.open(fileId as number));
    await s.ocs('DELETE', `${V2}/task/${done.id}`, { auth: alice.auth });
    assert.equal(await s.app.files.open(fileId as number), undefined, 'the output file is gone');
    await s.ocs('DELETE', `${V2}/task/${t.json.ocs.data.task.id}`, { auth: alice.auth });
    const still = await fetch(`${s.url}/remote.php/dav/files/alice/keep.wav`, { headers: { authorization: alice.auth } });
    assert.equal(still.status, 200);
    assert.equal(await still.text(), 'keep me');
  });

  it('does not let guests reference files', async () => {
    const guest = await s.addUser('guest1', { guest: true });
    await s.app.settings.set('guestsAllowed', true);
    const id = await put(guest, 'g.wav', 'guest audio');
    const r = await schedule(guest, { type: 'core:audio2text', input: { input: id } });
    assert.equal(r.status, 401);
    assert.equal(r.json.ocs.data.message, 'User does not have access to the files mentioned in the task input');
  });
});
