import { validationFailed } from './errors.js';
import type { ProviderInfo } from './provider.js';
import {
  isFileType,
  isListType,
  scalarOf,
  type Shape,
  type ShapeDefaults,
  type ShapeEnumValue,
  type ShapeEnumValues,
  type ShapeTypeName,
  type TaskIO,
} from './shapes.js';
import type { TaskTypeDefinition } from './task-types.js';

/** The error text a task gets when a provider's output fails validation (SEMANTICS.md §7). */
export const OUTPUT_VALIDATION_FAILED =
  "The task was processed successfully but the provider's output doesn't pass validation against the task type's outputShape spec and/or the provider's own optionalOutputShape spec";

// Upstream EShapeType messages, typos included ("ListOfAudio", the ListOfVideos and ListOfFiles
// texts): clients show them and tests may compare them.
const TYPE_MESSAGES: Record<ShapeTypeName, string> = {
  Number: 'Non-numeric item provided for Number slot',
  Text: 'Non-text item provided for Text slot',
  Image: 'Non-image item provided for Image slot',
  Audio: 'Non-audio item provided for Audio slot',
  Video: 'Non-video item provided for Video slot',
  File: 'Non-file item provided for File slot',
  Enum: 'Non-text item provided for Enum slot',
  ListOfNumbers: 'Non-numeric list item provided for ListOfNumbers slot',
  ListOfTexts: 'Non-text list item provided for ListOfTexts slot',
  ListOfImages: 'Non-image list item provided for ListOfImages slot',
  ListOfAudios: 'Non-audio list item provided for ListOfAudio slot',
  ListOfVideos: 'Non-video list item provided for ListOfTexts slot',
  ListOfFiles: 'Non-audio list item provided for ListOfFiles slot',
};

// PHP 8 is_numeric for strings: optional surrounding whitespace (trailing allowed since PHP 8),
// decimal or exponent notation, no hex, no "INF"/"NAN", not empty.
const NUMERIC_STRING = /^[ \t\n\r\v\f]*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?[ \t\n\r\v\f]*$/;

function isNumeric(value: unknown): boolean {
  if (typeof value === 'number') return Number.isFinite(value);
  return typeof value === 'string' && NUMERIC_STRING.test(value);
}

/** Input rule: file slots carry any numeric value, and nothing is cast. */
function acceptsScalar(type: ShapeTypeName, value: unknown): boolean {
  return type === 'Text' || type === 'Enum' ? typeof value === 'string' : isNumeric(value);
}

/**
 * Output file ids are stored as ints. Upstream accepted `"123"` but not `123` for Audio, Video and
 * File outputs (a bug); the clone accepts both, but not a fraction, which cannot name a file.
 */
function outputFileId(value: unknown): number | undefined {
  if (!isNumeric(value)) return undefined;
  const id = Number(typeof value === 'string' ? value.trim() : value);
  return Number.isSafeInteger(id) ? id : undefined;
}

function accepts(type: ShapeTypeName, value: unknown, forOutput: boolean): boolean {
  const scalar = scalarOf(type);
  const ok = forOutput && isFileType(type) ? (v: unknown) => outputFileId(v) !== undefined : (v: unknown) => acceptsScalar(scalar, v);
  if (!isListType(type)) return ok(value);
  // An empty list passes, as upstream's array_filter count does.
  return Array.isArray(value) && value.every(ok);
}

/** PHP `isset($io[$key])`: absent and null are the same. */
function present(io: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(io, key) && io[key] !== null ? io[key] : undefined;
}

/** Returns the inner error message, or undefined when the value is one of the enum values. */
function enumError(type: ShapeTypeName, value: unknown, values: readonly ShapeEnumValue[]): string | undefined {
  if (type !== 'Enum') return 'Provider provided enum values for non-enum slot';
  if (values.some((v) => v.value === value)) return undefined;
  const expected = values.map((v) => v.value).join('", "');
  return `Wrong value given for Enum slot. Got "${String(value)}", but expected one of the provided enum values: "${expected}"`;
}

function checkInputShape(shape: Shape, defaults: ShapeDefaults, enumValues: ShapeEnumValues, input: Record<string, unknown>, optional: boolean): void {
  for (const [key, { type }] of Object.entries(shape)) {
    const value = present(input, key);
    if (value === undefined) {
      if (optional) continue;
      const fallback = present(defaults, key);
      if (fallback === undefined) throw validationFailed(`Missing key: "${key}"`);
      if (isListType(type)) throw validationFailed('Provider tried to set a default value for a non-scalar slot');
      if (isFileType(type)) {
        throw validationFailed('Provider tried to set a default value for a slot that is not text or number');
      }
      // Upstream does not wrap default errors in "Failed to validate input key", nor enum-check them.
      if (!accepts(type, fallback, false)) throw validationFailed(TYPE_MESSAGES[type]);
      continue;
    }
    const inner = inputSlotError(key, type, value, enumValues);
    if (inner !== undefined) throw validationFailed(`Failed to validate input key "${key}": ${inner}`);
  }
}

function inputSlotError(key: string, type: ShapeTypeName, value: unknown, enumValues: ShapeEnumValues): string | undefined {
  if (!accepts(type, value, false)) return TYPE_MESSAGES[type];
  if (type !== 'Enum') return undefined;
  const values = present(enumValues, key) as ShapeEnumValue[] | undefined;
  if (values === undefined) return `Provider did not provide enum values for an enum slot: "${key}"`;
  return enumError(type, value, values);
}

/**
 * Validates a schedule request's input against the task type and the provider (SEMANTICS.md §3),
 * then returns what is stored: only keys of the mandatory and optional input shapes, with every
 * provider default filled in (given values win; upstream's key order: defaults first, then the
 * rest in shape order). Values are not cast. Null counts as absent, so a null value is replaced
 * by its default or left out.
 * File existence and access (§4) are the caller's job.
 * @throws DomainError `validation_failed` with the upstream message, at the first failing slot.
 */
export function validateInput(type: TaskTypeDefinition, provider: ProviderInfo, input: Record<string, unknown>): TaskIO {
  checkInputShape(type.inputShape, provider.inputShapeDefaults, provider.inputShapeEnumValues, input, false);
  checkInputShape(provider.optionalInputShape, provider.optionalInputShapeDefaults, provider.optionalInputShapeEnumValues, input, true);
  // Upstream array_merge(defaults, input): default keys come first, a given value takes its place.
  return Object.fromEntries([
    ...definedEntries(provider.inputShapeDefaults),
    ...definedEntries(provider.optionalInputShapeDefaults),
    ...keptEntries([type.inputShape, provider.optionalInputShape], input),
  ]);
}

function definedEntries(map: Record<string, unknown>): [string, unknown][] {
  return Object.entries(map).filter(([, v]) => v !== null && v !== undefined);
}

/** The non-null values of `io` for the keys of `shapes`, in shape order (upstream's removeSuperfluousArrayKeys). */
function keptEntries(shapes: readonly Shape[], io: Record<string, unknown>): [string, unknown][] {
  const entries = new Map<string, unknown>();
  for (const shape of shapes) {
    for (const key of Object.keys(shape)) {
      const value = present(io, key);
      if (value !== undefined && !entries.has(key)) entries.set(key, value);
    }
  }
  return [...entries];
}

function checkOutputShape(
  shape: Shape,
  enumValues: ShapeEnumValues,
  output: Record<string, unknown>,
  optional: boolean,
  into: Map<string, unknown>,
): string | undefined {
  for (const [key, { type }] of Object.entries(shape)) {
    const value = present(output, key);
    if (value === undefined) {
      if (optional) continue;
      return `Missing key: "${key}"`;
    }
    let inner: string | undefined = accepts(type, value, true) ? undefined : TYPE_MESSAGES[type];
    const values = present(enumValues, key) as ShapeEnumValue[] | undefined;
    if (inner === undefined && values !== undefined) inner = enumError(type, value, values);
    if (inner !== undefined) return `Failed to validate output key "${key}": ${inner}`;
    if (!into.has(key)) into.set(key, isFileType(type) ? toFileIds(value) : value);
  }
  return undefined;
}

function toFileIds(value: unknown): unknown {
  return Array.isArray(value) ? value.map(outputFileId) : outputFileId(value);
}

/**
 * Validates a worker's result output (SEMANTICS.md §7, upstream's file-id rules with the clone's
 * lenient file ids). On success returns the output to store: only keys of the output shapes, in
 * shape order, file ids as ints. On failure returns a technical reason for logs; the task's error
 * text is OUTPUT_VALIDATION_FAILED. File existence is the caller's job.
 */
export function validateOutput(
  type: TaskTypeDefinition,
  provider: ProviderInfo,
  output: Record<string, unknown>,
): { ok: true; output: TaskIO } | { ok: false; error: string } {
  const kept = new Map<string, unknown>();
  const error =
    checkOutputShape(type.outputShape, provider.outputShapeEnumValues, output, false, kept) ??
    checkOutputShape(provider.optionalOutputShape, provider.optionalOutputShapeEnumValues, output, true, kept);
  return error === undefined ? { ok: true, output: Object.fromEntries(kept) } : { ok: false, error };
}

/**
 * Every file id that the file-typed slots of one side of a task refer to: list items included
 * (upstream's array union skipped some), absent slots skipped, numeric strings converted,
 * without duplicates, in order of appearance. Expects validated input or output.
 */
export function fileIdsIn(type: TaskTypeDefinition, provider: ProviderInfo, io: TaskIO, which: 'input' | 'output'): number[] {
  const shapes = which === 'input' ? [type.inputShape, provider.optionalInputShape] : [type.outputShape, provider.optionalOutputShape];
  const ids = new Set<number>();
  const seen = new Set<string>();
  for (const shape of shapes) {
    for (const [key, { type: slotType }] of Object.entries(shape)) {
      if (seen.has(key)) continue;
      seen.add(key);
      if (!isFileType(slotType)) continue;
      const value = present(io, key);
      if (value === undefined) continue;
      for (const item of Array.isArray(value) ? value : [value]) {
        if (!isNumeric(item)) continue;
        ids.add(Number(typeof item === 'string' ? item.trim() : item));
      }
    }
  }
  return [...ids];
}

function shapeJson(shape: Shape): Record<string, unknown> {
  return Object.fromEntries(Object.entries(shape).map(([key, d]) => [key, { name: d.name, description: d.description, type: d.type }]));
}

function enumValuesJson(values: ShapeEnumValues): Record<string, unknown> {
  return Object.fromEntries(Object.entries(values).map(([key, list]) => [key, list.map((v) => ({ name: v.name, value: v.value }))]));
}

/**
 * One value of `GET /tasktypes` `types`, keyed as upstream's Manager builds it: the task type gives
 * name, description and the mandatory shapes; the (preferred) provider gives the rest. Every map is
 * a plain object, so an empty one serialises as `{}`.
 */
export function taskTypeJson(type: TaskTypeDefinition, provider: ProviderInfo): Record<string, unknown> {
  return {
    name: type.name,
    description: type.description,
    optionalInputShape: shapeJson(provider.optionalInputShape),
    inputShapeEnumValues: enumValuesJson(provider.inputShapeEnumValues),
    inputShapeDefaults: { ...provider.inputShapeDefaults },
    inputShape: shapeJson(type.inputShape),
    optionalInputShapeEnumValues: enumValuesJson(provider.optionalInputShapeEnumValues),
    optionalInputShapeDefaults: { ...provider.optionalInputShapeDefaults },
    outputShape: shapeJson(type.outputShape),
    outputShapeEnumValues: enumValuesJson(provider.outputShapeEnumValues),
    optionalOutputShape: shapeJson(provider.optionalOutputShape),
    optionalOutputShapeEnumValues: enumValuesJson(provider.optionalOutputShapeEnumValues),
    // Last, as upstream's Manager adds it (Nextcloud 35, `$taskType instanceof IInternalTaskType`).
    isInternal: type.isInternal === true,
  };
}
