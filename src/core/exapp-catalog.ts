import type { ExAppProvider, ExAppStore } from '../store/store.js';
import type { Clock } from './clock.js';
import { type ProviderInfo, providerInfo } from './provider.js';
import type { ProviderRegistry } from './provider-registry.js';
import { SHAPE_TYPE, type Shape, type ShapeDefaults, type ShapeEnumValues, shapeTypeFromNumber } from './shapes.js';
import type { TaskTypeDefinition, TaskTypeRegistry } from './task-types.js';
import { isXmlName, XML_NAME_RULE } from './xml-name.js';

/**
 * The providers and custom task types that ExApps registered through AppAPI's routes, brought into
 * the in-memory registries. The store is the truth (another process, such as the CLI disabling an
 * app, may change it), so the registries are reloaded at most once per `ttlMs`, or on the next
 * sync after `invalidate()`. Only what this catalog added is ever removed again: in-process
 * providers and core task types stay, and a custom type that had replaced a core one gives the core
 * one back (TaskTypeRegistry.unregister).
 */
export class ExAppCatalog {
  /** Provider id → app id, for the providers this catalog put into the registry. */
  private owners = new Map<string, string>();
  private customTypes = new Set<string>();
  /** What the registries were last built from; a sync that finds the same changes nothing. */
  private signature = '';
  private generation = 0;
  private loadedGeneration = -1;
  private loadedAtMs = 0;
  private inFlight: { generation: number; promise: Promise<void> } | null = null;

  constructor(
    private readonly store: ExAppStore,
    private readonly providers: ProviderRegistry,
    private readonly taskTypes: TaskTypeRegistry,
    private readonly clock: Clock,
    private readonly ttlMs = 1000,
  ) {}

  /** Makes the registries match the store, unless that was done less than ttlMs ago and nothing was invalidated. */
  async sync(): Promise<void> {
    if (this.isFresh()) return;
    // A load that started before the latest invalidate() may have missed the change: wait for it, then load again.
    const wanted = this.generation;
    for (;;) {
      const run = this.inFlight ?? this.startLoad();
      await run.promise;
      if (run.generation >= wanted) return;
    }
  }

  /** The next sync reloads from the store (called right after a registration change on this node). */
  invalidate(): void {
    this.generation++;
  }

  /** The app that registered a provider, as of the last sync; undefined for in-process or unknown providers. */
  appIdOf(providerId: string): string | undefined {
    return this.owners.get(providerId);
  }

  /**
   * Why `appId` may not register `providerId`, or undefined when it may: provider ids are global
   * (workers claim by them), so one held by another app or by an in-process provider is taken.
   */
  async providerIdConflict(appId: string, providerId: string): Promise<string | undefined> {
    const other = (await this.store.listProviders()).find((p) => p.providerId === providerId && p.appId !== appId);
    if (other) return `the provider id "${providerId}" is taken by the ExApp "${other.appId}"`;
    if (this.providers.get(providerId)?.inProcess) return `the provider id "${providerId}" is taken by a built-in provider`;
    return undefined;
  }

  private isFresh(): boolean {
    return this.loadedGeneration === this.generation && this.clock.nowMs() - this.loadedAtMs < this.ttlMs;
  }

  private startLoad(): { generation: number; promise: Promise<void> } {
    const generation = this.generation;
    const startedAt = this.clock.nowMs();
    const run = {
      generation,
      promise: this.load().then(
        () => {
          this.loadedGeneration = generation;
          this.loadedAtMs = startedAt;
          this.inFlight = null;
        },
        (err: unknown) => {
          this.inFlight = null;
          throw err;
        },
      ),
    };
    this.inFlight = run;
    return run;
  }

  private async load(): Promise<void> {
    const [apps, rows] = await Promise.all([this.store.listExApps(), this.store.listProviders()]);
    const enabled = new Set(apps.filter((a) => a.enabled).map((a) => a.appId));
    const wanted = rows.filter((r) => enabled.has(r.appId));
    const signature = JSON.stringify(wanted.map((r) => [r.appId, r.provider, r.customTaskType]));
    if (signature === this.signature) return;
    this.apply(wanted);
    this.signature = signature;
  }

  /** Synchronous, so no request sees the registries half rebuilt. */
  private apply(rows: ExAppProvider[]): void {
    const providers = new Map<string, { appId: string; info: ProviderInfo }>();
    const types = new Map<string, TaskTypeDefinition>();
    for (const row of rows) {
      let info: ProviderInfo;
      let type: TaskTypeDefinition | null;
      try {
        ({ info, customType: type } = parseRegistration(row.provider, row.customTaskType, { stored: true }));
      } catch {
        // Rows were checked when registered; one that no longer parses (rules tightened since) is left out.
        continue;
      }
      // Two apps cannot share a provider id (registration refuses it); if a race let it happen, the first wins.
      if (providers.has(info.id)) continue;
      const current = this.providers.get(info.id);
      if (current?.inProcess) continue;
      providers.set(info.id, { appId: row.appId, info });
      // Later registrations of the same custom type id replace earlier ones, as upstream's Manager does.
      if (type) types.set(type.id, type);
    }

    // Rebuilt in row order each time, so ExApp providers keep their registration order after in-process ones.
    for (const id of this.owners.keys()) {
      if (this.providers.get(id)?.inProcess === null) this.providers.remove(id);
    }
    this.owners = new Map();
    for (const [id, p] of providers) {
      this.providers.add({ info: p.info, inProcess: null });
      this.owners.set(id, p.appId);
    }

    for (const id of this.customTypes) if (!types.has(id)) this.taskTypes.unregister(id);
    for (const type of types.values()) this.taskTypes.register(type);
    this.customTypes = new Set(types.keys());
  }
}

/** What an ExApp registers: a provider, and the custom task type it serves, if any. */
export interface Registration {
  info: ProviderInfo;
  customType: TaskTypeDefinition | null;
}

/** Longest provider id and task type id a registration may carry (characters). */
const MAX_ID_LENGTH = 255;

/** A registration payload that AppAPI would refuse; the message says why (upstream's words where it has them). */
export class RegistrationError extends Error {
  override name = 'RegistrationError';
}

const SHAPE_NUMBERS: ReadonlySet<unknown> = new Set(Object.values(SHAPE_TYPE));

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** How parseRegistration reads a payload. */
export interface ParseOptions {
  /**
   * A row of exapp_providers rather than a new registration: names are not held to the XML name
   * rule, which came later, so that providers registered before it keep working (the XML writer
   * encodes such names; api/ocs-xml.ts).
   */
  stored?: boolean;
}

/**
 * AppAPI's TaskProcessingService::validateTaskProcessingProvider (and the custom-type check before
 * it), turning the snake_case payloads nc_py_api sends into our shapes. Stricter where upstream
 * would fail later anyway (EShapeType::from throws on an unknown shape_type when the provider is
 * used): slot fields must have their types and a custom task type must be complete. Also stricter
 * where upstream would fail on every later answer in XML: slot names (of shapes, enum values and
 * defaults) and a custom type's id become element names there, and PHP's XMLWriter throws on a
 * key that is not an XML name (core/xml-name.ts), so such names are refused. A default must be a
 * finite number (a JSON 1e400 is Infinity, on which upstream's json_encode fails when it stores the
 * payload). Throws RegistrationError.
 */
export function parseRegistration(provider: unknown, custom: unknown, options: ParseOptions = {}): Registration {
  const names: NameCheck = options.stored ? checkProtoOnly : checkName;
  if (!isObject(provider)) throw new RegistrationError('"provider" must be an object');
  if (custom !== null && !isObject(custom)) throw new RegistrationError('"customTaskType" must be an object');
  if (custom !== null && provider.task_type !== custom.id) {
    throw new RegistrationError('Task type and custom task type must be the same if custom task type is provided');
  }
  for (const key of ['id', 'name', 'task_type']) {
    if (typeof provider[key] !== 'string') throw new RegistrationError(`"${key}" key must be a string`);
  }
  // The provider id is indexed with its app, and PostgreSQL refuses index entries over 2704 bytes;
  // a type longer than schedule accepts (255, upstream's VARCHAR(255)) could never get a task.
  for (const key of ['id', 'task_type']) {
    if ((provider[key] as string).length > MAX_ID_LENGTH) throw new RegistrationError(`"${key}" key must be at most ${MAX_ID_LENGTH} characters`);
  }
  if (!Number.isInteger(provider.expected_runtime)) throw new RegistrationError('"expected_runtime" key must be an integer');
  // Past 2^53 seconds, completionExpectedAt and the lease (4 × the runtime) no longer fit a bigint.
  if (!Number.isSafeInteger(provider.expected_runtime)) {
    throw new RegistrationError(`"expected_runtime" key must be an integer from -${Number.MAX_SAFE_INTEGER} to ${Number.MAX_SAFE_INTEGER}`);
  }
  const p = provider as Record<string, unknown> & { id: string; name: string; task_type: string; expected_runtime: number };
  // In upstream's order of checks, so the first problem reported is the one upstream would log.
  const optionalInputShape = shapeOf(p, 'optional_input_shape', names);
  const optionalOutputShape = shapeOf(p, 'optional_output_shape', names);
  const inputShapeEnumValues = enumValuesOf(p, 'input_shape_enum_values', names);
  const inputShapeDefaults = defaultsOf(p, 'input_shape_defaults', names);
  const optionalInputShapeEnumValues = enumValuesOf(p, 'optional_input_shape_enum_values', names);
  const optionalInputShapeDefaults = defaultsOf(p, 'optional_input_shape_defaults', names);
  const info = providerInfo({
    id: p.id,
    name: p.name,
    taskType: p.task_type,
    expectedRuntime: p.expected_runtime,
    optionalInputShape,
    optionalOutputShape,
    inputShapeEnumValues,
    inputShapeDefaults,
    optionalInputShapeEnumValues,
    optionalInputShapeDefaults,
    outputShapeEnumValues: enumValuesOf(p, 'output_shape_enum_values', names),
    optionalOutputShapeEnumValues: enumValuesOf(p, 'optional_output_shape_enum_values', names),
  });
  return { info, customType: custom === null ? null : customTypeOf(custom, names) };
}

function customTypeOf(t: Record<string, unknown>, names: NameCheck): TaskTypeDefinition {
  for (const key of ['id', 'name', 'description']) {
    if (typeof t[key] !== 'string') throw new RegistrationError(`"customTaskType" key "${key}" must be a string`);
  }
  // /tasktypes keys its types by id.
  names(t.id as string, () => `"customTaskType" key "id": the task type id ${JSON.stringify(t.id)}`);
  return {
    id: t.id as string,
    name: t.name as string,
    description: t.description as string,
    inputShape: shapeOf(t, 'input_shape', names),
    outputShape: shapeOf(t, 'output_shape', names),
  };
}

/** A list of {name, description, shape_type}, keyed by name as upstream's anonymous provider keys it. */
function shapeOf(payload: Record<string, unknown>, key: string, names: NameCheck): Shape {
  const malformed = () => new RegistrationError(`"${key}" should be an array and must have "name", "description" and "shape_type" keys`);
  const list = listOf(payload[key]);
  if (list === undefined) throw malformed();
  const shape: Shape = {};
  for (const slot of list) {
    if (!isObject(slot) || typeof slot.name !== 'string' || typeof slot.description !== 'string' || !('shape_type' in slot)) throw malformed();
    checkSlotKey(slot.name, key, names);
    const type = SHAPE_NUMBERS.has(slot.shape_type) ? shapeTypeFromNumber(slot.shape_type as number) : undefined;
    if (type === undefined) {
      throw new RegistrationError(`"${key}": shape_type ${JSON.stringify(slot.shape_type)} of slot "${slot.name}" is not a known shape type (0-6, 10-15)`);
    }
    shape[slot.name] = { name: slot.name, description: slot.description, type };
  }
  return shape;
}

function enumValuesOf(payload: Record<string, unknown>, key: string, names: NameCheck): ShapeEnumValues {
  const malformed = () => new RegistrationError(`"${key}" should be an array and must have "name" and "value" keys`);
  const map = mapOf(payload[key]);
  if (map === undefined) throw malformed();
  const out: ShapeEnumValues = {};
  for (const [slot, values] of Object.entries(map)) {
    checkSlotKey(slot, key, names);
    const list = listOf(values);
    if (list === undefined) throw malformed();
    out[slot] = list.map((v) => {
      if (!isObject(v) || typeof v.name !== 'string' || typeof v.value !== 'string') throw malformed();
      return { name: v.name, value: v.value };
    });
  }
  return out;
}

function defaultsOf(payload: Record<string, unknown>, key: string, names: NameCheck): ShapeDefaults {
  const map = mapOf(payload[key]);
  if (map === undefined) throw new RegistrationError(`"${key}" key must be an array`);
  const out: ShapeDefaults = {};
  for (const [slot, value] of Object.entries(map)) {
    checkSlotKey(slot, key, names);
    // Infinity (a JSON 1e400) would be stored as null, which the catalog's reload then refuses: the
    // registration would be answered 200 and the provider silently left out.
    if (typeof value !== 'string' && !(typeof value === 'number' && Number.isFinite(value))) {
      throw new RegistrationError(`"${key}": the default of "${slot}" must be a string or a finite number`);
    }
    out[slot] = value;
  }
  return out;
}

/** A JSON list; `{}` too, since PHP cannot tell an empty object from an empty list. */
function listOf(value: unknown): unknown[] | undefined {
  if (Array.isArray(value)) return value;
  return isObject(value) && Object.keys(value).length === 0 ? [] : undefined;
}

/** A JSON object; `[]` too, which is how PHP re-encodes the `{}` nc_py_api sends. */
function mapOf(value: unknown): Record<string, unknown> | undefined {
  if (Array.isArray(value)) return value.length === 0 ? {} : undefined;
  return isObject(value) ? value : undefined;
}

/** Refuses a name that may not be registered; `what` describes it for the message. */
type NameCheck = (name: string, what: () => string) => void;

const checkName: NameCheck = (name, what) => {
  checkProtoOnly(name, what);
  if (!isXmlName(name)) {
    throw new RegistrationError(`${what()} is not a valid XML name (${XML_NAME_RULE}); XML answers write it as an element name`);
  }
};

// Slot keys become object properties here and in every later lookup, where `__proto__` would not be one.
const checkProtoOnly: NameCheck = (name, what) => {
  if (name === '__proto__') throw new RegistrationError(`${what()} is reserved`);
};

function checkSlotKey(slot: string, key: string, names: NameCheck): void {
  names(slot, () => `"${key}": the slot name ${JSON.stringify(slot)}`);
}
