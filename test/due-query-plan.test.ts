/**
 * The recovery's due query, when some targets are full, skips transactions
 * with a pending branch there by a correlated lookup per due row. On SQLite
 * (no statistics) the planner took the participant index for it, so every
 * due row walked all branches of the full target: quadratic in a backlog (a
 * second per sweep at 6,000 due transactions, issue 9). Pinned by the plan
 * SQLite reports for the statement the store sends, not by a timing.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import knexFactory, { type Knex } from 'knex';
import { knexConfigFor, migrateToLatest } from '../src/store/create-store';
import { SqlTransactionStore } from '../src/store/sql-transaction-store';

describe('[sqlite] the due query past a full target', function () {
  this.timeout(30_000);
  let dir: string;
  let knex: Knex;
  let store: SqlTransactionStore;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcc-plan-'));
    const { config, dialect } = knexConfigFor(`sqlite:${path.join(dir, 'tcc.sqlite')}`);
    knex = knexFactory(config);
    await migrateToLatest(knex);
    store = new SqlTransactionStore(knex, dialect);
  });
  after(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('looks the pending branches up by gid (the primary key), not by participant', async () => {
    const sent: { sql: string; bindings: unknown[] }[] = [];
    const onQuery = (q: { sql: string; bindings?: unknown[] }) => sent.push({ sql: q.sql, bindings: q.bindings ?? [] });
    knex.on('query', onQuery);
    try {
      await store.findDuePhaseTwo(Date.now(), 10, ['127.0.0.1:1']);
    } finally {
      knex.off('query', onQuery);
    }
    const due = sent.filter((q) => /not exists/i.test(q.sql));
    expect(due, 'due queries with the full-target lookup').to.have.length.at.least(1);
    for (const q of due) {
      const plan: { detail: string }[] = await knex.raw(`EXPLAIN QUERY PLAN ${q.sql}`, q.bindings as Knex.RawBinding[]);
      const branchLookups = plan.map((p) => p.detail).filter((d) => /tcc_branches/.test(d));
      expect(branchLookups, JSON.stringify(plan)).to.have.length(1);
      expect(branchLookups[0]).to.match(/\(gid=\?\)/);
      expect(branchLookups[0]).to.not.match(/participant/);
    }
  });
});
