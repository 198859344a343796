import { expect } from 'chai';
import type { RunningCoordinator } from '../src/coordinator';
import type { TransactionStore } from '../src/store/transaction-store';
import { createCoordinatorClient, forEachBackend, startTestCoordinator, type TestCoordinatorClient } from './helpers/backends';
import { startTestParticipant, type TestParticipant } from './helpers/test-participant';

/*
 * A `wait` Commit whose phase two runs in this process is woken by the end
 * of that round: it reads nothing from the database meanwhile (no 250 ms
 * polling), and answers as soon as the round has finished.
 */

/** Counts the store's reads (on the coordinator's real store instance). */
function countReads(store: TransactionStore): { count(): number; reset(): void } {
  let n = 0;
  for (const m of ['getTransaction', 'getBranches', 'getLogs'] as const) {
    const orig = store[m].bind(store) as (gid: string) => Promise<unknown>;
    (store as unknown as Record<string, (gid: string) => Promise<unknown>>)[m] = (gid: string) => {
      n++;
      return orig(gid);
    };
  }
  return { count: () => n, reset: () => (n = 0) };
}

forEachBackend((backend) => {
  describe('wait callers and the local round', function () {
    this.timeout(60_000);
    let coordinator: RunningCoordinator;
    let client: TestCoordinatorClient;
    let participant: TestParticipant;
    let reads: ReturnType<typeof countReads>;

    before(async () => {
      participant = await startTestParticipant();
      coordinator = await startTestCoordinator(backend, { TCC_BRANCH_TIMEOUT_MS: '20000' });
      client = createCoordinatorClient(coordinator.address, 30_000);
      reads = countReads(coordinator.engine.store);
    });
    after(async () => {
      client.close();
      await coordinator.shutdown();
      await participant.stop();
    });

    it('a wait Commit reads nothing while the local Confirm round runs, and answers once it ends', async () => {
      const CONFIRM_MS = 2_000;
      participant.setBehavior('confirm', 'ok', { delayMs: CONFIRM_MS });
      const { gid } = await client.begin({});
      await client.try({ gid, branch: { branch_id: 'w1', participant: participant.target, action: 'a' } });
      reads.reset();
      const t0 = Date.now();
      const res = await client.commit({ gid, wait: true });
      const took = Date.now() - t0;
      expect(res.status).to.equal('CONFIRMED');
      expect(participant.callsFor('confirm', gid)).to.have.length(1);
      // Polling every 250 ms would have read about 8 times; only the answer's branch list is read.
      expect(reads.count(), 'store reads during the wait').to.be.at.most(1);
      // Woken by the round, not by the 10 s safety net (generous slack for a loaded machine).
      expect(took).to.be.at.least(CONFIRM_MS - 50).and.below(CONFIRM_MS + 5_000);
    });
  });
});
