/** The floor of every lease unless `setMinimumLeaseSeconds` changed it (config `leaseSeconds`). */
export const DEFAULT_MINIMUM_LEASE_SECONDS = 60;

let minimumLeaseSeconds = DEFAULT_MINIMUM_LEASE_SECONDS;

/**
 * Sets the lease floor of this process (`TASKPROC_LEASE_SECONDS`, applied by `taskproc serve`).
 * Process-wide because the claimers (core/worker-service.ts, workers/runner.ts) ask
 * `leaseSeconds` directly; servers created in-process by tests keep the default.
 */
export function setMinimumLeaseSeconds(seconds: number): void {
  if (!(Number.isSafeInteger(seconds) && seconds >= 1)) throw new RangeError(`a lease of ${seconds} s`);
  minimumLeaseSeconds = seconds;
}

/**
 * Lease length for a claimed task: generous against the provider's own estimate, with a floor so
 * a provider that declares 0 s (nc_py_api's default) is not reclaimed while it works.
 */
export function leaseSeconds(expectedRuntime: number, factor = 4, floor = minimumLeaseSeconds): number {
  return Math.max(floor, Math.ceil(expectedRuntime * factor));
}

/**
 * Upstream's re-estimate of completionExpectedAt on progress (SEMANTICS.md §5): only once started,
 * with p > 0 and time elapsed; remaining = ceil(elapsed × (1 − p) / p).
 */
export function completionEstimate(startedAt: number | null, now: number, progress: number): number | null {
  if (startedAt === null || progress <= 0) return null;
  const elapsed = now - startedAt;
  if (elapsed <= 0) return null;
  return now + Math.ceil((elapsed * (1 - progress)) / progress);
}
