import { type Command, command } from './command.js';

export const migrateCommand: Command = command({
  name: 'migrate',
  summary: 'Apply pending database migrations',
  usage: `migrate

Creates the database (or the tables in the PostgreSQL schema) when there is none yet, else applies
pending migrations. The server does the same on start; this command lets a deployment do it
beforehand. Every other admin command refuses to create a database.`,
  createsStore: true,
  // The dispatcher migrates before every command, so there is nothing left to do here.
  async run(_a, ctx) {
    ctx.print('Database is up to date.');
  },
});
