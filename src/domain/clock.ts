/** Where the engine reads time; injectable so tests and simulations control it. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/**
 * A clock recovery may act on only while it is fit: deadlines, due times and
 * claims of several replicas are compared on it, so a clock whose offset to
 * the shared (database) clock is unknown, stale or too uncertain must not
 * roll back or claim anything.
 */
export interface RecoveryClock extends Clock {
  /** Why recovery must not act on this clock now; undefined when it may. */
  unfitReason(): string | undefined;
}

/** True for a clock that can tell whether recovery may act on it. */
export function isRecoveryClock(c: Clock): c is RecoveryClock {
  return typeof (c as Partial<RecoveryClock>).unfitReason === 'function';
}
