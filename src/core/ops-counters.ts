/** Why a request was refused without being served, for the operator's counts. */
export type RefusalReason = 'rate_limit' | 'login_throttle' | 'quota';

/**
 * What the rules that refuse requests report as they decide, so that an operator can count them
 * (ops/metrics.ts) without those rules knowing about metrics. Calls must be cheap and never throw.
 */
export interface OpsCounters {
  /** A request refused: schedule's rate limit (429), the failed-login lockout (429), a file quota (507). */
  refused(reason: RefusalReason): void;
  /** A login with a wrong credential (password, app password, bearer token or ExApp secret). */
  loginFailed(): void;
}

/** Counts nothing: where no metrics are served, and the CLI. */
export const NO_OPS_COUNTERS: OpsCounters = Object.freeze({ refused: () => {}, loginFailed: () => {} });
