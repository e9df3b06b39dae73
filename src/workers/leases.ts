/**
 * Lease length for a claimed task: generous against the provider's own estimate (4×), with a
 * floor (config `leaseSeconds`, 60 s by default) so a provider that declares 0 s (nc_py_api's
 * default) is not reclaimed while it works.
 */
export function leaseSeconds(expectedRuntime: number, floor: number): number {
  return Math.max(floor, Math.ceil(expectedRuntime * 4));
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
