import { randomToken, tokenHash } from '../auth/passwords.js';
import { unixSeconds } from '../core/clock.js';
import { type Command, CommandError, OUTPUT_OPTION, OUTPUT_SYNOPSIS, command, isoTime, positiveInteger, printRows, stringOption } from './command.js';
import { requireUser } from './user-commands.js';

const appPasswordCreate = command({
  name: 'user:app-password',
  summary: 'Create an app password for a user and print it once',
  usage: `user:app-password <uid> [--name <name>]

The token is the last line of the output, so a script can take it with \`tail -n 1\`.
Only its hash is stored: it cannot be shown again.`,
  args: ['uid'],
  options: { name: { type: 'string' } },
  async run(a, ctx) {
    await requireUser(ctx, a.args.uid);
    const token = randomToken(72);
    const name = stringOption(a, 'name') ?? 'cli';
    const created = await ctx.store.users.createAppPassword({
      userId: a.args.uid,
      tokenHash: tokenHash(token),
      name,
      createdAt: unixSeconds(ctx.clock),
    });
    ctx.print(`App password "${name}" (id ${created.id}) created for user "${a.args.uid}". It is shown only this once:`);
    ctx.print(token);
  },
});

const appPasswordList = command({
  name: 'user:app-password:list',
  summary: "List a user's app passwords",
  usage: `user:app-password:list <uid> ${OUTPUT_SYNOPSIS}`,
  args: ['uid'],
  options: OUTPUT_OPTION,
  async run(a, ctx) {
    await requireUser(ctx, a.args.uid);
    printRows(
      a,
      ctx,
      await ctx.store.users.listAppPasswords(a.args.uid),
      [
        { header: 'ID', value: (p) => String(p.id) },
        { header: 'NAME', value: (p) => p.name },
        { header: 'CREATED', value: (p) => isoTime(p.createdAt) },
        { header: 'LAST USED', value: (p) => isoTime(p.lastUsedAt, 'never') },
      ],
      (p) => ({ id: p.id, name: p.name, createdAt: p.createdAt, lastUsedAt: p.lastUsedAt }),
    );
  },
});

const appPasswordRevoke = command({
  name: 'user:app-password:revoke',
  summary: "Revoke one or all of a user's app passwords",
  usage: `user:app-password:revoke <uid> [--id <id>]

Without --id, every app password of the user is revoked.`,
  args: ['uid'],
  options: { id: { type: 'string', check: positiveInteger } },
  async run(a, ctx) {
    const { uid } = a.args;
    await requireUser(ctx, uid);
    const rawId = stringOption(a, 'id');
    const id = rawId === undefined ? undefined : Number(rawId);
    const count = await ctx.store.users.revokeAppPasswords(uid, id);
    // A named id that matched nothing is most likely a typo; saying "0 revoked" would hide it.
    if (id !== undefined && count === 0) throw new CommandError(`User "${uid}" has no app password with id ${id}`);
    ctx.print(`Revoked ${count} app password${count === 1 ? '' : 's'} of user "${uid}".`);
  },
});

export const appPasswordCommands: Command[] = [appPasswordCreate, appPasswordList, appPasswordRevoke];
