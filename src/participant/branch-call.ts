import type * as grpc from '@grpc/grpc-js';
import { InvalidPayloadError } from './errors';

export type BranchPhase = 'try' | 'confirm' | 'cancel';

/**
 * One call from the coordinator to a participant, as handlers and barriers
 * see it. Confirm and Cancel carry exactly the action and payload bytes that
 * Try carried.
 */
export interface BranchCall {
  readonly gid: string;
  readonly branchId: string;
  readonly action: string;
  readonly phase: BranchPhase;
  /** The raw payload bytes. */
  readonly payload: Buffer;
  /** W3C traceparent sent by the coordinator, when the client sent one. */
  readonly traceparent: string | undefined;
  /** The call's deadline, epoch ms (Infinity when the caller set none). */
  readonly deadline: number;
  /** The payload parsed as JSON; throws {@link InvalidPayloadError} when it is not JSON. */
  json<T = unknown>(): T;
}

/** Builds a {@link BranchCall} from a decoded request. */
export function createBranchCall(
  phase: BranchPhase,
  req: { gid: string; branch_id: string; action: string; payload: Buffer | Uint8Array | null | undefined },
  metadata?: grpc.Metadata,
  deadline = Infinity,
): BranchCall {
  const payload = req.payload ? Buffer.from(req.payload) : Buffer.alloc(0);
  const tp = metadata?.get('traceparent')[0];
  let parsed: { value: unknown } | undefined;
  return {
    gid: req.gid,
    branchId: req.branch_id,
    action: req.action,
    phase,
    payload,
    traceparent: typeof tp === 'string' ? tp : undefined,
    deadline,
    json<T>(): T {
      if (!parsed) {
        try {
          parsed = { value: JSON.parse(payload.toString('utf8')) as unknown };
        } catch (err) {
          throw new InvalidPayloadError(req.action, 'not valid JSON', { cause: err });
        }
      }
      return parsed.value as T;
    },
  };
}
