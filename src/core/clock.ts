/** Time source, injected so tests can move time without sleeping. */
export interface Clock {
  /** Milliseconds since the epoch. */
  nowMs(): number;
}

export const systemClock: Clock = Object.freeze({ nowMs: () => Date.now() });

export function unixSeconds(clock: Clock): number {
  return Math.floor(clock.nowMs() / 1000);
}
