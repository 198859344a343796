import { status } from '@grpc/grpc-js';
import {
  BranchConflictError,
  BranchNotFoundError,
  BranchOutcomeUnknownError,
  BranchRefusedError,
  InvalidArgumentError,
  ParticipantNotAllowedError,
  StoreUnavailableError,
  TransactionAlreadyExistsError,
  TransactionCommittedError,
  TransactionNotFoundError,
  TransactionNotInPhaseTwoError,
  TransactionNotTryingError,
  TransactionRolledBackError,
} from '../engine/errors';
import { DatabaseUnavailableError, isDatabaseUnavailable, StoreDeadlineExceededError, StoreQueueFullError, StoreTimeoutError } from '../store/store-errors';
import { UnauthenticatedError } from './admin-auth';
import { RequestTooLargeError } from './request-limits';
import { ClientUnauthenticatedError, GidTakenError } from './client-auth';

export interface GrpcFailure {
  code: status;
  details: string;
}

type ErrorClass = abstract new (...args: never[]) => Error;

/** Engine error → gRPC status, as data. The first matching class wins. */
const STATUS_BY_ERROR: ReadonlyArray<readonly [ErrorClass, status]> = [
  [UnauthenticatedError, status.UNAUTHENTICATED],
  [RequestTooLargeError, status.RESOURCE_EXHAUSTED],
  [ClientUnauthenticatedError, status.UNAUTHENTICATED],
  [GidTakenError, status.PERMISSION_DENIED],
  [InvalidArgumentError, status.INVALID_ARGUMENT],
  [ParticipantNotAllowedError, status.PERMISSION_DENIED],
  [TransactionNotFoundError, status.NOT_FOUND],
  [BranchNotFoundError, status.NOT_FOUND],
  [TransactionAlreadyExistsError, status.ALREADY_EXISTS],
  [BranchConflictError, status.ALREADY_EXISTS],
  [TransactionNotTryingError, status.FAILED_PRECONDITION],
  [TransactionCommittedError, status.FAILED_PRECONDITION],
  [TransactionNotInPhaseTwoError, status.FAILED_PRECONDITION],
  [TransactionRolledBackError, status.ABORTED],
  [BranchRefusedError, status.ABORTED],
  [StoreUnavailableError, status.UNAVAILABLE],
  // Refused before anything was written: a definite "not done", unlike UNAVAILABLE (outcome unknown).
  [StoreQueueFullError, status.RESOURCE_EXHAUSTED],
  [StoreDeadlineExceededError, status.DEADLINE_EXCEEDED],
  // The connection was closed mid-call: a COMMIT may have reached the server, so the outcome is unknown.
  [StoreTimeoutError, status.UNAVAILABLE],
  // Storage full, read-only, failing, its file lost, or the connection killed: nothing was acknowledged, retry (elsewhere).
  [DatabaseUnavailableError, status.UNAVAILABLE],
];

/** Codes a participant call may end with that we pass on as they are. */
const UNKNOWN_OUTCOME_CODES = new Set<number>([status.DEADLINE_EXCEEDED, status.UNAVAILABLE]);

/** Database driver errors that mean "not reachable now", worth a retry by the caller. */
function isStoreUnreachable(err: unknown): boolean {
  const code = (err as { code?: string })?.code ?? '';
  // Lock conflicts the group committer gave up retrying; the rest are driver errors of a knex used outside the store (owners).
  return /^(SQLITE_BUSY|ER_LOCK_WAIT_TIMEOUT|ER_LOCK_DEADLOCK)$/.test(code) || isDatabaseUnavailable(err)
    || /Knex: Timeout acquiring a connection/.test((err as Error)?.message ?? '');
}

/**
 * The only place errors become gRPC statuses. Anything unexpected is
 * INTERNAL with a fixed message: no stack or internal detail reaches a caller.
 */
export function toGrpcFailure(err: unknown): GrpcFailure {
  if (err instanceof BranchOutcomeUnknownError) {
    return { code: UNKNOWN_OUTCOME_CODES.has(err.grpcCode) ? err.grpcCode : status.UNAVAILABLE, details: err.message };
  }
  for (const [cls, code] of STATUS_BY_ERROR) {
    if (err instanceof cls) return { code, details: err.message };
  }
  if (isStoreUnreachable(err)) return { code: status.UNAVAILABLE, details: 'transaction store unavailable; retry' };
  return { code: status.INTERNAL, details: 'internal error' };
}
