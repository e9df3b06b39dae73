import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { buildConfig, type Config, CONFIG_FLAGS, ConfigError, processEnv } from '../config.js';
import { systemClock } from '../core/clock.js';
import { openStore, StoreNotFoundError } from '../store/open-store.js';
import type { Store } from '../store/store.js';
import { appCommands } from './app-commands.js';
import { appPasswordCommands } from './app-password-commands.js';
import { type Command, CommandError, UsageError } from './command.js';
import { configCommands } from './config-commands.js';
import { fileCommands } from './file-commands.js';
import { migrateCommand } from './migrate-command.js';
import { taskCommands } from './task-commands.js';
import { tasktypeCommands } from './tasktype-commands.js';
import { userCommands } from './user-commands.js';

/** Exit codes: 0 done, 1 the operation failed or was refused, 2 the command line was wrong. */
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

interface Entry {
  name: string;
  summary: string;
  main(argv: string[]): Promise<number>;
}

const STORE_COMMANDS: Command[] = [
  migrateCommand,
  ...userCommands,
  ...appPasswordCommands,
  ...tasktypeCommands,
  ...configCommands,
  ...taskCommands,
  ...fileCommands,
  ...appCommands,
];

const ENTRIES: Entry[] = [
  {
    name: 'serve',
    summary: 'Start the server',
    // Loaded on demand so admin commands start without the HTTP stack.
    main: async (argv) => (await import('./serve.js')).serveCommand(argv),
  },
  ...STORE_COMMANDS.map((c) => ({ name: c.name, summary: c.summary, main: (argv: string[]) => runCommand(c, argv) })),
];

const print = (text: string) => void process.stdout.write(`${text}\n`);
const printError = (text: string) => void process.stderr.write(`${text}\n`);

/** The `taskproc` command line; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const at = commandIndex(argv);
  const name = at === -1 ? undefined : argv[at];
  const rest = argv.filter((_, i) => i !== at);
  if (name === 'help') {
    const topic = rest.find((arg) => !arg.startsWith('-'));
    if (topic !== undefined) return main([topic, '--help']);
  }
  if (name === undefined && wantsVersion(argv)) {
    print(`taskproc ${packageVersion()}`);
    return 0;
  }
  if (name === undefined || name === 'help') {
    if (argv.length === 0 || name === 'help' || wantsHelp(argv)) {
      print(overview());
      return 0;
    }
    printError('Error: No command given.');
    printError(overview());
    return EXIT_USAGE;
  }
  const entry = ENTRIES.find((e) => e.name === name);
  if (entry === undefined) {
    printError(`Error: Unknown command "${name}". Run "taskproc help" for the list of commands.`);
    return EXIT_USAGE;
  }
  return entry.main(rest);
}

/**
 * The first positional word is the command, so configuration flags may come before it
 * (`taskproc --data-dir /srv/tp user:list`). Only the config flags are known at this point:
 * the command's own options are expected after its name.
 */
function commandIndex(argv: string[]): number {
  const { tokens } = parseArgs({ args: argv, options: CONFIG_FLAGS, strict: false, allowPositionals: true, tokens: true });
  const first = tokens.find((t) => t.kind === 'positional');
  return first === undefined ? -1 : first.index;
}

function overview(): string {
  const width = Math.max(...ENTRIES.map((e) => e.name.length));
  return [
    'Usage: taskproc <command> [options]',
    '',
    'Commands:',
    ...ENTRIES.map((e) => `  ${e.name.padEnd(width)}  ${e.summary}`),
    '',
    'Run "taskproc <command> --help" for the options of a command, "taskproc --version" (-v) for the version.',
  ].join('\n');
}

function usageOf(c: Command): string {
  const configFlags = Object.keys(CONFIG_FLAGS).map((f) => `--${f}`);
  return `Usage: taskproc ${c.usage}\n\nEvery command also takes the configuration flags (see taskproc serve --help):\n  ${configFlags.join(' ')}`;
}

function optionsBeforeEnd(argv: string[]): string[] {
  const end = argv.indexOf('--');
  return end === -1 ? argv : argv.slice(0, end);
}

function wantsHelp(argv: string[]): boolean {
  return optionsBeforeEnd(argv).some((arg) => arg === '--help' || arg === '-h');
}

function wantsVersion(argv: string[]): boolean {
  return optionsBeforeEnd(argv).some((arg) => arg === '--version' || arg === '-v');
}

/** From package.json, two folders up from both src/cli/ and dist/cli/: the one place the version is written. */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/**
 * Node's parseArgs refusal as one line, so the error stays the first line and the usage follows it.
 * Its unknown-option text ends in a hint with an unbalanced quote (`as in '-- "--x"`): the option is
 * named alone instead.
 */
function parseArgsMessage(err: unknown): string {
  const { message, code } = err as Error & { code?: string };
  const option = /'([^']+)'/.exec(message)?.[1];
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && option !== undefined) return `Unknown option "${option}"`;
  return message.split('\n').join(' ');
}

function usageError(c: Command, message: string): number {
  printError(`Error: ${message}`);
  printError(`Usage: taskproc ${c.usage.split('\n')[0]}`);
  printError(`Run "taskproc ${c.name} --help" for details.`);
  return EXIT_USAGE;
}

/** Parses, checks, opens and migrates the store, runs, and always closes the store again. */
async function runCommand(c: Command, argv: string[]): Promise<number> {
  if (wantsHelp(argv)) {
    print(usageOf(c));
    return 0;
  }
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    const options = Object.fromEntries(Object.entries(c.options ?? {}).map(([k, o]) => [k, { type: o.type }]));
    // A negative number ("tasktype:set-priority <type> -10") is an argument, not an option: Node's parser
    // would take "-1" for flags. Such tokens are hidden from it and given back afterwards.
    const NEG = '\u0000neg:';
    const hidden = argv.map((a) => (/^-[0-9]+(\.[0-9]+)?$/.test(a) ? NEG + a : a));
    const unhide = (v: string) => (v.startsWith(NEG) ? v.slice(NEG.length) : v);
    const parsed = parseArgs({ args: hidden, options: { ...CONFIG_FLAGS, ...options }, strict: true, allowPositionals: true });
    positionals = parsed.positionals.map(unhide);
    values = Object.fromEntries(Object.entries(parsed.values).map(([k, v]) => [k, typeof v === 'string' ? unhide(v) : v]));
  } catch (err) {
    return usageError(c, parseArgsMessage(err));
  }
  const names = c.args ?? [];
  if (positionals.length < names.length) return usageError(c, `Missing argument <${names[positionals.length]}>`);
  const optionalNames = c.optionalArgs ?? [];
  if (positionals.length > names.length + optionalNames.length) {
    return usageError(c, `Unexpected argument "${positionals[names.length + optionalNames.length]}"`);
  }
  for (const [k, o] of Object.entries(c.options ?? {})) {
    const v = values[k];
    const problem = typeof v === 'string' ? o.check?.(v) : undefined;
    if (problem !== undefined) return usageError(c, `--${k}: ${problem}`);
  }

  let config: Config;
  try {
    config = buildConfig(values, processEnv());
  } catch (err) {
    if (err instanceof ConfigError) {
      printError(`Error: ${err.message}`);
      return EXIT_FAILED;
    }
    throw err;
  }

  let store: Store;
  try {
    store = await openStore({ dataDir: config.dataDir, databaseUrl: config.databaseUrl, existingOnly: c.createsStore !== true });
  } catch (err) {
    if (err instanceof StoreNotFoundError) {
      for (const line of noStoreMessage(err, config)) printError(line);
      return EXIT_FAILED;
    }
    printError(`Error: cannot open the database: ${(err as Error).message}`);
    return EXIT_FAILED;
  }
  try {
    await store.migrate();
    const args = Object.fromEntries(names.map((n, i) => [n, positionals[i] as string]));
    const optional = Object.fromEntries(optionalNames.map((n, i) => [n, positionals[names.length + i]]));
    await c.run({ args, optional, values }, { config, store, env: processEnv(), clock: systemClock, print });
    return 0;
  } catch (err) {
    if (err instanceof UsageError) return usageError(c, err.message);
    if (err instanceof CommandError) {
      printError(`Error: ${err.message}`);
      for (const line of err.details) printError(line);
      return EXIT_FAILED;
    }
    // Store errors (a taken user id, a database that is newer than this code) read as sentences too.
    printError(`Error: ${err instanceof Error ? err.message : String(err)}`);
    return EXIT_FAILED;
  } finally {
    await store.close();
  }
}

/**
 * Where the command looked and how to point it at the server's database. The usual cause is a
 * command run from another folder than the server's, whose `./data` it then does not see.
 */
function noStoreMessage(err: StoreNotFoundError, config: Config): string[] {
  const create = err.dialect === 'postgres' ? 'create the tables there' : 'create a new, empty database there';
  const where =
    err.dialect === 'postgres'
      ? "Give this command the server's TASKPROC_DATABASE_URL (--database-url), with its ?schema= if it has one."
      : config.databaseUrl === null
        ? `The data directory is ${config.dataDir}. Run this command from the folder the server was started in (where its ./data is), ` +
          "or give it the server's TASKPROC_DATA_DIR (--data-dir) or TASKPROC_DATABASE_URL (--database-url)."
        : "Give this command the server's TASKPROC_DATABASE_URL (--database-url), or run it from the server's folder if the path is relative.";
  return [`Error: ${err.message}.`, where, `To ${create}, run "taskproc migrate" (the server also does so on its first start).`];
}
