/**
 * Named instants of the protocol at which a test can have the coordinator
 * process kill itself with SIGKILL (TCC_FAULT_CRASH_AT), to prove that
 * whatever is stored at that instant is enough to finish every transaction
 * correctly. Off unless configured; never set in production.
 */
export const CRASH_POINTS = [
  /** The transaction row is durable; Begin has not answered. */
  'after-begin',
  /** The branch is durable; its Try has not been sent. */
  'after-register',
  /** Try answers are in (Try: stored; Execute: not yet); no decision written. */
  'after-try',
  /** The decision is durable; no Confirm/Cancel has been sent. */
  'after-decision',
  /** A phase-two round's calls have been answered; their outcomes are not stored. */
  'after-phase-two-calls',
] as const;

export type CrashPoint = (typeof CRASH_POINTS)[number];

/** Called by the engine at each crash point. */
export type CrashHook = (point: CrashPoint) => void;

export const noCrash: CrashHook = () => undefined;

/** A hook that SIGKILLs this process the first time `point` is reached. */
export function crashAt(point: CrashPoint): CrashHook {
  return (p) => {
    // SIGKILL, not exit(): no handler, no flush, no drain — a real crash.
    if (p === point) process.kill(process.pid, 'SIGKILL');
  };
}
