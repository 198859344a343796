import { expect } from 'chai';
import * as grpc from '@grpc/grpc-js';
import knexFactory from 'knex';
import type { RunningCoordinator } from '../src/coordinator';
import { knexConfigFor, migrateToLatest } from '../src/store/create-store';
import { coordinatorMigrationSource, MIGRATION_TABLE } from '../src/store/migration-source';
import { createCoordinatorClient, onMariadb, pollUntil, startTestCoordinator, type TestCoordinatorClient } from './helpers/backends';
import { startTestParticipant, type TestParticipant } from './helpers/test-participant';

/*
 * Two coordinator replicas on one MariaDB database: the decision is a
 * compare-and-set under the transaction's row lock, so a Commit sent to one
 * replica racing a Rollback sent to the other still has exactly one winner.
 */
onMariadb((backend) => {
  describe('two replicas sharing one database', function () {
    this.timeout(60_000);
    let a: RunningCoordinator;
    let b: RunningCoordinator;
    let ca: TestCoordinatorClient;
    let cb: TestCoordinatorClient;
    let participant: TestParticipant;

    before(async function () {
      // Over the store's 60 s migration-lock wait, so a stall shows its own error.
      this.timeout(90_000);
      participant = await startTestParticipant();
      // Started together: the second waits on the migration lock instead of failing.
      [a, b] = await Promise.all([
        startTestCoordinator(backend, { TCC_NODE_ID: 'replica-a' }),
        startTestCoordinator(backend, { TCC_NODE_ID: 'replica-b' }),
      ]);
      ca = createCoordinatorClient(a.address);
      cb = createCoordinatorClient(b.address);
    });

    after(async () => {
      ca?.close();
      cb?.close();
      await Promise.all([a?.shutdown(), b?.shutdown()]);
      await participant?.stop();
    });

    it('a Commit on one replica racing a Rollback on the other has exactly one winner, 25 times', async () => {
      const t = participant.target;
      for (let i = 0; i < 25; i++) {
        const { gid } = await ca.begin({});
        await ca.try({ gid, branch: { branch_id: 'x', participant: t, action: 'hold' } });
        await cb.try({ gid, branch: { branch_id: 'y', participant: t, action: 'hold' } });
        const [commit, rollback] = await Promise.allSettled([ca.commit({ gid }), cb.rollback({ gid })]);
        const committed = commit.status === 'fulfilled';
        const rolledBack = rollback.status === 'fulfilled';
        expect(committed !== rolledBack, `round ${i}: exactly one of Commit and Rollback succeeds`).to.equal(true);
        const loser = committed ? rollback : commit;
        expect((loser as PromiseRejectedResult).reason).to.have.property('code', committed ? grpc.status.FAILED_PRECONDITION : grpc.status.ABORTED);
        const final = await pollUntil(() => cb.getTransaction({ gid }), (x) => x.status === 'CONFIRMED' || x.status === 'CANCELLED', 'finished');
        expect(final.status).to.equal(committed ? 'CONFIRMED' : 'CANCELLED');
        const decisions = final.logs.filter((l) => l.phase === 'decision');
        expect(decisions, 'one decision row').to.have.length(1);
        const phase = committed ? 'confirm' : 'cancel';
        const other = committed ? 'cancel' : 'confirm';
        expect(participant.callsFor(other, gid), `no ${other} after a ${committed ? 'commit' : 'rollback'} decision`).to.have.length(0);
        expect(participant.callsFor(phase, gid).map((c) => c.branch_id).sort()).to.include.members(['x', 'y']);
      }
    });

    it('a transaction begun on one replica is readable, tryable and committable on the other', async () => {
      const { gid } = await ca.begin({});
      await cb.try({ gid, branch: { participant: participant.target, action: 'hold' } });
      const txn = await ca.commit({ gid, wait: true });
      expect(txn.status).to.equal('CONFIRMED');
      expect((await cb.getTransaction({ gid })).status).to.equal('CONFIRMED');
    });
  });
});

onMariadb((backend) => {
  describe('a migration lock left set by a process that died mid-migration', function () {
    this.timeout(60_000);

    it('is cleared by the next coordinator, which migrates and serves', async () => {
      // The state a crash mid-migration leaves: bookkeeping tables, lock row set, schema not applied.
      const knex = knexFactory(knexConfigFor(backend.url).config);
      try {
        await migrateToLatest(knex);
        await knex.migrate.rollback({ migrationSource: coordinatorMigrationSource, tableName: MIGRATION_TABLE }, true);
        await knex('tcc_migrations_lock').update({ is_locked: 1 });
        expect(await knex.schema.hasTable('tcc_transactions')).to.equal(false);
      } finally {
        await knex.destroy();
      }
      const c = await startTestCoordinator(backend);
      const client = createCoordinatorClient(c.address);
      try {
        const { gid } = await client.begin({});
        expect((await client.getTransaction({ gid })).status).to.equal('TRYING');
      } finally {
        client.close();
        await c.shutdown();
      }
    });
  });
});
