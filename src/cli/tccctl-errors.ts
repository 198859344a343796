/** gRPC statuses → tccctl's exit codes, and its one-line error messages. */
import { status } from '@grpc/grpc-js';
import { AdminCallError } from './admin-client';
import { oneLine } from './text-table';
import { EXIT, UsageError, usageErrorLine } from './tccctl-exit-codes';

export function exitCodeForStatus(code: status): number {
  switch (code) {
    case status.OK:
      return EXIT.OK;
    case status.NOT_FOUND:
      return EXIT.NOT_FOUND;
    case status.UNAUTHENTICATED:
      return EXIT.UNAUTHENTICATED;
    case status.FAILED_PRECONDITION:
      return EXIT.FAILED_PRECONDITION;
    case status.UNAVAILABLE:
    case status.DEADLINE_EXCEEDED:
      return EXIT.UNAVAILABLE;
    case status.INVALID_ARGUMENT:
      return EXIT.INVALID_ARGUMENT;
    default:
      return EXIT.FAILURE;
  }
}

export function exitCodeFor(err: unknown): number {
  if (err instanceof UsageError) return EXIT.USAGE;
  if (err instanceof AdminCallError) return exitCodeForStatus(err.code);
  return EXIT.FAILURE;
}

/** Where the failed call went, to word the message. */
export interface ErrorContext {
  addr: string;
  timeoutMs: number;
  tokenGiven: boolean;
}

/**
 * One line for stderr, prefixed `tccctl: `; never a stack trace. The common
 * failures say what to do about them.
 */
export function errorLine(err: unknown, ctx: ErrorContext): string {
  if (err instanceof UsageError) return usageErrorLine(err);
  if (err instanceof AdminCallError) {
    const code = status[err.code] ?? `code ${err.code}`;
    // grpc-js ends a refused connection's details with an empty "Resolution note:".
    const details = oneLine(err.details).replace(/\s*Resolution note:$/, '');
    switch (err.code) {
      case status.UNAUTHENTICATED:
        return ctx.tokenGiven
          ? `tccctl: the coordinator at ${ctx.addr} refused the admin token (UNAUTHENTICATED); check --token / TCC_ADMIN_TOKEN`
          : `tccctl: the coordinator at ${ctx.addr} needs an admin token (UNAUTHENTICATED); set TCC_ADMIN_TOKEN or pass --token`;
      case status.UNAVAILABLE:
        return `tccctl: coordinator at ${ctx.addr} is unreachable (UNAVAILABLE${details ? `: ${details}` : ''})`;
      case status.DEADLINE_EXCEEDED:
        return `tccctl: coordinator at ${ctx.addr} did not answer ${err.method} within ${ctx.timeoutMs} ms (DEADLINE_EXCEEDED); the call may still have taken effect`;
      default:
        return `tccctl: ${err.method}: ${code}${details ? `: ${details}` : ''}`;
    }
  }
  const message = err instanceof Error ? err.message : String(err);
  return `tccctl: unexpected error: ${oneLine(message)}`;
}
