import type { Knex } from 'knex';
import { InvalidPayloadError, TryRefusedError, type ActionHandlers, type BranchCall } from '../../src/participant';
import { BUSINESS_ID } from '../shared/service-config';
import type { AccountStore } from './account-store';

/** Payload of `debit` and `credit`: which account, how much (integer minor units, > 0). */
export interface AccountPayload {
  readonly account: string;
  readonly amount: number;
}

/**
 * The call's payload, validated. Unknown fields are refused too: a client
 * sending `currency` (or misspelling `amount`) must hear "no", not have its
 * intent silently ignored. Confirm and Cancel get the bytes Try got, so a
 * payload that passed at Try passes again.
 */
export function accountPayloadOf(call: BranchCall): AccountPayload {
  const body = call.json();
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new InvalidPayloadError(call.action, 'expected a JSON object {"account": string, "amount": integer}');
  }
  const { account, amount, ...rest } = body as Record<string, unknown>;
  const extra = Object.keys(rest);
  if (extra.length > 0) throw new InvalidPayloadError(call.action, `unexpected field(s) ${extra.join(', ')}`);
  if (typeof account !== 'string' || !BUSINESS_ID.test(account)) {
    throw new InvalidPayloadError(call.action, 'account: expected 1-64 of A-Z a-z 0-9 . _ : -');
  }
  if (typeof amount !== 'number' || !Number.isSafeInteger(amount) || amount <= 0) {
    throw new InvalidPayloadError(call.action, 'amount: expected a whole number of minor units from 1 to 2^53-1');
  }
  return { account, amount };
}

/**
 * The account service's actions, run by the SQL barrier inside its local
 * transaction `tx` (so each phase's change happens at most once per branch,
 * a Cancel without a Try changes nothing, and a Try after its Cancel is
 * refused).
 *
 * - `debit`: Try freezes the amount (refused: "insufficient funds", "unknown
 *   account"); Confirm takes it out of balance and frozen; Cancel unfreezes it.
 * - `credit`: Try only checks that the account exists (refused: "unknown
 *   account"): nothing to reserve, incoming money cannot run short; Confirm
 *   adds the amount; Cancel has nothing to undo. The money shows up only at
 *   Confirm, so a credit that is later cancelled was never spendable.
 */
export function accountActions(store: AccountStore): Record<'debit' | 'credit', ActionHandlers<Knex.Transaction>> {
  return {
    debit: {
      async try(tx, call) {
        const { account, amount } = accountPayloadOf(call);
        const outcome = await store.freeze(tx, account, amount);
        if (outcome === 'insufficient-funds') throw new TryRefusedError('insufficient funds');
        if (outcome === 'unknown-account') throw new TryRefusedError('unknown account');
        return undefined;
      },
      async confirm(tx, call) {
        const { account, amount } = accountPayloadOf(call);
        await store.settleDebit(tx, account, amount);
      },
      async cancel(tx, call) {
        const { account, amount } = accountPayloadOf(call);
        await store.unfreeze(tx, account, amount);
      },
    },
    credit: {
      async try(tx, call) {
        const { account } = accountPayloadOf(call);
        if (!(await store.exists(tx, account))) throw new TryRefusedError('unknown account');
        return undefined;
      },
      async confirm(tx, call) {
        const { account, amount } = accountPayloadOf(call);
        await store.deposit(tx, account, amount);
      },
      async cancel(_tx, call) {
        // Validated all the same: a Cancel must not answer OK for a payload no Try could have accepted.
        accountPayloadOf(call);
      },
    },
  };
}
