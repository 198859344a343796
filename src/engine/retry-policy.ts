/** How phase-two calls that did not succeed are spaced out. */
export interface RetryPolicy {
  /** Delay before the first retry, ms. Default 1 000 (TCC_RETRY_INITIAL_MS). */
  initialMs: number;
  /** Cap of the delay, ms. Default 300 000 (TCC_RETRY_MAX_MS). */
  maxMs: number;
  /** Growth per attempt. Default 2. */
  multiplier: number;
  /**
   * Fraction of the delay that is randomized, 0..1. Default 0.5: a participant
   * coming back from an outage sees retries spread over half the interval
   * instead of a synchronized storm.
   */
  jitter: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { initialMs: 1_000, maxMs: 300_000, multiplier: 2, jitter: 0.5 };

/** Delay before retry number `attempt` (1 = the first retry). */
export function retryDelayMs(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const exp = Math.min(policy.maxMs, policy.initialMs * Math.pow(policy.multiplier, Math.max(0, attempt - 1)));
  const spread = exp * policy.jitter;
  return Math.max(1, Math.round(exp - spread + random() * spread));
}
