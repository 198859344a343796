import { expect } from 'chai';
import type { RunningCoordinator } from '../src/coordinator';
import { createCoordinatorClient, forEachBackend, pollUntil, startTestCoordinator, type TestCoordinatorClient } from './helpers/backends';
import { startTestParticipant, type TestParticipant } from './helpers/test-participant';

/** Runs `task(i)` for i in [0, n) with at most `width` in flight. */
async function inParallel(n: number, width: number, task: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) await task(next++);
    }),
  );
}

const BACKLOG = 2_000;
const SWEEP_MS = 500;

forEachBackend((backend) => {
  describe('recovery without head-of-line blocking', function () {
    this.timeout(300_000);
    let hung: TestParticipant;
    let healthy: TestParticipant;
    let running: RunningCoordinator | undefined;
    let client: TestCoordinatorClient | undefined;

    before(async () => {
      hung = await startTestParticipant();
      healthy = await startTestParticipant();
    });
    afterEach(async () => {
      client?.close();
      client = undefined;
      await running?.shutdown();
      running = undefined;
    });
    after(async () => {
      await hung?.stop();
      await healthy?.stop();
    });

    it(`rolls back a healthy participant's abandoned transaction on time, and serves its Execute, behind ${BACKLOG} transactions a participant never confirms`, async () => {
      running = await startTestCoordinator(backend, {
        TCC_BRANCH_TIMEOUT_MS: '2000',
        TCC_SWEEP_INTERVAL_MS: String(SWEEP_MS),
        TCC_RETRY_INITIAL_MS: '100',
        TCC_RETRY_MAX_MS: '1000',
        TCC_SHUTDOWN_GRACE_MS: '1000',
      });
      client = createCoordinatorClient(running.address, 30_000);
      hung.setBehavior('confirm', 'hang');
      await inParallel(BACKLOG, 32, async () => {
        const t = await client!.execute({ branches: [{ branch_id: 'b1', participant: hung.target, action: 'pay' }] });
        expect(t.status).to.equal('CONFIRMING');
      });
      // The backlog is due and worked by recovery: its Confirms hang, so it never drains.
      await hung.waitForCalls((c) => c.phase === 'confirm', 10_000, 1);

      const began = Date.now();
      const { gid } = await client.begin({ timeout_ms: 1_000 });
      await client.try({ gid, branch: { branch_id: 'h1', participant: healthy.target, action: 'hold' } });
      const t0 = Date.now();
      const executed = await client.execute({ branches: [{ branch_id: 'e1', participant: healthy.target, action: 'pay' }] });
      const executeMs = Date.now() - t0;
      expect(executed.status).to.be.oneOf(['CONFIRMING', 'CONFIRMED']);
      expect(executeMs, `Execute on the healthy participant took ${executeMs} ms`).to.be.at.most(2_000);

      // Timed by the participant: when its Cancel arrived (the reservation is released), not when a
      // poll on this shared, loaded machine happened to see CANCELLED after the final write.
      const bound = 1_000 + SWEEP_MS + 1_000;
      const cancelled = await pollUntil(() => client!.getTransaction({ gid }), (x) => x.status === 'CANCELLED', 'CANCELLED', 60_000, 20);
      // The rollback decision itself (stored time of the decision) is on time too.
      const decidedAfter = Number(cancelled.decided_unix_ms) - began;
      expect(decidedAfter, `rolled back ${decidedAfter} ms after Begin`).to.be.at.most(bound);
      const cancels = healthy.callsFor('cancel', gid);
      expect(cancels.map((c) => c.branch_id)).to.deep.equal(['h1']);
      const cancelledAfter = cancels[0].at - began;
      expect(cancelledAfter, `Cancel arrived ${cancelledAfter} ms after Begin`).to.be.at.most(bound);
      await pollUntil(() => client!.getTransaction({ gid: executed.gid }), (x) => x.status === 'CONFIRMED', 'CONFIRMED', 10_000, 50);
    });
  });
});
