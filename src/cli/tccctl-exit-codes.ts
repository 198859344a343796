/** tccctl's exit codes, and the error for a wrong command line. Kept free of gRPC so help and usage errors load fast. */
import { oneLine } from './text-table';

/**
 * Exit codes scripts can rely on (documented in `tccctl --help` and the
 * README): changing one breaks somebody's automation.
 */
export const EXIT = {
  OK: 0,
  /** Anything not listed below (INTERNAL, an unexpected failure, a `retry --stuck` with mixed failures). */
  FAILURE: 1,
  USAGE: 2,
  NOT_FOUND: 3,
  UNAUTHENTICATED: 4,
  FAILED_PRECONDITION: 5,
  /** UNAVAILABLE or DEADLINE_EXCEEDED: the coordinator was not reached, or did not answer in time. */
  UNAVAILABLE: 6,
  INVALID_ARGUMENT: 7,
} as const;

/** The command line is wrong: nothing was sent. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The one stderr line of a usage error. */
export function usageErrorLine(err: UsageError): string {
  return `tccctl: ${oneLine(err.message)} (see tccctl --help)`;
}
