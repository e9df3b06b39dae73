/**
 * The arithmetic of a scheduled task's estimated start (issue 20, item 5): what was measured goes
 * in, a unix time or null comes out. No I/O; workers/queue-estimator.ts gathers the inputs.
 */

/** One measured run of a successful task: `seconds` from its start to its end. */
export interface RunTimeSample {
  taskId: number;
  type: string;
  providerId: string;
  seconds: number;
}

/** How many of the latest run times per (type, provider) the mean is taken over. */
export const RUN_TIME_WINDOW = 20;

/** How far back the most tasks seen running at once counts as a provider's parallelism. */
export const PARALLELISM_WINDOW_SECONDS = 600;

/**
 * The mean of the last `size` run times per (type, provider).
 *
 * A bounded window rather than an exponentially weighted mean: the store can rebuild a window
 * exactly (the latest successful tasks per key), so a restarted node estimates as the node that
 * saw those tasks end did, whereas an EWMA depends on the order it was fed and on its seed; and a
 * slow outlier (a cold model load) leaves the mean after `size` runs instead of fading forever.
 * Memory: `size` numbers per key, and keys are task types × providers.
 */
export class RunTimeWindows {
  private readonly runs = new Map<string, RunTimeSample[]>();

  constructor(private readonly size: number = RUN_TIME_WINDOW) {}

  /** Adds a newer run; a task already counted (seen through an event and the store) counts once. */
  add(sample: RunTimeSample): void {
    const key = windowKey(sample.type, sample.providerId);
    this.keep(key, [...(this.runs.get(key) ?? []), sample]);
  }

  /**
   * Adds runs that ended before every run added so far (the history read at start-up, oldest
   * first, while events may already have added newer ones): the newer ones stay newest.
   */
  addOlder(samples: readonly RunTimeSample[]): void {
    const byKey = new Map<string, RunTimeSample[]>();
    for (const s of samples) {
      const key = windowKey(s.type, s.providerId);
      byKey.set(key, [...(byKey.get(key) ?? []), s]);
    }
    for (const [key, older] of byKey) this.keep(key, [...older, ...(this.runs.get(key) ?? [])]);
  }

  /** Mean run time in seconds of the kept runs of (type, provider); null when none was measured. */
  mean(type: string, providerId: string): number | null {
    const runs = this.runs.get(windowKey(type, providerId));
    if (runs === undefined || runs.length === 0) return null;
    return runs.reduce((sum, r) => sum + r.seconds, 0) / runs.length;
  }

  /** Keeps the last `size` valid runs of `runs` (oldest first), each task once. */
  private keep(key: string, runs: RunTimeSample[]): void {
    const seen = new Set<number>();
    const valid = runs.filter((r) => Number.isFinite(r.seconds) && r.seconds >= 0 && !seen.has(r.taskId) && seen.add(r.taskId));
    this.runs.set(key, valid.slice(-this.size));
  }
}

// JSON of the pair: type and provider ids are free text, so no separator is safe.
const windowKey = (type: string, providerId: string): string => JSON.stringify([type, providerId]);

/**
 * The most of something seen at once per key over the last `windowSeconds` (tasks of a provider
 * running at once), kept as the maximum per minute: at most windowSeconds / 60 + 1 numbers per key.
 */
export class RecentMaximum {
  private readonly minutes = new Map<string, { minute: number; max: number }[]>();

  constructor(private readonly windowSeconds: number = PARALLELISM_WINDOW_SECONDS) {}

  record(key: string, value: number, now: number): void {
    const minute = Math.floor(now / 60);
    const kept = (this.minutes.get(key) ?? []).filter((m) => this.inWindow(m.minute, now));
    const last = kept.at(-1);
    if (last !== undefined && last.minute === minute) last.max = Math.max(last.max, value);
    else kept.push({ minute, max: value });
    this.minutes.set(key, kept);
  }

  /** The largest value recorded for `key` within the window; 0 when none was. */
  max(key: string, now: number): number {
    let max = 0;
    for (const m of this.minutes.get(key) ?? []) if (this.inWindow(m.minute, now)) max = Math.max(max, m.max);
    return max;
  }

  // A minute counts while any of it lies within the window.
  private inWindow(minute: number, now: number): boolean {
    return (minute + 1) * 60 > now - this.windowSeconds;
  }
}

export interface StartEstimateInput {
  /** SCHEDULED tasks that the same provider will take before this one. */
  ahead: number;
  /** Tasks the provider is running now. */
  running: number;
  /** How many tasks the provider runs at once; null when unknown. */
  parallelism: number | null;
  /** The provider's measured mean run time for this type, in seconds; null when never measured. */
  meanRunSeconds: number | null;
  /** Unix seconds. */
  now: number;
}

/**
 * When a scheduled task should start, in unix seconds, or null when an input is unknown (no run
 * measured, no parallelism known): nothing is invented.
 *
 * The provider has `parallelism` slots, `running` of them busy. The tasks ahead take slots in
 * order, each for the mean run time, so this task waits floor(ahead / parallelism) full runs and
 * then gets the slot of index ahead mod parallelism. That slot is free now when it is one of the
 * free ones, else it frees when its running task ends: how far the running tasks have got is not
 * known (ExApps report progress or not, at their pace), so each is taken to be half done and to
 * end half a mean run from now. Tasks running beyond the parallelism leave no slot free.
 */
export function estimateStartAt(input: StartEstimateInput): number | null {
  const { ahead, running, parallelism, meanRunSeconds: mean, now } = input;
  if (parallelism === null || mean === null || !(parallelism >= 1) || !(mean >= 0) || !(ahead >= 0)) return null;
  const slots = Math.floor(parallelism);
  const free = Math.max(0, slots - Math.max(0, running));
  const rounds = Math.floor(ahead / slots);
  const slotFreesIn = ahead % slots < free ? 0 : mean / 2;
  return Math.round(now + rounds * mean + slotFreesIn);
}
