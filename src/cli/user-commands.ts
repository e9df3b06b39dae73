import { createFileService } from '../files/create-file-service.js';
import { hashPassword } from '../auth/passwords.js';
import { unixSeconds } from '../core/clock.js';
import type { User } from '../store/store.js';
import {
  type Command,
  type CommandContext,
  CommandError,
  OUTPUT_OPTION,
  OUTPUT_SYNOPSIS,
  UsageError,
  command,
  flagOption,
  printRows,
  stringOption,
  yesNo,
} from './command.js';

/** occ reads OC_PASS; the same idea under our prefix, so passwords stay out of argv and shell history. */
const PASSWORD_ENV = 'TASKPROC_PASS';

const MAX_UID_LENGTH = 64;

/**
 * Upstream's rule (lib/private/User/Manager.php validateUserId), with its messages: letters,
 * digits, spaces and _.@-' only, no surrounding whitespace, not only dots, at most 64 characters.
 * Returns why the id is refused, or undefined.
 */
function uidProblem(uid: string): string | undefined {
  if (/[^a-zA-Z0-9 _.@\-']/.test(uid)) return 'Only the following characters are allowed in a login: "a-z", "A-Z", "0-9", spaces and "_.@-\'"';
  if (uid.trim() === '') return 'A valid login must be provided';
  if (uid.trim() !== uid) return 'Login contains whitespace at the beginning or at the end';
  if (uid === '.' || uid === '..') return 'Login must not consist of dots only';
  if (uid.length > MAX_UID_LENGTH) return `Login is too long (at most ${MAX_UID_LENGTH} characters)`;
  return undefined;
}

export async function requireUser(ctx: CommandContext, uid: string): Promise<User> {
  const user = await ctx.store.users.getUser(uid);
  if (user === undefined) throw new CommandError(`User "${uid}" does not exist`);
  return user;
}

async function passwordFromEnv(ctx: CommandContext): Promise<string> {
  const password = ctx.env[PASSWORD_ENV];
  if (password === undefined || password === '') throw new CommandError(`--password-from-env given, but ${PASSWORD_ENV} is empty`);
  return hashPassword(password);
}

const userAdd = command({
  name: 'user:add',
  summary: 'Create a user',
  usage: `user:add <uid> [--display-name <name>] [--admin] [--guest] [--password-from-env]

Without --password-from-env the user gets no password and can log in only with an app password
(see user:app-password). With it, the password is read from ${PASSWORD_ENV}.`,
  args: ['uid'],
  options: {
    'display-name': { type: 'string' },
    admin: { type: 'boolean' },
    guest: { type: 'boolean' },
    'password-from-env': { type: 'boolean' },
  },
  async run(a, ctx) {
    const { uid } = a.args;
    const problem = uidProblem(uid);
    if (problem !== undefined) throw new CommandError(`Invalid user id "${uid}": ${problem}`);
    if (flagOption(a, 'admin') && flagOption(a, 'guest')) throw new UsageError('--admin and --guest exclude each other');
    const withPassword = flagOption(a, 'password-from-env');
    await ctx.store.users.createUser({
      id: uid,
      displayName: stringOption(a, 'display-name') ?? uid,
      passwordHash: withPassword ? await passwordFromEnv(ctx) : null,
      isAdmin: flagOption(a, 'admin'),
      isGuest: flagOption(a, 'guest'),
      enabled: true,
      createdAt: unixSeconds(ctx.clock),
    });
    ctx.print(`User "${uid}" created.`);
    if (!withPassword) ctx.print(`It has no password: only app passwords can log in (taskproc user:app-password ${uid}).`);
  },
});

const userDelete = command({
  name: 'user:delete',
  summary: 'Delete a user with its app passwords, tasks and files',
  usage: 'user:delete <uid>',
  args: ['uid'],
  async run(a, ctx) {
    if (!(await ctx.store.users.deleteUser(a.args.uid))) throw new CommandError(`User "${a.args.uid}" does not exist`);
    await createFileService(ctx.store, ctx.config, ctx.clock).deleteUserFiles(a.args.uid);
    ctx.print(`User "${a.args.uid}" deleted.`);
  },
});

function setEnabled(enabled: boolean): Command {
  const verb = enabled ? 'enable' : 'disable';
  return command({
    name: `user:${verb}`,
    summary: enabled ? 'Let a disabled user log in again' : 'Stop a user from logging in (tasks and app passwords are kept)',
    usage: `user:${verb} <uid>`,
    args: ['uid'],
    async run(a, ctx) {
      if ((await ctx.store.users.updateUser(a.args.uid, { enabled })) === undefined) throw new CommandError(`User "${a.args.uid}" does not exist`);
      ctx.print(`User "${a.args.uid}" ${verb}d.`);
    },
  });
}

const userResetPassword = command({
  name: 'user:reset-password',
  summary: `Set a user's password from ${PASSWORD_ENV}`,
  usage: `user:reset-password <uid> --password-from-env

Reads the new password from ${PASSWORD_ENV}. App passwords keep working; revoke them with
user:app-password:revoke.`,
  args: ['uid'],
  options: { 'password-from-env': { type: 'boolean' } },
  async run(a, ctx) {
    // No interactive prompt: the command must behave the same in scripts and containers.
    if (!flagOption(a, 'password-from-env')) throw new UsageError(`--password-from-env is required (the password is read from ${PASSWORD_ENV})`);
    const passwordHash = await passwordFromEnv(ctx);
    if ((await ctx.store.users.updateUser(a.args.uid, { passwordHash })) === undefined) throw new CommandError(`User "${a.args.uid}" does not exist`);
    ctx.print(`Password of user "${a.args.uid}" updated.`);
  },
});

const userList = command({
  name: 'user:list',
  summary: 'List users',
  usage: `user:list ${OUTPUT_SYNOPSIS}`,
  options: OUTPUT_OPTION,
  async run(a, ctx) {
    printRows(
      a,
      ctx,
      await ctx.store.users.listUsers(),
      [
        { header: 'UID', value: (u) => u.id },
        { header: 'DISPLAY NAME', value: (u) => u.displayName },
        { header: 'ADMIN', value: (u) => yesNo(u.isAdmin) },
        { header: 'GUEST', value: (u) => yesNo(u.isGuest) },
        { header: 'ENABLED', value: (u) => yesNo(u.enabled) },
      ],
      (u) => ({ uid: u.id, displayName: u.displayName, admin: u.isAdmin, guest: u.isGuest, enabled: u.enabled }),
    );
  },
});

const userSetQuota = command({
  name: 'user:set-quota',
  summary: "Limit the space a user's files may take (or lift the limit)",
  usage: `user:set-quota <uid> <quota>

<quota> is a number of bytes, optionally with a unit (512M, 2G, 1.5 GiB), or "none" for no limit.
Uploads that would go past it are refused with 507, as Nextcloud refuses them.`,
  args: ['uid', 'quota'],
  async run(a, ctx) {
    const quotaBytes = parseQuota(a.args.quota);
    if ((await ctx.store.users.updateUser(a.args.uid, { quotaBytes })) === undefined) throw new CommandError(`User "${a.args.uid}" does not exist`);
    ctx.print(quotaBytes === null ? `User "${a.args.uid}" has no quota.` : `User "${a.args.uid}" may store ${quotaBytes} bytes.`);
  },
});

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
};

/** "none" → null; "512M", "2 GiB", "1000" → bytes (binary units, as Nextcloud's quota field). */
export function parseQuota(raw: string): number | null {
  if (/^(none|unlimited|default)$/i.test(raw.trim())) return null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(raw);
  const factor = m ? UNITS[(m[2] as string).toLowerCase()] : undefined;
  if (!m || factor === undefined) throw new UsageError(`"${raw}" is not a quota: use bytes, a size such as 512M or 2G, or none`);
  return Math.floor(Number(m[1]) * factor);
}

export const userCommands: Command[] = [userAdd, userDelete, setEnabled(false), setEnabled(true), userResetPassword, userSetQuota, userList];
