/**
 * Round trips to MySQL per transaction (issue 9). A group-commit batch sends
 * the writes whose answers it does not need with its next statement, as one
 * multi-statement query; SET TRANSACTION and START TRANSACTION go with the
 * first, the last writes with COMMIT. On loopback a round trip costs about as
 * much as the commit's fsync, so at concurrency 1 they are most of the
 * latency. Each batch here is one transaction's alone (one caller at a time).
 */
import { expect } from 'chai';
import type { RunningCoordinator } from '../src/coordinator';
import { createCoordinatorClient, onMariadb, startTestCoordinator, type TestCoordinatorClient } from './helpers/backends';
import { startTestParticipant, type TestParticipant } from './helpers/test-participant';

describe('round trips to MySQL per transaction', function () {
  onMariadb((backend) => {
    this.timeout(60_000);
    let coordinator: RunningCoordinator;
    let client: TestCoordinatorClient;
    let participant: TestParticipant;

    before(async () => {
      participant = await startTestParticipant();
      // The final write at once, in a batch of its own, like a wait=true caller's.
      coordinator = await startTestCoordinator(backend, { TCC_FINAL_WRITE_DELAY_MS: '0' });
      client = createCoordinatorClient(coordinator.address, 30_000);
    });
    after(async () => {
      client.close();
      await coordinator.shutdown();
      await participant.stop();
    });

    const queries = () => coordinator.engine.store.queryCount();
    const branches = () => [
      { participant: participant.target, action: 'a' },
      { participant: participant.target, action: 'b' },
    ];

    it('an Execute of 2 branches: 1 to store it with its branches, 3 for the Try outcomes and the commit decision, 2 for the Confirms', async () => {
      const before = queries();
      const batches = coordinator.engine.committer.stats().batches;
      const done = await client.execute({ branches: branches(), wait: true });
      expect(done.status).to.equal('CONFIRMED');
      expect(coordinator.engine.committer.stats().batches - batches, 'one batch per step').to.equal(3);
      expect(queries() - before).to.equal(1 + 3 + 2);
      // The same count on /metrics (the bench's store queries/tx column reads it there).
      const text = await coordinator.engine.metrics.registry.metrics();
      expect(Number(/^tcc_store_queries_total (\S+)$/m.exec(text)?.[1])).to.equal(queries());
    });

    it('an interactive transaction of 2 branches: Begin 1, each Try 2 to store its branch and 2 for its outcome, Commit 3 and its Confirms 2', async () => {
      let before = queries();
      const { gid } = await client.begin({});
      const counts: number[] = [queries() - before];
      const statements = () => coordinator.engine.store.statementCount();
      for (const [action, id] of [['a', 'b1'], ['b', 'b2']]) {
        before = queries();
        const statementsBefore = statements();
        await client.try({ gid, branch: { participant: participant.target, action, branch_id: id } });
        counts.push(queries() - before);
        // The branch: SET TRANSACTION, START, the locked read, the requested branch, the count, its INSERT, the
        // transaction's updated_at, COMMIT. Its outcome: SET TRANSACTION, START, the UPDATE, the log row, COMMIT;
        // an UPDATE that moved its row is not read back.
        expect(statements() - statementsBefore, `statements of Try ${id}`).to.equal(8 + 5);
      }
      before = queries();
      const done = await client.commit({ gid, wait: true });
      counts.push(queries() - before);
      expect(done.status).to.equal('CONFIRMED');
      expect(counts).to.deep.equal([1, 2 + 2, 2 + 2, 3 + 2]);
    });

    it('a Begin: 1 when the coordinator makes the gid, 2 with a client\'s gid (the INSERT must tell whether it was new)', async () => {
      let before = queries();
      await client.begin({});
      expect(queries() - before, 'coordinator-made gid').to.equal(1);
      before = queries();
      await client.begin({ gid: `client-${Date.now()}` });
      expect(queries() - before, 'client gid').to.equal(2);
    });
  });
});
