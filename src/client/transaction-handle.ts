import { TransactionStateError } from './errors';
import type { BranchPayload } from './payload';
import type { BranchSpecInput, TryOptions, TryResult } from './types';

/** Options of {@link TccTransactionHandle.try}. */
export interface HandleTryOptions extends TryOptions {
  /** Default: assigned by the coordinator. */
  branchId?: string;
}

/** What a `transaction()` callback gets: the transaction and the way to add branches to it. */
export interface TccTransactionHandle {
  readonly gid: string;
  /** Unix ms after which the coordinator rolls the transaction back unless committed. */
  readonly deadlineUnixMs: number;
  /**
   * Registers a branch and runs the participant's Try. Throws
   * BranchRefusedError when the participant refuses: let it propagate to roll
   * back (the transaction can no longer commit anyway).
   */
  try(participant: string, action: string, payload?: BranchPayload, opts?: HandleTryOptions): Promise<TryResult>;
}

type TryFn = (branch: BranchSpecInput, opts: TryOptions) => Promise<TryResult>;

/** @internal The handle given to `transaction()` callbacks. */
export class TransactionHandle implements TccTransactionHandle {
  private readonly pending = new Set<Promise<unknown>>();
  private closed = false;

  constructor(
    readonly gid: string,
    readonly deadlineUnixMs: number,
    private readonly tryFn: TryFn,
  ) {}

  try(participant: string, action: string, payload?: BranchPayload, opts: HandleTryOptions = {}): Promise<TryResult> {
    if (this.closed) {
      // A Try after the decision could only be refused or, worse, land after
      // a Commit that did not wait for it: refuse it here, before sending.
      return Promise.reject(
        new TransactionStateError({ gid: this.gid, call: 'try', details: 'the transaction() callback has already finished' }),
      );
    }
    const { branchId, ...tryOpts } = opts;
    const p = this.tryFn({ participant, action, payload, branchId }, tryOpts);
    // Tracked so the Commit can wait for it. The handler also keeps a
    // forgotten Try's rejection from crashing the process: its failure still
    // reaches the caller, through the Commit the coordinator then refuses.
    const tracked = p.then(
      () => undefined,
      () => undefined,
    );
    this.pending.add(tracked);
    void tracked.then(() => this.pending.delete(tracked));
    return p;
  }

  /** Stops accepting Tries. */
  close(): void {
    this.closed = true;
  }

  /**
   * Waits until no Try is in flight. A callback that forgot to await a Try
   * must not race the Commit: the coordinator could decide before the branch
   * is stored, and the branch would then be rolled back alone or fail the commit.
   */
  async settle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending);
  }
}
