/** Transaction status, as in the proto's `Status`. */
export type TransactionStatus = 'TRYING' | 'CONFIRMING' | 'CONFIRMED' | 'CANCELLING' | 'CANCELLED';

/** What the participant's Try answered (proto `TryOutcome` without the prefix). */
export type TryState = 'PENDING' | 'SUCCEEDED' | 'REFUSED' | 'UNKNOWN';

/** Where a branch is in phase two (proto `PhaseTwoState` without the prefix). */
export type PhaseTwoState = 'NOT_DUE' | 'PENDING' | 'DONE' | 'SKIPPED' | 'RESOLVED';

export type Phase = 'try' | 'confirm' | 'cancel';

export type Decision = 'commit' | 'rollback';

export interface TransactionRecord {
  gid: string;
  status: TransactionStatus;
  /** Why it was rolled back; empty otherwise. */
  reason: string;
  createdAt: number;
  updatedAt: number;
  deadlineAt: number;
  /** Phase-two rounds run so far. */
  attempts: number;
  /**
   * When the recovery loop should next act on it: the deadline while TRYING,
   * the next retry (or the end of the current worker's lease) once decided,
   * null when finished.
   */
  dueAt: number | null;
  /** Which node holds the current claim (set with dueAt). */
  owner: string | null;
  lastError: string;
  /** Phase two keeps failing (attempts or age past the configured thresholds); cleared when it finishes. */
  stuck: boolean;
  /** When the decision was written; null while TRYING. */
  decidedAt: number | null;
}

export interface BranchRecord {
  gid: string;
  branchId: string;
  /** Registration order within the transaction. */
  seq: number;
  participant: string;
  action: string;
  payload: Buffer;
  tryState: TryState;
  /** Try calls sent (more than one when a client retried the Try with the same branch_id). */
  tryAttempts: number;
  phaseTwo: PhaseTwoState;
  /** Phase-two calls made so far. */
  attempts: number;
  nextRetryAt: number | null;
  lastError: string;
  createdAt: number;
  updatedAt: number;
}

/** One row of `tcc_logs`. */
export interface PhaseLogRecord {
  id?: number;
  gid: string;
  /** Empty for transaction-level rows (decisions). */
  branchId: string;
  phase: Phase | 'decision' | 'resolve';
  attempt: number;
  /** ok | refused | unknown | failed (phase calls); commit | rollback (decisions); resolved (operator). */
  outcome: string;
  /** gRPC status code of the call; 0 for decisions. */
  grpcCode: number;
  error: string;
  startedAt: number;
  durationMs: number;
  node: string;
  /** Who asked, for operator actions (Abort, ResolveBranch); empty otherwise. */
  operator?: string;
  /** Further failed attempts folded into this row (the row shows the latest of them); 0 for a row of its own. */
  repeats?: number;
}

export const FINAL_STATUSES: readonly TransactionStatus[] = ['CONFIRMED', 'CANCELLED'];

export function isFinal(status: TransactionStatus): boolean {
  return status === 'CONFIRMED' || status === 'CANCELLED';
}

export function phaseOf(status: TransactionStatus): Phase | null {
  if (status === 'CONFIRMING') return 'confirm';
  if (status === 'CANCELLING') return 'cancel';
  return null;
}
