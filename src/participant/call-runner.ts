import type * as grpc from '@grpc/grpc-js';
import type { BranchRequest__Output } from '../generated/tcc/v1/BranchRequest';
import type { BranchResponse } from '../generated/tcc/v1/BranchResponse';
import type { BranchPhase } from './branch-call';
import type { ParticipantFailure } from './participant-status';

/**
 * Runs one Try/Confirm/Cancel, whichever form it came in (a unary call or a
 * message on Participant.Calls): both forms share this, so the barrier,
 * status mapping, logs and spans cannot drift apart.
 */
export interface CallRunner {
  /** Runs the call; rejects with the handler's or barrier's error. */
  run(phase: BranchPhase, request: BranchRequest__Output, metadata: grpc.Metadata, deadline: number): Promise<BranchResponse>;
  /** The status a failed call answers, logged once. */
  fail(phase: BranchPhase, request: BranchRequest__Output, err: unknown): ParticipantFailure;
  /** A call finished after its caller stopped waiting (deadline, cancel): its answer is dropped. */
  late(phase: BranchPhase, request: BranchRequest__Output, outcome: 'result' | 'error'): void;
}
