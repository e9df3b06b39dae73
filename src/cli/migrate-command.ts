import { type Command, command } from './command.js';

export const migrateCommand: Command = command({
  name: 'migrate',
  summary: 'Apply pending database migrations',
  usage: `migrate

The server migrates on start as well; this command lets a deployment do it beforehand.`,
  // The dispatcher migrates before every command, so there is nothing left to do here.
  async run(_a, ctx) {
    ctx.print('Database is up to date.');
  },
});
