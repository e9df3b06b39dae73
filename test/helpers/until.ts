/**
 * Polls `check` until it holds; fails with `what` (and the state `describe` gives) after `ms`.
 * For conditions the test cannot await directly: a webhook arriving, another node seeing a change.
 */
export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  ms = 5000,
  opts: { everyMs?: number; describe?: () => string } = {},
): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, opts.everyMs ?? 10));
  }
  const state = opts.describe?.() ?? '';
  throw new Error(`timed out after ${ms} ms waiting for ${what}${state === '' ? '' : `\n${state}`}`);
}
