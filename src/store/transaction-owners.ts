import type { Knex } from 'knex';

const OWNERS = 'tcc_owners';

/**
 * Who began each transaction, when clients authenticate. A gid is claimed
 * by inserting its row: the primary key makes the first identity win
 * (compare-and-set), on every backend, before the transaction is created.
 */
export class SqlTransactionOwners {
  constructor(private readonly knex: Knex) {}

  /** Claims `gid` for `identity` unless someone has; answers the identity that owns it now. */
  async claim(gid: string, identity: string, now: number): Promise<string> {
    await this.knex(OWNERS).insert({ gid, identity, created_at: now }).onConflict('gid').ignore();
    return (await this.ownerOf(gid)) ?? identity;
  }

  async ownerOf(gid: string): Promise<string | undefined> {
    const row = await this.knex<{ gid: string; identity: string }>(OWNERS).where({ gid }).first('identity');
    return row?.identity;
  }
}
