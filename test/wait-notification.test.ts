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
  describe('the final write of a transaction nobody waits for', function () {
    this.timeout(60_000);
    const DELAY_MS = 1_500;
    let coordinator: RunningCoordinator;
    let client: TestCoordinatorClient;
    let participant: TestParticipant;

    before(async () => {
      participant = await startTestParticipant();
      coordinator = await startTestCoordinator(backend, {
        TCC_FINAL_WRITE_DELAY_MS: String(DELAY_MS),
        // A failed Confirm is retried by recovery soon (the recovery round's write is checked too).
        TCC_RETRY_INITIAL_MS: '100',
        TCC_RETRY_MAX_MS: '200',
        TCC_SWEEP_INTERVAL_MS: '200',
      });
      client = createCoordinatorClient(coordinator.address, 30_000);
    });
    after(async () => {
      client.close();
      await coordinator.shutdown();
      await participant.stop();
    });

    const branches = () => [
      { participant: participant.target, action: 'a' },
      { participant: participant.target, action: 'b' },
    ];
    const statusOf = async (gid: string) => (await coordinator.engine.store.getTransaction(gid))?.status;
    async function confirmedByParticipant(gid: string): Promise<void> {
      while (participant.callsFor('confirm', gid).length < 2) await new Promise((r) => setTimeout(r, 5));
      // The round's write is submitted right after its calls answered.
      await new Promise((r) => setTimeout(r, 50));
    }

    it('rides in the batch the next transaction starts (one durable batch fewer), else goes on its own after TCC_FINAL_WRITE_DELAY_MS', async () => {
      const first = await client.execute({ branches: branches(), wait: false });
      expect(first.status).to.equal('CONFIRMING');
      await confirmedByParticipant(first.gid);
      expect(await statusOf(first.gid), 'its final write waits for company').to.equal('CONFIRMING');
      const before = coordinator.engine.committer.stats().batches;
      const second = await client.execute({ branches: branches(), wait: false });
      // The second Execute's registration and decision: two batches, the first's final write in the first of them.
      expect(coordinator.engine.committer.stats().batches - before).to.equal(2);
      expect(await statusOf(first.gid)).to.equal('CONFIRMED');
      await confirmedByParticipant(second.gid);
      const t0 = Date.now();
      while ((await statusOf(second.gid)) !== 'CONFIRMED') {
        expect(Date.now() - t0, 'written on its own within the delay').to.be.below(DELAY_MS + 5_000);
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(Date.now() - t0, 'not before its time').to.be.at.least(DELAY_MS - 300);
    });

    it('a round with a failed call, and a recovery round, are written at once: not held for company', async () => {
      const soon = async (what: string, done: () => Promise<boolean>) => {
        const t0 = Date.now();
        while (!(await done())) {
          expect(Date.now() - t0, `${what}, well before TCC_FINAL_WRITE_DELAY_MS`).to.be.below(DELAY_MS / 2);
          await new Promise((r) => setTimeout(r, 10));
        }
      };
      participant.setBehavior('confirm', 'unavailable');
      let txn: { gid: string };
      try {
        txn = await client.execute({ branches: branches(), wait: false });
        while (participant.callsFor('confirm', txn.gid).length < 2) await new Promise((r) => setTimeout(r, 5));
        await soon('the failed round written', async () => (await coordinator.engine.store.getBranches(txn.gid)).every((b) => b.attempts >= 1));
      } finally {
        participant.setBehavior('confirm', 'ok');
      }
      // Recovery retries the Confirms (TCC_RETRY_INITIAL_MS): its round, which finishes the transaction, is not lazy either.
      while (participant.callsFor('confirm', txn.gid).length < 4) await new Promise((r) => setTimeout(r, 5));
      await soon('the recovery round written', async () => (await statusOf(txn.gid)) === 'CONFIRMED');
    });

    it('a wait=true answer follows the durable final write: never delayed, never ahead of the database', async () => {
      const t0 = Date.now();
      const done = await client.execute({ branches: branches(), wait: true });
      expect(done.status).to.equal('CONFIRMED');
      expect(Date.now() - t0, 'not held for the delay').to.be.below(DELAY_MS);
      expect(await statusOf(done.gid)).to.equal('CONFIRMED');
    });
  });
});
