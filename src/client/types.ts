import type { BranchPayload } from './payload';
import type { TransactionInfo } from './transaction-info';

/** Accepted by every call. */
export interface CallTimeoutOption {
  /**
   * gRPC deadline of this one call, in ms. Default: the client's
   * `callTimeoutMs` (10 000). Raise it for calls that legitimately take long:
   * `execute` (every Try in one call) and `commit`/`rollback` with `wait`.
   * When it expires on a deciding call the outcome is unknown, not failed.
   */
  callTimeoutMs?: number;
}

export interface BeginOptions extends CallTimeoutOption {
  /**
   * Client-chosen gid, used as an idempotency key: Begin again with the same
   * gid while the transaction is TRYING returns it again (once it is decided:
   * TransactionStateError). Default: the coordinator assigns one.
   */
  gid?: string;
  /**
   * Ms until a still-TRYING transaction is rolled back by the coordinator.
   * Default 0: the coordinator's default (TCC_DEFAULT_TIMEOUT_MS).
   */
  timeoutMs?: number;
}

export interface BeginResult {
  gid: string;
  /** Unix ms after which the coordinator rolls the transaction back unless committed. */
  deadlineUnixMs: number;
}

/** A branch to register: which participant does what. */
export interface BranchSpecInput {
  /** Participant's gRPC target, dialed by the coordinator: `host:port` or `dns:///host:port`. */
  participant: string;
  /** Passed to the participant's Try, Confirm and Cancel, which dispatch on it. */
  action: string;
  /** Default: empty. Encoding: see {@link BranchPayload}. */
  payload?: BranchPayload;
  /** Default: assigned by the coordinator. */
  branchId?: string;
}

export interface TryOptions extends CallTimeoutOption {
  /**
   * Deadline of the coordinator's call to the participant's Try, in ms.
   * Default 0: the coordinator's default (TCC_BRANCH_TIMEOUT_MS). Keep it
   * below `callTimeoutMs`, or this call's own deadline cuts the Try short.
   */
  timeoutMs?: number;
}

export interface TryResult {
  /** The branch id (the caller's, or the one the coordinator assigned). */
  branchId: string;
  /** The participant's Try result bytes, undecoded (empty when it sent none). */
  result: Buffer;
}

export interface FinishOptions extends CallTimeoutOption {
  /**
   * Answer only once phase two (every Confirm or Cancel) has finished, or at
   * the call's deadline. Default false: answer once the decision is durable,
   * which is all a caller needs to know the outcome.
   */
  wait?: boolean;
}

export interface ExecuteOptions extends CallTimeoutOption {
  /**
   * Default: a random UUID chosen by the SDK (not the coordinator), so that
   * errors, including TransactionOutcomeUnknownError, always carry a gid to
   * `get` later. See {@link BeginOptions.gid}.
   */
  gid?: string;
  /** Default 0: the coordinator's default. See {@link BeginOptions.timeoutMs}. */
  timeoutMs?: number;
  /** The branches to Try, then Confirm. */
  branches: BranchSpecInput[];
  /** Default false. See {@link FinishOptions.wait}. */
  wait?: boolean;
  /**
   * Try the branches one after another, stopping at the first refusal.
   * Default false: all at once, which is faster but sends every Try even
   * when one is refused.
   */
  sequential?: boolean;
}

export interface TransactionOptions {
  /** Default: assigned by the coordinator. See {@link BeginOptions.gid}. */
  gid?: string;
  /** Default 0: the coordinator's default. See {@link BeginOptions.timeoutMs}. */
  timeoutMs?: number;
  /** Passed to the Commit (or Rollback). Default false. See {@link FinishOptions.wait}. */
  wait?: boolean;
  /** Deadline of the Begin, Commit and Rollback calls. Default: the client's `callTimeoutMs`. */
  callTimeoutMs?: number;
}

export interface TransactionResult<T> {
  gid: string;
  /** What the callback resolved with. */
  value: T;
  /** The transaction as the Commit answered it: CONFIRMING, or CONFIRMED (surely so with `wait`). */
  transaction: TransactionInfo;
}
