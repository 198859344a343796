/**
 * Admin listing by status reads its page from the (status, gid) index
 * (issue 8, defect 8, first half): MariaDB's plan for the store's own
 * listing query uses tcc_transactions_status_gid and sorts nothing.
 */
import { expect } from 'chai';
import knexFactory, { type Knex } from 'knex';
import type { TransactionStatus } from '../src/domain/model';
import { knexConfigFor, migrateToLatest } from '../src/store/create-store';
import { SqlTransactionStore } from '../src/store/sql-transaction-store';
import type { ListFilter } from '../src/store/transaction-store';
import { onMariadb } from './helpers/backends';

/** Every status but the one listed. */
const OTHERS: TransactionStatus[] = ['TRYING', 'CANCELLING', 'CONFIRMED', 'CANCELLED'];
const ROWS = 5_000;

interface PlanRow {
  table: string | null;
  type: string;
  key: string | null;
  Extra: string | null;
}

describe('Admin listing index', function () {
  onMariadb((backend) => {
    let knex: Knex | undefined;
    let store: SqlTransactionStore | undefined;

    before(async function () {
      this.timeout(120_000);
      knex = knexFactory(knexConfigFor(backend.url, 2).config);
      await migrateToLatest(knex);
      store = new SqlTransactionStore(knex, 'mysql');
      const now = Date.now();
      const rows = Array.from({ length: ROWS }, (_, i) => ({
        gid: `g-${String(i).padStart(6, '0')}`,
        // Mostly finished, as in a real table: the listed status is the rare one.
        status: i % 50 === 0 ? 'CONFIRMING' : OTHERS[i % OTHERS.length],
        created_at: now,
        updated_at: now,
        deadline_at: now,
        owner: null,
      }));
      for (let i = 0; i < rows.length; i += 500) await knex('tcc_transactions').insert(rows.slice(i, i + 500));
      await knex.raw('ANALYZE TABLE tcc_transactions');
    });

    after(async function () {
      if (store) await store.close();
    });

    /** EXPLAIN of each SQL statement the store sends for `filter`, and the rows it answers. */
    async function plans(filter: ListFilter): Promise<{ plans: PlanRow[][]; gids: string[] }> {
      const sent: { sql: string; bindings: readonly unknown[] }[] = [];
      const capture = (q: { sql: string; bindings: readonly unknown[] }): void => {
        sent.push(q);
      };
      knex!.on('query', capture);
      let gids: string[];
      try {
        gids = (await store!.listTransactions(filter)).map((t) => t.gid);
      } finally {
        knex!.off('query', capture);
      }
      if (!sent.length) throw new Error('listTransactions sent no query');
      const explained: PlanRow[][] = [];
      for (const q of sent) explained.push(((await knex!.raw(`EXPLAIN ${q.sql}`, q.bindings as Knex.RawBinding[])) as [PlanRow[]])[0]);
      return { plans: explained, gids };
    }

    function expectIndexedWithoutSort(p: PlanRow[]): void {
      const txRows = p.filter((r) => r.table === 'tcc_transactions');
      expect(txRows, JSON.stringify(p)).to.have.length(1);
      expect(txRows[0].key, JSON.stringify(p)).to.equal('tcc_transactions_status_gid');
      expect(txRows[0].Extra ?? '', JSON.stringify(p)).to.not.match(/filesort/i);
    }

    const gid = (i: number): string => `g-${String(i).padStart(6, '0')}`;

    for (const afterGid of [undefined, 'g-002000']) {
      it(`reads a page of one status from (status, gid) without a sort${afterGid ? ', after a page token' : ''}`, async function () {
        const { plans: p, gids } = await plans({ statuses: ['CONFIRMING'], afterGid, limit: 21 });
        const expected = Array.from({ length: ROWS / 50 }, (_, i) => gid(i * 50))
          .filter((g) => afterGid === undefined || g > afterGid)
          .slice(0, 21);
        expect(gids).to.deep.equal(expected);
        expect(p).to.have.length(1);
        expectIndexedWithoutSort(p[0]);
      });
    }

    it('reads a page of several statuses from (status, gid), one status at a time, without a sort', async function () {
      // CONFIRMING: every 50th; CANCELLING: i % 4 === 1 among the others.
      const { plans: p, gids } = await plans({ statuses: ['CONFIRMING', 'CANCELLING'], afterGid: gid(1000), limit: 10 });
      const expected = Array.from({ length: ROWS }, (_, i) => i)
        .filter((i) => i > 1000 && (i % 50 === 0 || i % 4 === 1))
        .slice(0, 10)
        .map(gid);
      expect(gids).to.deep.equal(expected);
      for (const one of p) expectIndexedWithoutSort(one);
      expect(p).to.have.length(2);
    });
  });
});
