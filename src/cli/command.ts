import type { Config } from '../config.js';
import type { Clock } from '../core/clock.js';
import type { Store } from '../store/store.js';

/** What a command gets once its arguments parsed: the config, a migrated store, the environment. */
export interface CommandContext {
  config: Config;
  store: Store;
  env: Record<string, string | undefined>;
  clock: Clock;
  /** Writes one or more lines to stdout. */
  print(text: string): void;
}

export interface OptionSpec {
  type: 'string' | 'boolean';
  /** Checks a string value before the store is opened; returns why it is wrong, or undefined. */
  check?(value: string): string | undefined;
}

export interface CommandArgs<A extends string = string> {
  args: Record<A, string>;
  /** Optional positional arguments that were given, by name. */
  optional: Record<string, string | undefined>;
  values: Record<string, string | boolean | undefined>;
}

/**
 * An admin command that works on the store. The dispatcher parses its options (plus the config
 * flags every command takes), checks the positional count, opens the server's store (refusing to
 * create one unless `createsStore`) and migrates it, and turns thrown errors into exit codes;
 * `run` only does the work and prints what it did.
 */
export interface Command<A extends string = string> {
  name: string;
  /** One line for the command list. */
  summary: string;
  /** Synopsis after `taskproc `, optionally followed by lines of explanation. */
  usage: string;
  options?: Record<string, OptionSpec>;
  /** Required positional arguments, in order; fewer is a usage error. */
  args?: readonly A[];
  /** Optional positional arguments after the required ones; more than these is a usage error. */
  optionalArgs?: readonly string[];
  /**
   * Whether the command may create a new database (only `migrate`). Every other command refuses
   * to run on a database taskproc never created: run from the wrong folder, it would otherwise
   * make an empty one and answer that the server's users do not exist.
   */
  createsStore?: boolean;
  run(args: CommandArgs<A>, ctx: CommandContext): Promise<void>;
}

/** Erases the positional names so commands with different arguments share one table. */
export function command<A extends string>(c: Command<A>): Command {
  return c as unknown as Command;
}

/** The operation was refused or failed: `Error: message` (plus detail lines) and exit code 1. */
export class CommandError extends Error {
  constructor(
    message: string,
    readonly details: readonly string[] = [],
  ) {
    super(message);
    this.name = 'CommandError';
  }
}

/** The command line itself is wrong: the message, the command's usage, and exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export function stringOption(a: CommandArgs, name: string): string | undefined {
  const v = a.values[name];
  return typeof v === 'string' ? v : undefined;
}

export function flagOption(a: CommandArgs, name: string): boolean {
  return a.values[name] === true;
}

export const positiveInteger = (value: string): string | undefined =>
  /^[1-9]\d{0,15}$/.test(value) ? undefined : `expected a positive whole number, got "${value}"`;

export const oneOf =
  (...choices: string[]) =>
  (value: string): string | undefined =>
    choices.includes(value) ? undefined : `expected one of ${choices.join(', ')}, got "${value}"`;

/** occ's formats: `plain` for people, `json` and `json_pretty` for scripts. */
const OUTPUT_FORMATS = ['plain', 'json', 'json_pretty'] as const;
type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export const OUTPUT_OPTION: Record<string, OptionSpec> = { output: { type: 'string', check: oneOf(...OUTPUT_FORMATS) } };
export const OUTPUT_SYNOPSIS = '[--output plain|json|json_pretty]';

export interface Column<T> {
  header: string;
  value(row: T): string;
}

/**
 * Prints rows as an aligned table, or as JSON (`toJson` of each row) when `--output json` was
 * given. JSON output is always an array, even when empty, so scripts need no special case.
 */
export function printRows<T>(a: CommandArgs, ctx: CommandContext, rows: readonly T[], columns: Column<T>[], toJson: (row: T) => unknown): void {
  const format = (stringOption(a, 'output') ?? 'plain') as OutputFormat;
  if (format !== 'plain') {
    ctx.print(JSON.stringify(rows.map(toJson), null, format === 'json_pretty' ? 2 : undefined));
    return;
  }
  if (rows.length === 0) {
    ctx.print('(none)');
    return;
  }
  ctx.print(formatTable([columns.map((c) => c.header), ...rows.map((r) => columns.map((c) => c.value(r)))]));
}

function formatTable(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ')).join('\n');
}

export const yesNo = (b: boolean): string => (b ? 'yes' : 'no');

/** Unix seconds as an ISO date in UTC, second precision. */
export function isoTime(seconds: number | null, none = '-'): string {
  return seconds === null ? none : new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
}
