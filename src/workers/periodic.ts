/**
 * Runs `job` every `intervalMs` (first run after one interval), never overlapping itself,
 * logging failures instead of throwing: a database hiccup must not kill the process.
 */
export function every(intervalMs: number, job: () => Promise<void>, onError: (err: unknown) => void): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    job()
      .catch(onError)
      .finally(() => {
        running = false;
      });
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
