/**
 * Rules of recovery that the engine, the recovery scheduler and the store all
 * apply: how long a claim lasts, which branches a round calls, when a
 * transaction counts as stuck, when a claim holder's release is due again.
 * Pure functions, so every dialect and every caller follows the same rules.
 */
import type { BranchRecord, TransactionRecord } from './model';

/** When a decided transaction counts as stuck (see Config.stuckAfterAttempts / stuckAfterMs). */
export interface StuckThresholds {
  /** A pending branch with at least this many phase-two attempts. */
  attempts: number;
  /** Decided at least this long ago and still not finished, ms; 0 = no age limit. */
  ageMs: number;
}

/**
 * How long a claim on a transaction lasts: a recovery call starts within one
 * branch timeout of the claim and ends within another, plus slack for the write.
 */
export function claimLeaseMs(branchTimeoutMs: number): number {
  return 2 * branchTimeoutMs + 5_000;
}

/** A branch a phase-two round calls now: pending, and its own retry time has come. */
export function isBranchDue(b: Pick<BranchRecord, 'phaseTwo' | 'nextRetryAt'>, now: number): boolean {
  return b.phaseTwo === 'PENDING' && (b.nextRetryAt === null || b.nextRetryAt <= now);
}

/** A pending branch as the stuck rule sees it. */
export interface PendingBranchState {
  attempts: number;
}

/**
 * Whether a decided transaction with these pending branches is stuck: flagged
 * before (the flag stays until it finishes), a branch failed `attempts` times,
 * or it was decided `ageMs` ago.
 */
export function isStuck(
  txn: Pick<TransactionRecord, 'stuck' | 'decidedAt' | 'createdAt'>,
  pending: readonly PendingBranchState[],
  thresholds: StuckThresholds,
  now: number,
): boolean {
  if (txn.stuck) return true;
  if (pending.some((p) => p.attempts >= thresholds.attempts)) return true;
  const age = now - (txn.decidedAt ?? txn.createdAt);
  return thresholds.ageMs > 0 && age >= thresholds.ageMs;
}

/** When a released claim makes the transaction due again: its earliest pending retry. */
export function releaseDueAt(pendingRetryAts: readonly (number | null)[], now: number): number {
  return Math.min(...pendingRetryAts.map((t) => t ?? now));
}

/**
 * When a deferred call (not made: the participant's per-process limit was
 * full) is due again. A deferral is not an attempt, so the branch's attempts
 * and its retry delay stay as they are; instead the wait doubles with each
 * deferral: twice as long as the branch has waited since its row was last
 * written (the previous deferral, attempt or decision), between `minMs` and
 * `maxMs`. A participant's backlog is then looked at less and less often
 * while it stays full, instead of once per initial delay.
 */
export function deferredRetryAt(b: Pick<BranchRecord, 'updatedAt'>, now: number, minMs: number, maxMs: number): number {
  const waited = Math.max(0, now - b.updatedAt);
  return now + Math.min(maxMs, Math.max(minMs, 2 * waited));
}
