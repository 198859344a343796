/**
 * One error class per condition a participant reports. The participant
 * service adapter (participant-service.ts) is the only place that turns them
 * into gRPC statuses; anything else a handler throws becomes INTERNAL with a
 * fixed message (never a stack, never payload bytes).
 */
import type { BranchPhase } from './branch-call';

export abstract class ParticipantError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * A business "no" from Try (insufficient funds, out of stock): definite,
 * nothing was reserved, the coordinator never retries it and rolls the
 * transaction back. Answered as ABORTED. The message reaches the coordinator
 * (and its client) as the refusal reason, so keep it free of secrets.
 *
 * Thrown from Confirm or Cancel it is still ABORTED, which the coordinator
 * reads as "outcome unknown, call again later": phase two cannot be refused.
 */
export class TryRefusedError extends ParticipantError {
  constructor(
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(reason, options);
  }
}

/**
 * Try arrived after the branch's Cancel (a delayed or retried packet): the
 * barrier refuses it so nothing stays frozen for a transaction that is
 * already rolled back (anti-suspension). Answered as ABORTED.
 */
export class TrySuspendedError extends TryRefusedError {
  constructor(
    readonly gid: string,
    readonly branchId: string,
  ) {
    super(`branch ${branchId} of ${gid} was cancelled before its Try arrived`);
  }
}

/**
 * A phase-two call the barrier must not run: Confirm after Cancel, Cancel
 * after Confirm, or Confirm of a branch whose Try never succeeded here. The
 * coordinator never sends these; answering FAILED_PRECONDITION (retried by
 * the coordinator, and so flagged stuck) makes the anomaly visible instead of
 * applying a business change twice or backwards.
 */
export class BarrierViolationError extends ParticipantError {
  constructor(
    readonly gid: string,
    readonly branchId: string,
    readonly phase: BranchPhase,
    /** What the barrier found: 'confirmed', 'cancelled' or 'not-tried'. */
    readonly found: 'confirmed' | 'cancelled' | 'not-tried',
  ) {
    super(`${phase} of branch ${branchId} of ${gid} refused by the barrier: branch is ${found}`);
  }
}

/** The branch payload could not be decoded (e.g. not the JSON the action expects). Answered as FAILED_PRECONDITION. */
export class InvalidPayloadError extends ParticipantError {
  constructor(
    readonly action: string,
    problem: string,
    options?: { cause?: unknown },
  ) {
    super(`payload of action ${action}: ${problem}`, options);
  }
}

/**
 * The call names an action this participant has no handlers for. Answered
 * FAILED_PRECONDITION to a Try (a definite "no": nothing was reserved) and
 * UNIMPLEMENTED to a Confirm or Cancel, which the coordinator keeps retrying:
 * an action removed while branches were still pending must never be answered
 * OK, or their reservations would be silently dropped.
 */
export class UnknownActionError extends ParticipantError {
  constructor(
    readonly action: string,
    readonly phase: BranchPhase,
  ) {
    super(`no handlers for action "${action}" (${phase})`);
  }
}
