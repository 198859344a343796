import type { BranchCall } from './branch-call';

/**
 * What a barrier did with one call.
 * - applied: the business function ran and its change is committed with the barrier record.
 * - duplicate: this phase already ran for the branch; nothing ran now, answer OK.
 * - empty-rollback: Cancel of a branch whose Try never ran here; nothing ran,
 *   answer OK, and a Try arriving later is refused (anti-suspension).
 * Try after Cancel is not a result: the barrier throws TrySuspendedError.
 * Confirm after Cancel, Cancel after Confirm and Confirm without Try throw
 * BarrierViolationError.
 */
export type BarrierResult<R> =
  | { readonly outcome: 'applied'; readonly value: R }
  | { readonly outcome: 'duplicate' }
  | { readonly outcome: 'empty-rollback' };

/**
 * Runs a participant's business change for one call under the three TCC
 * rules, atomically with the barrier's own record of the call:
 * - idempotency: each phase's business change happens at most once per branch;
 * - empty rollback: Cancel without a prior Try succeeds and changes nothing;
 * - anti-suspension: Try after Cancel changes nothing and is refused.
 * A business function that throws leaves no barrier record behind, so a
 * retry of the same call runs again.
 *
 * `Tx` is what the business function works with: a knex transaction for the
 * SQL barrier, a change builder for the Redis barrier.
 */
export interface Barrier<Tx> {
  run<R>(call: BranchCall, business: (tx: Tx) => Promise<R>): Promise<BarrierResult<R>>;
}

/**
 * No barrier: every call runs the business function. Only for participants
 * whose handlers are idempotent and cope with Cancel-before-Try on their own.
 */
export const noBarrier: Barrier<undefined> = {
  async run<R>(_call: BranchCall, business: (tx: undefined) => Promise<R>): Promise<BarrierResult<R>> {
    return { outcome: 'applied', value: await business(undefined) };
  },
};
