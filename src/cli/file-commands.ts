import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { DomainError } from '../core/errors.js';
import { createFileService } from '../files/create-file-service.js';
import type { FileService, StoredFile } from '../files/file-service.js';
import { normalizePath, parentOf } from '../files/paths.js';
import {
  type Command,
  type CommandContext,
  CommandError,
  OUTPUT_OPTION,
  OUTPUT_SYNOPSIS,
  command,
  flagOption,
  isoTime,
  printRows,
  stringOption,
} from './command.js';
import { requireUser } from './user-commands.js';

/** The same file service the server builds, over the same database and `<dataDir>/files`. */
const fileServiceFor = (ctx: CommandContext): FileService => createFileService(ctx.store, ctx.config, ctx.clock);

/** Creates each missing folder on the way to `folder`, like `mkdir -p`. */
async function makeParents(files: FileService, uid: string, folder: string): Promise<void> {
  if (folder === '') return;
  const existing = await files.stat(uid, folder);
  if (existing?.isFolder) return;
  await makeParents(files, uid, parentOf(folder));
  // A file in the way is left for mkdir to refuse (409/405), with its own message.
  await files.mkdir(uid, folder);
}

const filePut = command({
  name: 'file:put',
  summary: "Store a local file in a user's files and print its id",
  usage: `file:put <uid> <local-path> [<remote-path>] [--parents]

Stores the file at <remote-path> (or --remote-path) in the user's tree (default: the local file's name, in the
root), replacing a file already there (it keeps its id). As with a WebDAV PUT, the folder it goes
into must exist; --parents creates the missing ones. The id is the last line of the output, so a
script can take it with \`tail -n 1\`.`,
  args: ['uid', 'local-path'],
  optionalArgs: ['remote-path'],
  options: { 'remote-path': { type: 'string' }, parents: { type: 'boolean' } },
  async run(a, ctx) {
    const { uid } = a.args;
    const localPath = a.args['local-path'];
    await requireUser(ctx, uid);
    const files = fileServiceFor(ctx);
    const remotePath = normalizePath(a.optional['remote-path'] ?? stringOption(a, 'remote-path') ?? basename(localPath));

    let size: number;
    try {
      const info = await stat(localPath);
      if (!info.isFile()) throw new CommandError(`"${localPath}" is not a file`);
      size = info.size;
    } catch (err) {
      if (err instanceof CommandError) throw err;
      throw new CommandError(`Cannot read "${localPath}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }

    if (flagOption(a, 'parents')) await makeParents(files, uid, parentOf(remotePath));
    const body = createReadStream(localPath);
    let stored: StoredFile;
    try {
      ({ file: stored } = await files.put(uid, remotePath, body, { expectedSize: size }));
    } catch (err) {
      if (err instanceof DomainError && err.code === 'conflict' && !flagOption(a, 'parents')) {
        throw new CommandError(err.message, ['Add --parents to create the missing folders.']);
      }
      throw err;
    } finally {
      // The service leaves a source it stopped reading open; a file descriptor must not outlive the command.
      body.destroy();
    }
    ctx.print(`File "${stored.path ?? remotePath}" stored for ${uid} with id ${stored.id}.`);
    ctx.print(String(stored.id));
  },
});

const fileList = command({
  name: 'file:list',
  summary: "List a folder of a user's files",
  usage: `file:list <uid> [--folder <path>] ${OUTPUT_SYNOPSIS}

Lists the folder's direct children (default: the root), folders with a trailing slash.`,
  args: ['uid'],
  options: { folder: { type: 'string' }, ...OUTPUT_OPTION },
  async run(a, ctx) {
    const { uid } = a.args;
    await requireUser(ctx, uid);
    const entries = await fileServiceFor(ctx).list(uid, normalizePath(stringOption(a, 'folder') ?? ''));
    printRows(
      a,
      ctx,
      entries,
      [
        { header: 'ID', value: (f) => String(f.id) },
        { header: 'SIZE', value: (f) => (f.isFolder ? '-' : String(f.size)) },
        { header: 'TYPE', value: (f) => (f.isFolder ? 'folder' : f.mime) },
        { header: 'MODIFIED', value: (f) => isoTime(f.updatedAt) },
        { header: 'NAME', value: (f) => (f.isFolder ? `${f.name}/` : f.name) },
      ],
      (f) => ({ id: f.id, name: f.name, path: f.path, folder: f.isFolder, mime: f.mime, size: f.size, etag: f.etag, modifiedAt: f.updatedAt }),
    );
  },
});

const fileDelete = command({
  name: 'file:delete',
  summary: "Delete a file, or a folder with everything in it, from a user's files",
  usage: 'file:delete <uid> <path>',
  args: ['uid', 'path'],
  async run(a, ctx) {
    const { uid } = a.args;
    await requireUser(ctx, uid);
    const files = fileServiceFor(ctx);
    const path = normalizePath(a.args.path);
    const target = await files.stat(uid, path);
    if (target === undefined) throw new CommandError(`User "${uid}" has no file or folder "${path}"`);
    await files.delete(uid, path);
    ctx.print(target.isFolder ? `Deleted folder "${path}" of ${uid} and everything in it.` : `Deleted "${path}" of ${uid}.`);
  },
});

export const fileCommands: Command[] = [filePut, fileList, fileDelete];
