import { Readable } from 'node:stream';
import type { FileOutputValue, TaskFiles } from '../core/file-access.js';
import type { ProviderInfo } from '../core/provider.js';
import { isFileType, isListType, type TaskIO } from '../core/shapes.js';
import type { TaskTypeDefinition } from '../core/task-types.js';
import type { Task } from '../core/task.js';

function isFileOutput(v: unknown): v is FileOutputValue {
  if (v instanceof Uint8Array || v instanceof Readable) return true;
  return (
    typeof v === 'object' &&
    v !== null &&
    'data' in v &&
    ((v as { data: unknown }).data instanceof Uint8Array || (v as { data: unknown }).data instanceof Readable)
  );
}

/**
 * Replaces the bytes a provider put in its output's file slots with the ids of stored output
 * files (owned by the task's user, deleted with the task). Values that are not bytes (ids, or
 * anything wrong) are left for output validation to judge.
 */
export async function storeOutputFiles(type: TaskTypeDefinition, provider: ProviderInfo, output: TaskIO, task: Task, files: TaskFiles): Promise<TaskIO> {
  const shapes = { ...type.outputShape, ...provider.optionalOutputShape };
  const out: TaskIO = { ...output };
  const store = async (v: FileOutputValue) => {
    const value = v instanceof Uint8Array || v instanceof Readable ? { data: v } : v;
    return (await files.storeTaskOutput({ id: task.id, userId: task.userId }, value)).id;
  };
  for (const [key, shape] of Object.entries(shapes)) {
    const value = out[key];
    if (!isFileType(shape.type) || value === undefined || value === null) continue;
    if (isListType(shape.type) && Array.isArray(value)) {
      const ids: unknown[] = [];
      for (const item of value) ids.push(isFileOutput(item) ? await store(item) : item);
      out[key] = ids;
    } else if (isFileOutput(value)) {
      out[key] = await store(value);
    }
  }
  return out;
}
