import type { TaskIO } from './shapes.js';

/** Internal status numbers (database and push notifications); the wire form is the STATUS_* name. */
export const TASK_STATUS = Object.freeze({
  UNKNOWN: 0,
  SCHEDULED: 1,
  RUNNING: 2,
  SUCCESSFUL: 3,
  FAILED: 4,
  CANCELLED: 5,
} as const);

export type TaskStatus = (typeof TASK_STATUS)[keyof typeof TASK_STATUS];

const STATUS_NAMES: Record<TaskStatus, string> = {
  0: 'STATUS_UNKNOWN',
  1: 'STATUS_SCHEDULED',
  2: 'STATUS_RUNNING',
  3: 'STATUS_SUCCESSFUL',
  4: 'STATUS_FAILED',
  5: 'STATUS_CANCELLED',
};

export function statusName(status: TaskStatus): string {
  return STATUS_NAMES[status];
}

export function isFinal(status: TaskStatus): boolean {
  return status === TASK_STATUS.SUCCESSFUL || status === TASK_STATUS.FAILED || status === TASK_STATUS.CANCELLED;
}

/** A task as stored. Times are unix seconds. */
export interface Task {
  id: number;
  type: string;
  status: TaskStatus;
  /** null for tasks scheduled without a user (ExApp without user context, or an anonymous caller). */
  userId: string | null;
  /** sha-256 of the anonymous caller's session cookie; null for everyone else. */
  anonKey: string | null;
  appId: string;
  customId: string;
  input: TaskIO;
  output: TaskIO | null;
  progress: number | null;
  /** Technical error: stored, never returned by the API. */
  errorMessage: string | null;
  userFacingErrorMessage: string | null;
  webhookUri: string | null;
  webhookMethod: string | null;
  includeWatermark: boolean;
  allowCleanup: boolean;
  /** The provider chosen at schedule time (the preferred one then). */
  providerId: string | null;
  leaseOwner: string | null;
  leaseExpiresAt: number | null;
  attempts: number;
  scheduledAt: number | null;
  startedAt: number | null;
  endedAt: number | null;
  lastUpdated: number;
  completionExpectedAt: number | null;
  /** The client asked the provider for progressive output (upstream 35's `preferStreaming`, false unless asked). */
  preferStreaming: boolean;
  /** Dispatch priority, higher first (taskproc's; never on the wire of upstream's routes). */
  priority: number;
  /** Virtual start time in its type's fair queue: within a priority, claims take the lowest (store/task-queries.ts). */
  vtime: number;
}

/** What `schedule` hands the store; the store assigns id and timestamps are given by the caller's clock. */
export type NewTask = Pick<
  Task,
  | 'type'
  | 'userId'
  | 'anonKey'
  | 'appId'
  | 'customId'
  | 'input'
  | 'webhookUri'
  | 'webhookMethod'
  | 'includeWatermark'
  | 'providerId'
  | 'scheduledAt'
  | 'lastUpdated'
  | 'completionExpectedAt'
> &
  // Optional: callers that predate the fields (stores filled by tests, the CLI) get upstream's default, false,
  // priority 0, and the fair share of the party `party` names (default: the user, else the app).
  Partial<Pick<Task, 'preferStreaming' | 'priority'>> & { party?: string };
