import { TccError, TransactionOutcomeUnknownError, TransactionRolledBackError, toTccError } from './errors';
import { TransactionHandle, type TccTransactionHandle } from './transaction-handle';
import type { TransactionInfo } from './transaction-info';
import type {
  BeginOptions,
  BeginResult,
  BranchSpecInput,
  FinishOptions,
  TransactionOptions,
  TransactionResult,
  TryOptions,
  TryResult,
} from './types';

/** The calls `transaction()` is made of; TccClient provides them. */
export interface TransactionOps {
  begin(opts: BeginOptions): Promise<BeginResult>;
  try(gid: string, branch: BranchSpecInput, opts: TryOptions): Promise<TryResult>;
  commit(gid: string, opts: FinishOptions): Promise<TransactionInfo>;
  rollback(gid: string, opts: FinishOptions): Promise<TransactionInfo>;
}

/**
 * Begin; run `fn`; Commit if it resolves, Rollback if it throws. See
 * `TccClient.transaction` for the errors.
 */
export async function runTransaction<T>(
  ops: TransactionOps,
  opts: TransactionOptions,
  fn: (tx: TccTransactionHandle) => Promise<T>,
): Promise<TransactionResult<T>> {
  const finish: FinishOptions = { wait: opts.wait, callTimeoutMs: opts.callTimeoutMs };
  const { gid, deadlineUnixMs } = await ops.begin({ gid: opts.gid, timeoutMs: opts.timeoutMs, callTimeoutMs: opts.callTimeoutMs });
  const handle = new TransactionHandle(gid, deadlineUnixMs, (branch, tryOpts) => ops.try(gid, branch, tryOpts));

  let value: T;
  try {
    value = await fn(handle);
  } catch (err) {
    handle.close();
    throw await rollBackAfter(ops, gid, err, finish);
  }
  await handle.settle();
  handle.close();
  // Commit's own errors are already the right ones: TransactionRolledBackError
  // (ABORTED), TransactionOutcomeUnknownError (answer lost).
  const transaction = await ops.commit(gid, finish);
  return { gid, value, transaction };
}

/** Rolls back after the callback failed; returns the error to throw, with the callback's error as `cause`. */
async function rollBackAfter(ops: TransactionOps, gid: string, callbackError: unknown, finish: FinishOptions): Promise<TccError> {
  try {
    const info = await ops.rollback(gid, finish);
    return new TransactionRolledBackError({ gid, reason: info.reason, call: 'rollback', cause: callbackError });
  } catch (err) {
    if (err instanceof TransactionRolledBackError) {
      return new TransactionRolledBackError({ gid, reason: err.reason, call: 'rollback', cause: callbackError });
    }
    // Whatever else went wrong, the rollback is not known to be recorded. A
    // TRYING transaction is still rolled back at its deadline, but only the
    // coordinator can say which way it went.
    const rollbackError = toTccError(err, 'rollback', { gid });
    return new TransactionOutcomeUnknownError({
      gid,
      code: rollbackError.code,
      call: 'rollback',
      details: rollbackError.message,
      cause: callbackError,
      rollbackError,
    });
  }
}
