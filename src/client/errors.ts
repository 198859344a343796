import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';

/**
 * The SDK call that failed. The same gRPC status means different things per
 * call: a lost answer to `commit` leaves the outcome unknown, a lost answer to
 * `get` changes nothing.
 */
export type CallKind = 'begin' | 'try' | 'commit' | 'rollback' | 'execute' | 'get';

/** Context every {@link TccError} may carry. */
export interface TccErrorOptions {
  /** gRPC status code (`@grpc/grpc-js` `status`). */
  code: GrpcStatus;
  /** Global transaction id, when the failing call concerned one. */
  gid?: string;
  /** SDK call that failed. */
  call?: CallKind;
  /** The underlying error: usually the gRPC `ServiceError`, or the user's error in `transaction()`. */
  cause?: unknown;
}

/**
 * Base of every error the SDK throws, so one `instanceof TccError` catches them
 * all. Used as-is only for conditions no subclass names (for example
 * UNAUTHENTICATED, RESOURCE_EXHAUSTED, or using a closed client).
 *
 * Messages never contain payload or result bytes: payloads routinely carry
 * account numbers and amounts, and error messages end up in logs.
 */
export class TccError extends Error {
  override readonly name: string = 'TccError';
  /** gRPC status code of the condition (`@grpc/grpc-js` `status`). */
  readonly code: GrpcStatus;
  /** Transaction concerned, when known. */
  readonly gid: string | undefined;
  /** SDK call that failed, when the error came from one. */
  readonly call: CallKind | undefined;
  /** Underlying error (gRPC `ServiceError`, or the user's error for `transaction()`). */
  override readonly cause?: unknown;

  constructor(message: string, options: TccErrorOptions) {
    super(message);
    this.code = options.code;
    this.gid = options.gid;
    this.call = options.call;
    this.cause = options.cause;
  }
}

/**
 * Definite: the transaction was (or is being) rolled back; no Confirm will
 * ever be sent. Safe to retry the whole business operation under a new gid.
 */
export class TransactionRolledBackError extends TccError {
  override readonly name: string = 'TransactionRolledBackError';
  /** Coordinator's reason for the rollback (e.g. a refused Try, a deadline, a Rollback call); may be empty. */
  readonly reason: string;

  constructor(options: { gid?: string; reason: string; call?: CallKind; cause?: unknown }) {
    super(
      `transaction ${options.gid ?? '(unknown gid)'} was rolled back${options.reason ? `: ${options.reason}` : ''}`,
      { code: GrpcStatus.ABORTED, gid: options.gid, call: options.call, cause: options.cause },
    );
    this.reason = options.reason;
  }
}

/**
 * The decision may or may not have been recorded: the transaction may end up
 * committed or rolled back. The coordinator finishes it either way (a TRYING
 * transaction is rolled back at its deadline); call `get(gid)` later to learn
 * which, and do not retry the business operation under a new gid before then.
 */
export class TransactionOutcomeUnknownError extends TccError {
  override readonly name: string = 'TransactionOutcomeUnknownError';
  /**
   * In `transaction()`, when the callback failed and the Rollback call failed
   * too: the Rollback's error (`cause` is then the callback's error).
   */
  readonly rollbackError: TccError | undefined;

  constructor(options: { gid?: string; code: GrpcStatus; call?: CallKind; cause?: unknown; details?: string; rollbackError?: TccError }) {
    super(
      `outcome of transaction ${options.gid ?? '(unknown gid)'} is unknown` +
        `${options.call ? ` (${options.call} failed with ${GrpcStatus[options.code] ?? options.code}${options.details ? `: ${options.details}` : ''})` : ''}` +
        '; it will be committed or rolled back by the coordinator, check with get(gid)',
      { code: options.code, gid: options.gid, call: options.call, cause: options.cause },
    );
    this.rollbackError = options.rollbackError;
  }
}

/** Context of a branch, for the errors a Try can end with. Never the payload. */
export interface BranchContext {
  /** Participant gRPC target. */
  participant?: string;
  action?: string;
  /** Branch id, when the caller chose one (the coordinator's is not known after a failed Try). */
  branchId?: string;
}

/**
 * Definite: the participant refused the Try (a business "no", e.g. not enough
 * stock); nothing was reserved. The transaction can no longer commit: roll it back.
 */
export class BranchRefusedError extends TccError {
  override readonly name: string = 'BranchRefusedError';
  readonly participant: string | undefined;
  readonly action: string | undefined;
  readonly branchId: string | undefined;
  /** The participant's (or coordinator's) explanation. */
  readonly reason: string;

  constructor(options: BranchContext & { gid?: string; reason: string; cause?: unknown }) {
    super(
      `${describeBranch(options)} of transaction ${options.gid ?? '(unknown gid)'} was refused` +
        `${options.reason ? `: ${options.reason}` : ''}`,
      { code: GrpcStatus.ABORTED, gid: options.gid, call: 'try', cause: options.cause },
    );
    this.participant = options.participant;
    this.action = options.action;
    this.branchId = options.branchId;
    this.reason = options.reason;
  }
}

/**
 * The Try's outcome is unknown: the participant may have reserved something,
 * or the request may never have reached the coordinator. Do not commit (a
 * commit could confirm without this branch, or fail): roll back, and the
 * coordinator cancels whatever the participant did reserve.
 */
export class BranchOutcomeUnknownError extends TccError {
  override readonly name: string = 'BranchOutcomeUnknownError';
  readonly participant: string | undefined;
  readonly action: string | undefined;
  readonly branchId: string | undefined;

  constructor(options: BranchContext & { gid?: string; code: GrpcStatus; details?: string; cause?: unknown }) {
    super(
      `outcome of ${describeBranch(options)} of transaction ${options.gid ?? '(unknown gid)'} is unknown ` +
        `(${GrpcStatus[options.code] ?? options.code}${options.details ? `: ${options.details}` : ''}); roll the transaction back`,
      { code: options.code, gid: options.gid, call: 'try', cause: options.cause },
    );
    this.participant = options.participant;
    this.action = options.action;
    this.branchId = options.branchId;
  }
}

/** The coordinator has no transaction with this gid (NOT_FOUND). */
export class TransactionNotFoundError extends TccError {
  override readonly name: string = 'TransactionNotFoundError';

  constructor(options: { gid?: string; call?: CallKind; cause?: unknown }) {
    super(`transaction ${options.gid ?? '(unknown gid)'} not found`, {
      code: GrpcStatus.NOT_FOUND,
      gid: options.gid,
      call: options.call,
      cause: options.cause,
    });
  }
}

/**
 * The request itself is wrong (INVALID_ARGUMENT, OUT_OF_RANGE, or rejected by
 * the SDK before sending); retrying it unchanged cannot succeed.
 */
export class InvalidRequestError extends TccError {
  override readonly name: string = 'InvalidRequestError';

  constructor(options: { details: string; gid?: string; call?: CallKind; code?: GrpcStatus; cause?: unknown }) {
    super(`invalid ${options.call ?? 'request'}${options.gid ? ` for transaction ${options.gid}` : ''}: ${options.details}`, {
      code: options.code ?? GrpcStatus.INVALID_ARGUMENT,
      gid: options.gid,
      call: options.call,
      cause: options.cause,
    });
  }
}

/**
 * The call does not fit the transaction's state (FAILED_PRECONDITION,
 * ALREADY_EXISTS): e.g. Try or Rollback after the commit decision, Begin with
 * a gid that is already decided, or a handle used after `transaction()` ended.
 */
export class TransactionStateError extends TccError {
  override readonly name: string = 'TransactionStateError';

  constructor(options: { details: string; gid?: string; call?: CallKind; code?: GrpcStatus; cause?: unknown }) {
    super(`${options.call ?? 'call'} not allowed for transaction ${options.gid ?? '(unknown gid)'}: ${options.details}`, {
      code: options.code ?? GrpcStatus.FAILED_PRECONDITION,
      gid: options.gid,
      call: options.call,
      cause: options.cause,
    });
  }
}

/**
 * The coordinator could not be reached or did not answer in time, on a call
 * whose outcome does not matter (`get`, `begin`): retrying is safe.
 */
export class CoordinatorUnavailableError extends TccError {
  override readonly name: string = 'CoordinatorUnavailableError';

  constructor(options: { code: GrpcStatus; details?: string; gid?: string; call?: CallKind; cause?: unknown }) {
    super(
      `coordinator unavailable${options.call ? ` for ${options.call}` : ''}${options.gid ? ` of transaction ${options.gid}` : ''} ` +
        `(${GrpcStatus[options.code] ?? options.code}${options.details ? `: ${options.details}` : ''})`,
      { code: options.code, gid: options.gid, call: options.call, cause: options.cause },
    );
  }
}

function describeBranch(b: BranchContext): string {
  const what = [b.action && `action "${b.action}"`, b.participant && `on ${b.participant}`, b.branchId && `(branch ${b.branchId})`]
    .filter(Boolean)
    .join(' ');
  return what ? `Try ${what}` : 'Try';
}

/**
 * The coordinator words ABORTED as "transaction <gid> rolled back: <reason>";
 * keep only the reason (as `Transaction.reason` has it), since the error
 * names the gid itself. Any other wording is kept whole.
 */
function rollbackReason(details: string): string {
  return details.replace(/^transaction \S+ (?:was )?rolled back: /, '');
}

/** A `ServiceError` as grpc-js rejects calls with: an Error with a numeric `code`. */
export function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as Partial<ServiceError>).code === 'number';
}

/** Statuses after which the server may or may not have acted on the request. */
const UNKNOWN_OUTCOME_CODES: ReadonlySet<GrpcStatus> = new Set([
  GrpcStatus.UNAVAILABLE,
  GrpcStatus.DEADLINE_EXCEEDED,
  GrpcStatus.CANCELLED,
  GrpcStatus.INTERNAL,
  GrpcStatus.UNKNOWN,
]);

/** Statuses that only say the coordinator was not reached in time. */
const UNREACHABLE_CODES: ReadonlySet<GrpcStatus> = new Set([
  GrpcStatus.UNAVAILABLE,
  GrpcStatus.DEADLINE_EXCEEDED,
  GrpcStatus.CANCELLED,
]);

/**
 * Turns the error of a Coordinator call into the SDK's error for that
 * condition. The single place where gRPC statuses get their meaning, so that
 * every method (and `transaction()`) agrees on it.
 *
 * @param err what the call rejected with (a grpc-js `ServiceError`; anything
 *   else is treated as UNKNOWN, i.e. the request may have been sent)
 * @param call which call failed: decides whether a lost answer leaves the
 *   transaction's outcome unknown
 * @param context gid and, for `try`, the branch (never its payload)
 */
export function toTccError(err: unknown, call: CallKind, context: BranchContext & { gid?: string } = {}): TccError {
  if (err instanceof TccError) return err;
  const code: GrpcStatus = isServiceError(err) ? err.code : GrpcStatus.UNKNOWN;
  const details = isServiceError(err) ? err.details : err instanceof Error ? err.message : String(err);
  const gid = context.gid || undefined;
  const base = { gid, call, cause: err };

  switch (code) {
    case GrpcStatus.ABORTED:
      if (call === 'try') {
        return new BranchRefusedError({ ...base, participant: context.participant, action: context.action, branchId: context.branchId, reason: details });
      }
      if (call === 'commit' || call === 'execute' || call === 'rollback') {
        return new TransactionRolledBackError({ ...base, reason: rollbackReason(details) });
      }
      return new TransactionStateError({ ...base, details, code });
    case GrpcStatus.NOT_FOUND:
      return new TransactionNotFoundError(base);
    case GrpcStatus.INVALID_ARGUMENT:
    case GrpcStatus.OUT_OF_RANGE:
      return new InvalidRequestError({ ...base, details, code });
    case GrpcStatus.FAILED_PRECONDITION:
    case GrpcStatus.ALREADY_EXISTS:
      return new TransactionStateError({ ...base, details, code });
    default:
      break;
  }

  if (UNKNOWN_OUTCOME_CODES.has(code)) {
    if (call === 'commit' || call === 'execute' || call === 'rollback') {
      return new TransactionOutcomeUnknownError({ ...base, code, details });
    }
    if (call === 'try') {
      return new BranchOutcomeUnknownError({ ...base, code, details, participant: context.participant, action: context.action, branchId: context.branchId });
    }
    if (UNREACHABLE_CODES.has(code)) {
      return new CoordinatorUnavailableError({ ...base, code, details });
    }
  }
  return new TccError(
    `${call}${gid ? ` of transaction ${gid}` : ''} failed (${GrpcStatus[code] ?? code}${details ? `: ${details}` : ''})`,
    { ...base, code },
  );
}
