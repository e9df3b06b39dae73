import { SETTING_DEFAULTS, SETTING_KEYS, SettingsService, type Settings } from '../core/settings.js';
import { type Command, type CommandContext, CommandError, OUTPUT_OPTION, OUTPUT_SYNOPSIS, command, printRows } from './command.js';

type SettingName = keyof Settings;

const NAMES = Object.keys(SETTING_KEYS) as SettingName[];

/** Settings are named on the command line by their storage key (`anonymous_access`), as occ names app config keys. */
function settingNamed(key: string): SettingName {
  const name = NAMES.find((n) => SETTING_KEYS[n].key === key);
  if (name !== undefined) return name;
  const width = Math.max(...NAMES.map((n) => SETTING_KEYS[n].key.length));
  throw new CommandError(
    `Unknown setting "${key}". Known settings:`,
    NAMES.map((n) => `  ${SETTING_KEYS[n].key.padEnd(width)}  ${SETTING_KEYS[n].help}`),
  );
}

/** JSON when it parses (`true`, `3600`, `{"a":"b"}`), else the text itself. */
function parseValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

const settingsOf = (ctx: CommandContext) => new SettingsService(ctx.store.settings, ctx.clock);

const configList = command({
  name: 'config:list',
  summary: 'List the admin settings and their values',
  usage: `config:list ${OUTPUT_SYNOPSIS}

Shows the value in effect: the stored one, or the default when none is stored (or the stored one
is invalid).`,
  options: OUTPUT_OPTION,
  async run(a, ctx) {
    const current = await settingsOf(ctx).get();
    const stored = await ctx.store.settings.allSettings();
    const rows = NAMES.map((n) => ({
      key: SETTING_KEYS[n].key,
      value: current[n],
      isDefault: stored[SETTING_KEYS[n].key] === undefined || !SETTING_KEYS[n].valid(stored[SETTING_KEYS[n].key]),
    }));
    printRows(
      a,
      ctx,
      rows,
      [
        { header: 'KEY', value: (r) => r.key },
        { header: 'VALUE', value: (r) => JSON.stringify(r.value) + (r.isDefault ? '  (default)' : '') },
      ],
      (r) => r,
    );
  },
});

const configGet = command({
  name: 'config:get',
  summary: 'Print the value of one setting as JSON',
  usage: 'config:get <key>',
  args: ['key'],
  async run(a, ctx) {
    const name = settingNamed(a.args.key);
    ctx.print(JSON.stringify((await settingsOf(ctx).get())[name]));
  },
});

const configSet = command({
  name: 'config:set',
  summary: 'Change one setting',
  usage: `config:set <key> <value>

The value is read as JSON when it parses (true, 86400, '{"core:text2text":false}'), else as text.`,
  args: ['key', 'value'],
  async run(a, ctx) {
    const name = settingNamed(a.args.key);
    const value = parseValue(a.args.value);
    const spec = SETTING_KEYS[name];
    if (!spec.valid(value)) throw new CommandError(`Invalid value for ${spec.key}: ${a.args.value} (${spec.help})`);
    await settingsOf(ctx).set(name, value as Settings[typeof name]);
    ctx.print(`Setting ${spec.key} set to ${JSON.stringify(value)}.`);
  },
});

const configDelete = command({
  name: 'config:delete',
  summary: 'Reset one setting to its default',
  usage: 'config:delete <key>',
  args: ['key'],
  async run(a, ctx) {
    const name = settingNamed(a.args.key);
    await ctx.store.settings.deleteSetting(SETTING_KEYS[name].key);
    ctx.print(`Setting ${SETTING_KEYS[name].key} reset to its default ${JSON.stringify(SETTING_DEFAULTS[name])}.`);
  },
});

export const configCommands: Command[] = [configList, configGet, configSet, configDelete];
