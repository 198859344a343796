/**
 * The transaction's state transitions, in one place. Pure functions: the store
 * applies them to rows it has read under the transaction's row lock and writes
 * their result with a compare-and-set, so every dialect follows the same rules.
 */
import type { BranchRecord, Decision, PhaseTwoState, TransactionRecord, TransactionStatus, TryState } from './model';
import { printableText } from './printable-text';

export interface DecisionPlan {
  decision: Decision;
  /** CONFIRMING/CANCELLING, or straight CONFIRMED/CANCELLED when no branch needs a call. */
  status: TransactionStatus;
  /** Why it rolls back; empty for a commit. */
  reason: string;
  /** The phase-two state each branch gets. */
  branchPhaseTwo: Map<string, PhaseTwoState>;
}

export const TIMEOUT_REASON = 'transaction deadline passed before commit';

/** Most characters of a participant's own message carried into a reason. */
export const PARTICIPANT_MESSAGE_MAX = 300;

/**
 * What deciding `requested` on a TRYING transaction leads to, or null when it
 * is no longer TRYING (the decision was made already: first writer wins).
 * A commit becomes a rollback when the deadline has passed or any Try has not
 * succeeded: a Try still pending or of unknown outcome may have reserved
 * something, so only a rollback (which cancels it) is safe.
 */
export function planDecision(
  txn: TransactionRecord,
  branches: readonly BranchRecord[],
  requested: Decision,
  requestedReason: string,
  now: number,
): DecisionPlan | null {
  if (txn.status !== 'TRYING') return null;
  let decision = requested;
  let reason = requested === 'rollback' ? requestedReason || 'rolled back by the client' : '';
  if (requested === 'commit') {
    const blocking = branches.find((b) => b.tryState !== 'SUCCEEDED');
    if (now >= txn.deadlineAt) {
      decision = 'rollback';
      reason = TIMEOUT_REASON;
    } else if (blocking) {
      decision = 'rollback';
      reason = describeBlockingTry(blocking);
    }
  } else {
    // A client rolls back mostly because a Try was refused: say which, and what the participant said.
    const refused = branches.find((b) => b.tryState === 'REFUSED');
    if (refused) reason = `${reason}; ${describeBlockingTry(refused)}`;
  }
  const branchPhaseTwo = new Map<string, PhaseTwoState>();
  let pending = 0;
  for (const b of branches) {
    const state: PhaseTwoState = decision === 'rollback' && nothingToCancel(b) ? 'SKIPPED' : 'PENDING';
    if (state === 'PENDING') pending++;
    branchPhaseTwo.set(b.branchId, state);
  }
  const status: TransactionStatus =
    decision === 'commit' ? (pending ? 'CONFIRMING' : 'CONFIRMED') : pending ? 'CANCELLING' : 'CANCELLED';
  return { decision, status, reason, branchPhaseTwo };
}

/**
 * A refused Try reserved nothing, so it needs no Cancel, but only when it was
 * the branch's one Try call: with a retried Try, the refusal may answer the
 * retry while an earlier call did reserve (it may even be the reason for the
 * refusal), so such a branch is cancelled like any other.
 */
export function nothingToCancel(b: BranchRecord): boolean {
  return b.tryState === 'REFUSED' && b.tryAttempts === 1;
}

/**
 * Names the branch (id, action, participant) and, for a refused or unknown
 * Try, the participant's own answer (`ABORTED: not enough seats`), bounded and
 * printable. Never the payload.
 */
function describeBlockingTry(b: BranchRecord): string {
  const said = b.tryState === 'REFUSED' || b.tryState === 'UNKNOWN' ? printableText(b.lastError, PARTICIPANT_MESSAGE_MAX) : '';
  return `branch ${b.branchId} (${b.action} at ${b.participant}): ${describeTry(b.tryState)}${said ? `: ${said}` : ''}`;
}

function describeTry(state: TryState): string {
  switch (state) {
    case 'REFUSED':
      return 'participant refused the Try';
    case 'UNKNOWN':
      return 'Try outcome unknown';
    case 'PENDING':
      return 'Try not answered yet';
    default:
      return 'Try succeeded';
  }
}

/**
 * The Try state a branch moves to when a Try answer arrives, or null to keep
 * it. A definite answer is final; an unknown one may be replaced by the answer
 * to a retried Try.
 */
export function nextTryState(current: TryState, answered: TryState): TryState | null {
  if (current === 'PENDING' || current === 'UNKNOWN') return answered === current ? null : answered;
  return null;
}

/** The status a decided transaction ends in once no branch is pending. */
export function finalStatusOf(status: TransactionStatus): TransactionStatus {
  if (status === 'CONFIRMING') return 'CONFIRMED';
  if (status === 'CANCELLING') return 'CANCELLED';
  return status;
}
