import type { Clock } from './clock.js';
import type { SettingsStore } from '../store/store.js';

/**
 * Admin settings that change at run time (through `taskproc config:set` or the task-type commands),
 * with their defaults. Upstream's names are noted where one exists.
 */
export interface Settings {
  /** Let callers without credentials schedule and read their own tasks (upstream 30.0's PublicPage). */
  anonymousAccess: boolean;
  /** core/ai.taskprocessing_guests: guest users may use task processing. */
  guestsAllowed: boolean;
  /** ratelimit.protection.enabled */
  rateLimitEnabled: boolean;
  /** Tasks last updated longer ago than this are deleted (upstream: 6 months). */
  retentionSeconds: number;
  /** core/ai.taskprocessing_provider_preferences: task type → provider id. */
  providerPreferences: Record<string, string>;
  /** core/ai.taskprocessing_type_preferences: task type → false when disabled. */
  typePreferences: Record<string, boolean>;
  /** taskproc's dispatch priority per task type (higher first; 0 when not set): tasktype:set-priority. */
  typePriorities: Record<string, number>;
  /** How far above its type's priority an ExApp scheduling through tasks_consumer may put a task. */
  exAppPriorityBoost: number;
}

export const SETTING_DEFAULTS: Readonly<Settings> = Object.freeze({
  anonymousAccess: false,
  guestsAllowed: false,
  rateLimitEnabled: true,
  retentionSeconds: 60 * 60 * 24 * 31 * 6,
  providerPreferences: {},
  typePreferences: {},
  typePriorities: {},
  exAppPriorityBoost: 0,
});

type Check = (v: unknown) => boolean;
const isBool: Check = (v) => typeof v === 'boolean';
const isPriority: Check = (v) => Number.isInteger(v) && (v as number) >= -100 && (v as number) <= 100;
const isMap =
  (valueCheck: Check): Check =>
  (v) =>
    typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every(valueCheck);

/** Storage key and validity check of each setting. */
export const SETTING_KEYS: Record<keyof Settings, { key: string; valid: Check; help: string }> = {
  anonymousAccess: { key: 'anonymous_access', valid: isBool, help: 'true|false: callers without credentials may schedule and read their own tasks' },
  guestsAllowed: { key: 'guests_allowed', valid: isBool, help: 'true|false: guest users may use task processing' },
  rateLimitEnabled: { key: 'ratelimit_enabled', valid: isBool, help: 'true|false: enforce the schedule rate limits' },
  retentionSeconds: {
    key: 'retention_seconds',
    valid: (v) => Number.isInteger(v) && (v as number) > 0,
    help: 'seconds after their last update that tasks are deleted',
  },
  providerPreferences: {
    key: 'provider_preferences',
    valid: isMap((v) => typeof v === 'string'),
    help: 'JSON {taskType: providerId}; set with tasktype:set-provider',
  },
  typePreferences: { key: 'type_preferences', valid: isMap(isBool), help: 'JSON {taskType: false}; set with tasktype:disable/enable' },
  typePriorities: {
    key: 'type_priorities',
    valid: isMap(isPriority),
    help: 'JSON {taskType: priority} (whole numbers from -100 to 100, higher first); set with tasktype:set-priority',
  },
  exAppPriorityBoost: {
    key: 'exapp_priority_boost',
    valid: (v) => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 200,
    help: "how far above its type's priority an ExApp may put a task it schedules through tasks_consumer (0 to 200)",
  },
};

/**
 * Reads settings through a short cache: admin commands run in another process, so the server
 * re-reads at most once per `ttlMs` and a change takes effect within that time.
 */
export class SettingsService {
  private cached: { at: number; value: Settings } | null = null;

  constructor(
    private readonly store: SettingsStore,
    private readonly clock: Clock,
    private readonly ttlMs = 1000,
  ) {}

  async get(): Promise<Settings> {
    const now = this.clock.nowMs();
    if (this.cached && now - this.cached.at < this.ttlMs) return this.cached.value;
    const raw = await this.store.allSettings();
    const value = { ...SETTING_DEFAULTS } as Record<string, unknown>;
    for (const [name, spec] of Object.entries(SETTING_KEYS)) {
      const v = raw[spec.key];
      if (v !== undefined && spec.valid(v)) value[name] = v;
    }
    this.cached = { at: now, value: Object.freeze(value) as unknown as Settings };
    return this.cached.value;
  }

  async set<K extends keyof Settings>(name: K, value: Settings[K]): Promise<void> {
    const spec = SETTING_KEYS[name];
    if (!spec.valid(value)) throw new TypeError(`Invalid value for ${spec.key}: ${JSON.stringify(value)}`);
    await this.store.setSetting(spec.key, value);
    this.cached = null;
  }
}
