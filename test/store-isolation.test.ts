/**
 * Isolation per store transaction, not per session (issue 8, defect 2), on
 * MariaDB whose server default is REPEATABLE READ: a decision batch
 * `[tryOutcome, decide]` racing a `register` of a new branch never leaves a
 * branch of the decided transaction without phase two; and the store refuses
 * to start when its transactions do not run at READ COMMITTED.
 */
import * as crypto from 'node:crypto';
import { expect } from 'chai';
import knexFactory, { type Knex } from 'knex';
import { createTransactionStore, knexConfigFor, migrateToLatest } from '../src/store/create-store';
import { SqlTransactionStore } from '../src/store/sql-transaction-store';
import type { NewBranch } from '../src/store/transaction-store';
import { MARIADB_HOST, MARIADB_PORT, onMariadb } from './helpers/backends';
import { startMysqlQueryRewritingProxy } from './helpers/mysql-query-rewriting-proxy';

const ROUNDS = 400;
const CONCURRENT_ROUNDS = 8;

function branch(branchId: string): NewBranch {
  return { branchId, participant: '127.0.0.1:1', action: 'act', payload: Buffer.from(branchId) };
}

describe('Store isolation', function () {
  onMariadb((backend) => {
    let knex: Knex | undefined;
    let store: SqlTransactionStore | undefined;

    before(async function () {
      this.timeout(60_000);
      // A store on someone else's knex (no start-up check) whose sessions are
      // REPEATABLE READ, the server default, stated so that the server's
      // configuration cannot make this suite pass: the store's own
      // transactions are all that can make it READ COMMITTED.
      const { config } = knexConfigFor(backend.url, 2 * CONCURRENT_ROUNDS);
      config.pool = {
        min: 0,
        max: 2 * CONCURRENT_ROUNDS,
        afterCreate: (conn: { query(sql: string, cb: (err: Error | null) => void): void }, done: (err: Error | null, c: unknown) => void) => {
          conn.query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ', (err) => done(err, conn));
        },
      };
      knex = knexFactory(config);
      await migrateToLatest(knex);
      store = new SqlTransactionStore(knex, 'mysql');
    });

    after(async function () {
      if (store) await store.close();
    });

    it('runs with sessions at REPEATABLE READ (else this suite proves nothing)', async function () {
      const [rows] = (await knex!.raw('SELECT @@session.tx_isolation AS level')) as [{ level: string }[]];
      expect(rows[0].level).to.equal('REPEATABLE-READ');
    });

    it('a register racing a commit decision is either seen by the decision or refused', async function () {
      this.timeout(300_000);
      const s = store!;
      const tag = crypto.randomBytes(3).toString('hex');
      const missed: string[] = [];
      let seen = 0;
      let refused = 0;
      const gidOf = (i: number): string => `iso-${tag}-${String(i).padStart(4, '0')}`;
      // Set-up one at a time: only the decision and the register race.
      for (let i = 0; i < ROUNDS; i++) {
        const now = Date.now();
        await s.execute([
          { kind: 'create', gid: gidOf(i), now, deadlineAt: now + 600_000 },
          { kind: 'register', gid: gidOf(i), now, branches: [branch('b0')], maxBranches: 10 },
        ]);
      }
      const round = async (i: number): Promise<void> => {
        const gid = gidOf(i);
        const now = Date.now();
        const [decision, late] = await Promise.all([
          s.execute([
            {
              kind: 'tryOutcome',
              gid,
              branchId: 'b0',
              state: 'SUCCEEDED',
              error: '',
              now,
              log: { gid, branchId: 'b0', phase: 'try', attempt: 1, outcome: 'ok', grpcCode: 0, error: '', startedAt: now, durationMs: 1, node: 'n' },
            },
            { kind: 'decide', gid, decision: 'commit', reason: '', now, node: 'n', claimToken: 'n/test', leaseUntil: now + 600_000 },
          ] as const),
          s.execute([{ kind: 'register', gid, now, branches: [branch('b1')], maxBranches: 10 }] as const),
        ]);
        const decided = decision[1];
        expect(decided.found && decided.decided, `${gid} decided`).to.equal(true);
        const [registered] = late;
        if (registered.ok) seen++;
        else {
          expect(registered.why, `${gid} register`).to.equal('not_trying');
          refused++;
        }
        const branches = await s.getBranches(gid);
        const notDue = branches.filter((b) => b.phaseTwo === 'NOT_DUE').map((b) => b.branchId);
        if (notDue.length) missed.push(`${gid}: ${notDue.join(',')} NOT_DUE under ${(await s.getTransaction(gid))?.status}`);
      };
      for (let i = 0; i < ROUNDS; i += CONCURRENT_ROUNDS) {
        await Promise.all(Array.from({ length: Math.min(CONCURRENT_ROUNDS, ROUNDS - i) }, (_, j) => round(i + j)));
      }
      expect(missed, `decided transactions with a branch left out of phase two (${seen} registers seen, ${refused} refused)`).to.deep.equal([]);
      // Both orders happened, so the race was really run.
      expect(seen, 'registers that won the race').to.be.greaterThan(0);
      expect(refused, 'registers that lost the race').to.be.greaterThan(0);
    });

    it('refuses to start when its transactions do not run at READ COMMITTED (a proxy changing SET TRANSACTION)', async function () {
      this.timeout(60_000);
      const proxy = await startMysqlQueryRewritingProxy({ host: MARIADB_HOST, port: MARIADB_PORT }, (sql) =>
        /^SET TRANSACTION ISOLATION LEVEL/i.test(sql) ? 'SET TRANSACTION ISOLATION LEVEL REPEATABLE READ' : undefined,
      );
      try {
        const url = new URL(backend.url);
        url.port = String(proxy.port);
        let refusal: unknown;
        await createTransactionStore({ url: url.toString() }).then(
          (opened) => opened.close(),
          (err: unknown) => (refusal = err),
        );
        expect(proxy.rewritten, 'the proxy saw the store state its level').to.be.greaterThan(0);
        expect(refusal).to.be.instanceOf(Error);
        expect((refusal as Error).name).to.equal('IsolationLevelError');
        expect((refusal as Error).message).to.match(/do not run at READ COMMITTED.*REPEATABLE READ\?/);
        const probes = (await knex!('tcc_isolation_probe').count({ n: '*' }))[0] as { n: number };
        expect(Number(probes.n), 'the check leaves no row behind').to.equal(0);
      } finally {
        await proxy.close();
      }
    });

    it('starts through the same proxy when it passes SET TRANSACTION on', async function () {
      this.timeout(60_000);
      const proxy = await startMysqlQueryRewritingProxy({ host: MARIADB_HOST, port: MARIADB_PORT }, () => undefined);
      try {
        const url = new URL(backend.url);
        url.port = String(proxy.port);
        const opened = await createTransactionStore({ url: url.toString() });
        await opened.close();
      } finally {
        await proxy.close();
      }
    });
  });
});
