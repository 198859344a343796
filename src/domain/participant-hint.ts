/**
 * A hint for an operator when a participant target looks miswired rather than
 * failing: every call to it ended UNAVAILABLE (nothing answers there) or every
 * call ended UNIMPLEMENTED (something answers, but not tcc.v1.Participant, or
 * not this action). Mixed failures, or any answer at all, give no hint: then
 * the participant is reachable and failing for its own reasons.
 */

/** gRPC status codes, numerically (the domain does not depend on grpc-js). */
const UNIMPLEMENTED = 12;
const UNAVAILABLE = 14;

/** One call to the participant as recorded: its gRPC status code (0 = OK). */
export interface RecordedCallCode {
  grpcCode: number;
}

/** The code a stored error text (`UNAVAILABLE: No connection established…`) starts with. */
export function codeOfErrorText(error: string): number | undefined {
  if (error.startsWith('UNAVAILABLE')) return UNAVAILABLE;
  if (error.startsWith('UNIMPLEMENTED')) return UNIMPLEMENTED;
  return undefined;
}

/** The hint for these calls (oldest first), or '' when they do not look like a wrong target. */
export function participantHint(calls: readonly RecordedCallCode[]): string {
  if (calls.length === 0) return '';
  const n = calls.length === 1 ? 'the last call' : `all ${calls.length} calls`;
  if (calls.every((c) => c.grpcCode === UNAVAILABLE)) {
    return `${n} UNAVAILABLE: is the participant address right, and is it running?`;
  }
  if (calls.every((c) => c.grpcCode === UNIMPLEMENTED)) {
    return `${n} UNIMPLEMENTED: is this address a tcc.v1.Participant (not another service), serving this action?`;
  }
  return '';
}
