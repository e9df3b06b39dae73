import { secretHash } from '../auth/appapi.js';
import { randomToken } from '../auth/passwords.js';
import { loadServerKey, sealSecret } from '../auth/sealed-secret.js';
import { unixSeconds } from '../core/clock.js';
import type { ExApp } from '../store/store.js';
import {
  type Command,
  type CommandContext,
  CommandError,
  OUTPUT_OPTION,
  OUTPUT_SYNOPSIS,
  type CommandArgs,
  command,
  flagOption,
  printRows,
  stringOption,
  yesNo,
} from './command.js';

/** Like TASKPROC_PASS for users: the secret stays out of argv and shell history. */
const SECRET_ENV = 'TASKPROC_APP_SECRET';

/** AppAPI generates 128 characters; fewer than 32 would make the fast secret hash (auth/appapi.ts) guessable. */
const MIN_SECRET_LENGTH = 32;
const GENERATED_SECRET_LENGTH = 64;

/** Nextcloud app ids: letters, digits, `_` and `-` (they travel in the EX-APP-ID header). */
function appIdProblem(appId: string): string | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(appId)) return 'only letters, digits, "_" and "-" are allowed';
  if (appId.length > 64) return 'at most 64 characters';
  return undefined;
}

const versionProblem = (v: string): string | undefined => (/^[0-9A-Za-z.+-]+$/.test(v) ? undefined : `expected a version such as 1.2.0, got "${v}"`);

const urlProblem = (v: string): string | undefined => {
  try {
    const url = new URL(v);
    if (url.protocol === 'http:' || url.protocol === 'https:') return undefined;
  } catch {
    // reported below
  }
  return `expected an http:// or https:// URL, got "${v}"`;
};

async function requireApp(ctx: CommandContext, appId: string): Promise<ExApp> {
  const app = await ctx.store.exapps.getExApp(appId);
  if (app === undefined) throw notRegistered(appId);
  return app;
}

/** The secret from TASKPROC_APP_SECRET with --secret-from-env, else a new random one (`generated`: print it). */
function chooseSecret(a: CommandArgs, ctx: CommandContext): { secret: string; generated: boolean } {
  if (!flagOption(a, 'secret-from-env')) return { secret: randomToken(GENERATED_SECRET_LENGTH), generated: true };
  const secret = ctx.env[SECRET_ENV] ?? '';
  if (secret === '') throw new CommandError(`--secret-from-env given, but ${SECRET_ENV} is empty`);
  if (secret.length < MIN_SECRET_LENGTH) {
    throw new CommandError(`${SECRET_ENV} is too short (${secret.length} characters): an ExApp secret needs at least ${MIN_SECRET_LENGTH} characters`);
  }
  return { secret, generated: false };
}

/** Only an app the server calls back (a base URL) needs its secret recoverable; otherwise only the hash is kept. */
async function sealedFor(ctx: CommandContext, baseUrl: string | null, secret: string): Promise<string | null> {
  if (baseUrl === null) return null;
  return sealSecret(secret, await loadServerKey(ctx.config, ctx.env));
}

function printSecret(ctx: CommandContext, appId: string, secret: string): void {
  ctx.print(`The secret of "${appId}" (APP_SECRET for the ExApp) is shown only this once:`);
  ctx.print(secret);
}

const notRegistered = (appId: string) => new CommandError(`ExApp "${appId}" is not registered; see taskproc app:list`);

const appRegister = command({
  name: 'app:register',
  summary: 'Make an ExApp known, with the secret it authenticates with',
  usage: `app:register <appId> [--version <v>] [--secret-from-env] [--url <url>]

Without --secret-from-env a secret is generated and printed once, as the last line, so a script can
take it with \`tail -n 1\`. With it, the secret is read from ${SECRET_ENV}. Only a hash is stored,
unless --url is given: the server then also keeps the secret sealed with its key (TASKPROC_SECRET_KEY,
or <data-dir>/secret.key), to authenticate its own calls to the app. The version defaults to 1.0.0;
the app's EX-APP-VERSION header raises it.`,
  args: ['appId'],
  options: {
    version: { type: 'string', check: versionProblem },
    'secret-from-env': { type: 'boolean' },
    url: { type: 'string', check: urlProblem },
  },
  async run(a, ctx) {
    const { appId } = a.args;
    const problem = appIdProblem(appId);
    if (problem !== undefined) throw new CommandError(`Invalid app id "${appId}": ${problem}`);
    if ((await ctx.store.exapps.getExApp(appId)) !== undefined) {
      throw new CommandError(`ExApp "${appId}" is already registered; use app:set-secret to change its secret`);
    }
    const { secret, generated } = chooseSecret(a, ctx);
    const baseUrl = stringOption(a, 'url')?.replace(/\/+$/, '') ?? null;
    await ctx.store.exapps.createExApp({
      appId,
      version: stringOption(a, 'version') ?? '1.0.0',
      secretHash: secretHash(secret),
      sealedSecret: await sealedFor(ctx, baseUrl, secret),
      baseUrl,
      enabled: true,
      createdAt: unixSeconds(ctx.clock),
    });
    ctx.print(`ExApp "${appId}" registered and enabled.`);
    if (generated) printSecret(ctx, appId, secret);
  },
});

const appList = command({
  name: 'app:list',
  summary: 'List ExApps with their providers',
  usage: `app:list ${OUTPUT_SYNOPSIS}`,
  options: OUTPUT_OPTION,
  async run(a, ctx) {
    const providers = await ctx.store.exapps.listProviders();
    const rows = (await ctx.store.exapps.listExApps()).map((app) => ({
      app,
      providers: providers.filter((p) => p.appId === app.appId).map((p) => p.providerId),
    }));
    printRows(
      a,
      ctx,
      rows,
      [
        { header: 'APP ID', value: (r) => r.app.appId },
        { header: 'VERSION', value: (r) => r.app.version },
        { header: 'ENABLED', value: (r) => yesNo(r.app.enabled) },
        { header: 'URL', value: (r) => r.app.baseUrl ?? '-' },
        { header: 'PROVIDERS', value: (r) => r.providers.join(', ') || '-' },
      ],
      (r) => ({ appId: r.app.appId, version: r.app.version, enabled: r.app.enabled, url: r.app.baseUrl, providers: r.providers }),
    );
  },
});

function setEnabled(enabled: boolean): Command {
  const verb = enabled ? 'enable' : 'disable';
  return command({
    name: `app:${verb}`,
    summary: enabled ? 'Let a disabled ExApp authenticate and offer its providers again' : 'Refuse an ExApp and hide its providers (registrations are kept)',
    usage: `app:${verb} <appId>

A running server notices within a second.`,
    args: ['appId'],
    async run(a, ctx) {
      if ((await ctx.store.exapps.updateExApp(a.args.appId, { enabled })) === undefined) throw notRegistered(a.args.appId);
      ctx.print(`ExApp "${a.args.appId}" ${verb}d.`);
    },
  });
}

const appUnregister = command({
  name: 'app:unregister',
  summary: 'Forget an ExApp and the providers it registered',
  usage: 'app:unregister <appId>',
  args: ['appId'],
  async run(a, ctx) {
    if (!(await ctx.store.exapps.deleteExApp(a.args.appId))) throw notRegistered(a.args.appId);
    ctx.print(`ExApp "${a.args.appId}" unregistered, with its providers.`);
  },
});

const appSetSecret = command({
  name: 'app:set-secret',
  summary: "Replace an ExApp's secret",
  usage: `app:set-secret <appId> [--secret-from-env]

As app:register: a generated secret is printed once, as the last line; --secret-from-env reads
${SECRET_ENV}. The old secret stops working at once.`,
  args: ['appId'],
  options: { 'secret-from-env': { type: 'boolean' } },
  async run(a, ctx) {
    const app = await requireApp(ctx, a.args.appId);
    const { secret, generated } = chooseSecret(a, ctx);
    await ctx.store.exapps.updateExApp(app.appId, { secretHash: secretHash(secret), sealedSecret: await sealedFor(ctx, app.baseUrl, secret) });
    ctx.print(`Secret of ExApp "${app.appId}" replaced.`);
    if (generated) printSecret(ctx, app.appId, secret);
  },
});

export const appCommands: Command[] = [appRegister, appList, setEnabled(false), setEnabled(true), appUnregister, appSetSecret];
