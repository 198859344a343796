import type { Knex } from 'knex';
import { ACCOUNTS_TABLE } from './account-schema';

/** One account, amounts in integer minor units. */
export interface AccountRow {
  readonly id: string;
  readonly balance: number;
  readonly frozen: number;
}

/**
 * A phase-two change found the account not in the state its Try left it in
 * (deleted, or its frozen amount changed outside this service). Nothing is
 * written; the call fails with INTERNAL and the coordinator keeps retrying
 * it, so the branch shows up as stuck instead of the books going wrong
 * silently. The message names no account: it is logged, and ids are payload data.
 */
export class AccountStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AccountStateError';
  }
}

/** How a debit's Try went. */
export type FreezeOutcome = 'frozen' | 'insufficient-funds' | 'unknown-account';

/**
 * The accounts table. The business methods take the barrier's knex
 * transaction `tx` (never `this.knex`): the change must commit or roll back
 * together with the barrier's record of the call.
 *
 * Every change is ONE conditional UPDATE whose WHERE states what must hold
 * for it (e.g. `balance - frozen >= amount`), checked by the database on the
 * row it locks: two debits racing for the same money cannot both pass, on
 * MySQL (row lock, READ COMMITTED re-check of the latest version) as on
 * SQLite (one writer). A read-then-write in JavaScript could not promise that.
 */
export class AccountStore {
  constructor(private readonly knex: Knex) {}

  /** Creates the accounts that do not exist yet, with these balances; existing ones are left alone. */
  async seed(seed: ReadonlyMap<string, number>): Promise<void> {
    if (seed.size === 0) return;
    const rows = [...seed].map(([id, balance]) => ({ id, balance, frozen: 0 }));
    // SQLite: ON CONFLICT DO NOTHING; MySQL: INSERT IGNORE (values are validated, so only duplicates are ignored).
    await this.knex(ACCOUNTS_TABLE).insert(rows).onConflict('id').ignore();
  }

  /** Every account, by id. */
  async list(): Promise<AccountRow[]> {
    const rows = (await this.knex(ACCOUNTS_TABLE).select('id', 'balance', 'frozen').orderBy('id')) as {
      id: string;
      balance: number | string;
      frozen: number | string;
    }[];
    // mysql2 answers BIGINTs beyond 2^53 as strings (supportBigNumbers): Number() makes the type honest.
    return rows.map((r) => ({ id: r.id, balance: Number(r.balance), frozen: Number(r.frozen) }));
  }

  /** Whether the account exists, inside `tx`. */
  async exists(tx: Knex.Transaction, id: string): Promise<boolean> {
    const row = (await tx(ACCOUNTS_TABLE).select('id').where({ id }).first()) as { id: string } | undefined;
    return row !== undefined;
  }

  /** Debit's Try: freezes `amount` if the account can spare it. */
  async freeze(tx: Knex.Transaction, id: string, amount: number): Promise<FreezeOutcome> {
    const changed = await tx(ACCOUNTS_TABLE)
      .where({ id })
      .andWhereRaw('balance - frozen >= ?', [amount])
      .update({ frozen: tx.raw('frozen + ?', [amount]) });
    if (changed === 1) return 'frozen';
    return (await this.exists(tx, id)) ? 'insufficient-funds' : 'unknown-account';
  }

  /** Debit's Confirm: takes the frozen amount out of the balance. */
  async settleDebit(tx: Knex.Transaction, id: string, amount: number): Promise<void> {
    const changed = await tx(ACCOUNTS_TABLE)
      .where({ id })
      .andWhere('frozen', '>=', amount)
      .andWhere('balance', '>=', amount)
      .update({ balance: tx.raw('balance - ?', [amount]), frozen: tx.raw('frozen - ?', [amount]) });
    if (changed !== 1) throw new AccountStateError('debit confirm: the account does not hold the frozen amount any more');
  }

  /** Debit's Cancel: releases the frozen amount. */
  async unfreeze(tx: Knex.Transaction, id: string, amount: number): Promise<void> {
    const changed = await tx(ACCOUNTS_TABLE)
      .where({ id })
      .andWhere('frozen', '>=', amount)
      .update({ frozen: tx.raw('frozen - ?', [amount]) });
    if (changed !== 1) throw new AccountStateError('debit cancel: the account does not hold the frozen amount any more');
  }

  /** Credit's Confirm: adds `amount` to the balance. */
  async deposit(tx: Knex.Transaction, id: string, amount: number): Promise<void> {
    const changed = await tx(ACCOUNTS_TABLE)
      .where({ id })
      .update({ balance: tx.raw('balance + ?', [amount]) });
    if (changed !== 1) throw new AccountStateError('credit confirm: the account does not exist any more');
  }
}
