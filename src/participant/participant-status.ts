import { status } from '@grpc/grpc-js';
import type { BranchPhase } from './branch-call';
import { BarrierViolationError, InvalidPayloadError, TryRefusedError, UnknownActionError } from './errors';

/** What a participant answers for a failed call. */
export interface ParticipantFailure {
  readonly code: status;
  readonly details: string;
  /** Log level the failure deserves: a refusal is business as usual, INTERNAL is a bug or an outage. */
  readonly level: 'info' | 'warn' | 'error';
}

type ErrorClass = abstract new (...args: never[]) => Error;

interface StatusRule {
  readonly codes: Readonly<Record<BranchPhase, status>>;
  readonly level: ParticipantFailure['level'];
}

const everyPhase = (code: status): Readonly<Record<BranchPhase, status>> => ({ try: code, confirm: code, cancel: code });

/**
 * Error class → gRPC status per phase, as data. The first matching class
 * wins, so a subclass must come before its parent (TrySuspendedError is a
 * TryRefusedError and shares its row). Only these classes put their message
 * in the status details; see the coordinator's reading of each code in the
 * README ("The contract in short").
 */
const STATUS_BY_ERROR: ReadonlyArray<readonly [ErrorClass, StatusRule]> = [
  // A business "no" (incl. anti-suspension). From Confirm/Cancel the coordinator reads it as "call again".
  [TryRefusedError, { codes: everyPhase(status.ABORTED), level: 'info' }],
  // The coordinator never sends these sequences: make the anomaly visible, never answer OK.
  [BarrierViolationError, { codes: everyPhase(status.FAILED_PRECONDITION), level: 'warn' }],
  [InvalidPayloadError, { codes: everyPhase(status.FAILED_PRECONDITION), level: 'warn' }],
  // Try: nothing reserved, a definite "no". Phase two: keep the coordinator retrying until the action is back.
  [
    UnknownActionError,
    { codes: { try: status.FAILED_PRECONDITION, confirm: status.UNIMPLEMENTED, cancel: status.UNIMPLEMENTED }, level: 'warn' },
  ],
];

/** Fixed text of every unexpected failure: nothing from the error (message, stack, cause) reaches the caller. */
export const INTERNAL_ERROR_DETAILS = 'internal error';

/** The only place a participant's errors become gRPC statuses. */
export function toParticipantFailure(err: unknown, phase: BranchPhase): ParticipantFailure {
  for (const [cls, rule] of STATUS_BY_ERROR) {
    if (err instanceof cls) return { code: rule.codes[phase], details: err.message, level: rule.level };
  }
  return { code: status.INTERNAL, details: INTERNAL_ERROR_DETAILS, level: 'error' };
}

/** `Name: message` of an error, for logs: never its stack or cause (they can carry request data). */
export function describeError(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return `non-error thrown: ${typeof err}`;
}
