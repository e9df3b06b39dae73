import type { FileHandle } from './file-access.js';
import type { Shape, ShapeDefaults, ShapeEnumValues, TaskIO } from './shapes.js';

/**
 * What a provider declares about itself. The task type gives the mandatory shapes; the provider
 * gives optional slots, enum values and defaults (upstream's split, SEMANTICS.md §1).
 */
export interface ProviderInfo {
  /** Unique provider id; what workers pass in providerIds[] and admins name in tasktype:set-provider. */
  id: string;
  name: string;
  taskType: string;
  /** Seconds; used for completionExpectedAt and for the lease of a claimed task. */
  expectedRuntime: number;
  optionalInputShape: Shape;
  inputShapeEnumValues: ShapeEnumValues;
  inputShapeDefaults: ShapeDefaults;
  optionalInputShapeEnumValues: ShapeEnumValues;
  optionalInputShapeDefaults: ShapeDefaults;
  optionalOutputShape: Shape;
  outputShapeEnumValues: ShapeEnumValues;
  optionalOutputShapeEnumValues: ShapeEnumValues;
}

/** What the runner hands an in-process provider for one task. */
export interface ProcessContext {
  taskId: number;
  userId: string | null;
  /** Aborted when the task is cancelled or deleted, or the server shuts down. */
  signal: AbortSignal;
  /** Progress in 0..1; values outside are ignored. */
  reportProgress(progress: number): void;
  /** The client asked for streamed output (`preferStreaming`); a provider that can stream then reports partial output. */
  preferStreaming: boolean;
  /**
   * The output so far (the whole of it each time, as a worker's stream-result sends it): watchers see it at
   * once, the database gets it coalesced. Ignored once the task has ended; never awaited by the provider.
   */
  reportPartialOutput(output: TaskIO): void;
  /**
   * A file the input references (its file slots hold ids): metadata, a stream, or a buffer.
   * Ids the input does not reference are refused.
   */
  inputFile(id: number): Promise<FileHandle>;
}

/**
 * An in-process provider: runs inside the server, picked by the built-in runner.
 * `process` returns the output (validated against the output shape before it is stored) or throws;
 * a thrown `ProviderError` may carry a message meant for the user. In file slots of the output a
 * provider puts bytes or a stream (`FileOutputValue`, lists of them for list slots); the runner
 * stores them as the task's output files and writes their ids into the output.
 */
export interface InProcessProvider extends ProviderInfo {
  process(input: TaskIO, ctx: ProcessContext): Promise<TaskIO>;
  /** False while the provider cannot work (e.g. a misconfigured back end); its type then drops out of /tasktypes. */
  isAvailable?(): boolean;
}

/** Thrown by a provider to fail a task with a technical message and, optionally, one for the user. */
export class ProviderError extends Error {
  constructor(
    message: string,
    readonly userFacingMessage: string | null = null,
  ) {
    super(message);
    this.name = 'ProviderError';
  }
}

/** Fills the optional parts of a ProviderInfo with empty maps. */
export function providerInfo(p: Pick<ProviderInfo, 'id' | 'name' | 'taskType'> & Partial<ProviderInfo>): ProviderInfo {
  return {
    expectedRuntime: 60,
    optionalInputShape: {},
    inputShapeEnumValues: {},
    inputShapeDefaults: {},
    optionalInputShapeEnumValues: {},
    optionalInputShapeDefaults: {},
    optionalOutputShape: {},
    outputShapeEnumValues: {},
    optionalOutputShapeEnumValues: {},
    ...p,
  };
}
