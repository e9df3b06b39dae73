import { ExAppCatalog } from '../core/exapp-catalog.js';
import { ProviderRegistry } from '../core/provider-registry.js';
import { PRIORITY_MAX, PRIORITY_MIN } from '../core/dispatch.js';
import { SettingsService } from '../core/settings.js';
import { TaskTypeRegistry, type TaskTypeDefinition } from '../core/task-types.js';
import { builtinProviders } from '../providers/builtin.js';
import { type Command, type CommandContext, CommandError, OUTPUT_OPTION, OUTPUT_SYNOPSIS, command, printRows, yesNo } from './command.js';

/**
 * The registries the server builds at start-up, rebuilt here so the commands judge task types and
 * providers exactly as the server does. Providers registered at run time (ExApps) are not known
 * to this process.
 */
async function registries(ctx: CommandContext): Promise<{ taskTypes: TaskTypeRegistry; providers: ProviderRegistry; settings: SettingsService }> {
  const providers = new ProviderRegistry();
  for (const p of builtinProviders(ctx.config)) providers.addInProcess(p);
  const taskTypes = new TaskTypeRegistry();
  // ExApp providers and custom types come from the database, as the server loads them.
  await new ExAppCatalog(ctx.store.exapps, providers, taskTypes, ctx.clock).sync();
  return { taskTypes, providers, settings: new SettingsService(ctx.store.settings, ctx.clock) };
}

function requireType(taskTypes: TaskTypeRegistry, id: string): TaskTypeDefinition {
  const type = taskTypes.get(id);
  if (type === undefined) throw new CommandError(`Unknown task type "${id}"; see taskproc tasktype:list`);
  return type;
}

const providerIdsFor = (providers: ProviderRegistry, type: string): string[] =>
  providers
    .all()
    .filter((p) => p.info.taskType === type)
    .map((p) => p.info.id);

const tasktypeList = command({
  name: 'tasktype:list',
  summary: 'List task types with their providers and whether they are enabled',
  usage: `tasktype:list ${OUTPUT_SYNOPSIS}

PREFERRED is the provider new tasks go to: the one set with tasktype:set-provider when it is
available, else the first registered.`,
  options: OUTPUT_OPTION,
  async run(a, ctx) {
    const { taskTypes, providers, settings } = await registries(ctx);
    const current = await settings.get();
    const rows = taskTypes.all().map((t) => ({
      id: t.id,
      name: t.name,
      enabled: current.typePreferences[t.id] !== false,
      providers: providerIdsFor(providers, t.id),
      preferredProvider: providers.preferred(t.id, current)?.info.id ?? null,
      priority: Object.hasOwn(current.typePriorities, t.id) ? (current.typePriorities[t.id] as number) : 0,
    }));
    printRows(
      a,
      ctx,
      rows,
      [
        { header: 'TASK TYPE', value: (r) => r.id },
        { header: 'ENABLED', value: (r) => yesNo(r.enabled) },
        { header: 'PRIORITY', value: (r) => String(r.priority) },
        { header: 'PREFERRED', value: (r) => r.preferredProvider ?? '-' },
        { header: 'PROVIDERS', value: (r) => r.providers.join(', ') || '-' },
      ],
      (r) => r,
    );
  },
});

function setTypeEnabled(enabled: boolean): Command {
  const verb = enabled ? 'enable' : 'disable';
  return command({
    name: `tasktype:${verb}`,
    summary: enabled ? 'Offer a disabled task type again' : 'Stop offering a task type (existing tasks are kept)',
    usage: `tasktype:${verb} <type>`,
    args: ['type'],
    async run(a, ctx) {
      const { taskTypes, settings } = await registries(ctx);
      const { id } = requireType(taskTypes, a.args.type);
      // Only `false` is stored, as upstream's type preferences do: enabled is the absence of an entry.
      const { [id]: _old, ...others } = (await settings.get()).typePreferences;
      await settings.set('typePreferences', enabled ? others : { ...others, [id]: false });
      ctx.print(`Task type "${id}" ${verb}d.`);
    },
  });
}

const tasktypeSetProvider = command({
  name: 'tasktype:set-provider',
  summary: 'Choose the provider that new tasks of a type go to',
  usage: 'tasktype:set-provider <type> <providerId>',
  args: ['type', 'providerId'],
  async run(a, ctx) {
    const { taskTypes, providers, settings } = await registries(ctx);
    const { id } = requireType(taskTypes, a.args.type);
    const valid = providerIdsFor(providers, id);
    if (!valid.includes(a.args.providerId)) {
      const problem = providers.get(a.args.providerId) === undefined ? 'is not registered' : `does not serve task type "${id}"`;
      const choices = valid.length > 0 ? `"${id}" is served by: ${valid.join(', ')}` : `"${id}" has no registered provider`;
      throw new CommandError(`Provider "${a.args.providerId}" ${problem}; ${choices}`);
    }
    const current = await settings.get();
    await settings.set('providerPreferences', { ...current.providerPreferences, [id]: a.args.providerId });
    ctx.print(`Task type "${id}" now uses provider "${a.args.providerId}".`);
  },
});

const tasktypeUnsetProvider = command({
  name: 'tasktype:unset-provider',
  summary: 'Forget the chosen provider of a type (the first registered is used)',
  usage: 'tasktype:unset-provider <type>',
  args: ['type'],
  async run(a, ctx) {
    const { taskTypes, providers, settings } = await registries(ctx);
    const { id } = requireType(taskTypes, a.args.type);
    const { [id]: _old, ...others } = (await settings.get()).providerPreferences;
    await settings.set('providerPreferences', others);
    const fallback = providers.preferred(id, { providerPreferences: others })?.info.id;
    ctx.print(`Task type "${id}" has no chosen provider; ${fallback === undefined ? 'it has no registered provider.' : `it uses "${fallback}".`}`);
  },
});

const tasktypeSetPriority = command({
  name: 'tasktype:set-priority',
  summary: 'Set the dispatch priority of a task type (higher is handed to workers first)',
  usage: `tasktype:set-priority <type> <priority>

<priority> is a whole number from ${PRIORITY_MIN} to ${PRIORITY_MAX}; every type has 0 until set. Workers
get the highest priority first, and within one priority the users with waiting tasks take turns.
Tasks of the type that are waiting now move by the same step.`,
  args: ['type', 'priority'],
  async run(a, ctx) {
    const { taskTypes, settings } = await registries(ctx);
    const { id } = requireType(taskTypes, a.args.type);
    const raw = a.args.priority;
    const priority = /^[+-]?[0-9]{1,3}$/.test(raw) ? Number(raw) : Number.NaN;
    if (!(Number.isInteger(priority) && priority >= PRIORITY_MIN && priority <= PRIORITY_MAX)) {
      throw new CommandError(`Priority must be a whole number from ${PRIORITY_MIN} to ${PRIORITY_MAX}, got "${raw}"`);
    }
    const current = (await settings.get()).typePriorities;
    const before = Object.hasOwn(current, id) ? (current[id] as number) : 0;
    const { [id]: _old, ...others } = current;
    await settings.set('typePriorities', priority === 0 ? others : { ...others, [id]: priority });
    const moved = await ctx.store.tasks.shiftPriority(id, priority - before);
    ctx.print(`Task type "${id}" now has priority ${priority} (was ${before}); ${moved} waiting task${moved === 1 ? '' : 's'} moved with it.`);
  },
});

export const tasktypeCommands: Command[] = [
  tasktypeList,
  setTypeEnabled(false),
  setTypeEnabled(true),
  tasktypeSetProvider,
  tasktypeUnsetProvider,
  tasktypeSetPriority,
];
