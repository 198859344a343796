/**
 * One error class per condition the engine reports. The gRPC edge
 * (src/server/status-mapping.ts) is the only place that turns them into
 * status codes. Messages never contain payload bytes.
 */
import type { TransactionStatus } from '../domain/model';

export abstract class TccEngineError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A request field is malformed; nothing was stored. */
export class InvalidArgumentError extends TccEngineError {
  constructor(
    readonly field: string,
    problem: string,
  ) {
    super(`${field}: ${problem}`);
  }
}

export class TransactionNotFoundError extends TccEngineError {
  constructor(readonly gid: string) {
    super(`transaction ${gid} not found`);
  }
}

/** Begin with a client gid that is already decided or finished. */
export class TransactionAlreadyExistsError extends TccEngineError {
  constructor(
    readonly gid: string,
    readonly status: TransactionStatus,
  ) {
    super(`transaction ${gid} already exists and is ${status}`);
  }
}

/** A Try on a transaction that no longer accepts branches. */
export class TransactionNotTryingError extends TccEngineError {
  constructor(
    readonly gid: string,
    readonly status: TransactionStatus,
    readonly expired: boolean,
  ) {
    super(
      expired
        ? `transaction ${gid} passed its deadline and is rolled back`
        : `transaction ${gid} is ${status}, no longer TRYING`,
    );
  }
}

/** The transaction is (now) rolled back: Commit/Execute answer ABORTED. */
export class TransactionRolledBackError extends TccEngineError {
  constructor(
    readonly gid: string,
    readonly reason: string,
    readonly status: TransactionStatus,
  ) {
    super(`transaction ${gid} rolled back: ${reason}`);
  }
}

/** Rollback after a commit decision. */
export class TransactionCommittedError extends TccEngineError {
  constructor(
    readonly gid: string,
    readonly status: TransactionStatus,
  ) {
    super(`transaction ${gid} is already committed (${status}); it cannot be rolled back`);
  }
}

/** A branch_id registered before with another participant, action or payload. */
export class BranchConflictError extends TccEngineError {
  constructor(
    readonly gid: string,
    readonly branchId: string,
  ) {
    super(`branch ${branchId} of ${gid} is registered with a different participant, action or payload`);
  }
}

/** ResolveBranch named a branch the transaction does not have. */
export class BranchNotFoundError extends TccEngineError {
  constructor(
    readonly gid: string,
    readonly branchId: string,
  ) {
    super(`transaction ${gid} has no branch ${branchId}`);
  }
}

/** ResolveBranch on a transaction that is not in phase two (still TRYING, or finished). */
export class TransactionNotInPhaseTwoError extends TccEngineError {
  constructor(
    readonly gid: string,
    readonly status: TransactionStatus,
  ) {
    super(`transaction ${gid} is ${status}: only a pending branch of a CONFIRMING or CANCELLING transaction can be resolved`);
  }
}

/** The participant refused the Try (ABORTED / FAILED_PRECONDITION). */
export class BranchRefusedError extends TccEngineError {
  constructor(
    readonly gid: string,
    readonly branchId: string,
    readonly detail: string,
  ) {
    super(`branch ${branchId} refused by participant${detail ? `: ${detail}` : ''}`);
  }
}

/** The participant's Try answered neither yes nor no in time; the branch will be cancelled. */
export class BranchOutcomeUnknownError extends TccEngineError {
  constructor(
    readonly gid: string,
    readonly branchId: string,
    /** The gRPC code of the participant call (4 = DEADLINE_EXCEEDED, 14 = UNAVAILABLE, ...). */
    readonly grpcCode: number,
    readonly detail: string,
  ) {
    super(`branch ${branchId} Try outcome unknown: ${detail}`);
  }
}

/** The store could not be reached or failed; the request may be retried. */
export class StoreUnavailableError extends TccEngineError {
  constructor(cause: unknown) {
    super('transaction store unavailable', { cause });
  }
}

/** A branch names a participant target outside TCC_PARTICIPANT_ALLOW; nothing was stored. */
export class ParticipantNotAllowedError extends TccEngineError {
  constructor(readonly field: string) {
    super(`${field}: target is not in the coordinator's participant allowlist (TCC_PARTICIPANT_ALLOW)`);
  }
}
