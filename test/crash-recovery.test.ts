import { expect } from 'chai';
import * as grpc from '@grpc/grpc-js';
import { forEachBackend, createCoordinatorClient, pollUntil, expectGrpcError, type TestCoordinatorClient } from './helpers/backends';
import { startTestParticipant, type TestParticipant } from './helpers/test-participant';
import { spawnCoordinator, killHard, type CoordinatorProcess } from './helpers/coordinator-process';

/*
 * A real coordinator process is killed with SIGKILL at a step of the protocol
 * and started again on the same database: the transaction must finish the way
 * its stored decision (or its deadline) says, with every tried branch
 * confirmed or cancelled, never both.
 */
forEachBackend((backend) => {
  describe('coordinator killed and restarted', function () {
    this.timeout(60_000);
    let participant: TestParticipant;
    let proc: CoordinatorProcess | undefined;
    let client: TestCoordinatorClient | undefined;

    const env = () => ({
      TCC_DB_URL: backend.url,
      TCC_BRANCH_TIMEOUT_MS: '300',
      TCC_SWEEP_INTERVAL_MS: '100',
      TCC_RETRY_INITIAL_MS: '50',
      TCC_RETRY_MAX_MS: '200',
    });

    async function start(): Promise<TestCoordinatorClient> {
      client?.close();
      proc = await spawnCoordinator(env());
      client = createCoordinatorClient(proc.address);
      return client;
    }

    before(async () => {
      participant = await startTestParticipant();
    });
    beforeEach(() => participant.resetBehaviors());
    afterEach(async () => {
      client?.close();
      client = undefined;
      if (proc && proc.child.exitCode === null && proc.child.signalCode === null) await killHard(proc);
      proc = undefined;
    });
    after(async () => participant.stop());

    function phasesFor(gid: string) {
      return {
        confirm: participant.callsFor('confirm', gid),
        cancel: participant.callsFor('cancel', gid),
        tried: participant.callsFor('try', gid),
      };
    }

    it('mid phase two (decided to commit, Confirms in flight): finishes CONFIRMED after restart, no Cancel', async () => {
      let c = await start();
      participant.setBehavior('confirm', 'hang');
      const t = participant.target;
      const txn = await c.execute({
        branches: [
          { participant: t, action: 'debit', payload: Buffer.from('a') },
          { participant: t, action: 'credit', payload: Buffer.from('b') },
        ],
      });
      expect(txn.status).to.be.oneOf(['CONFIRMING']);
      await participant.waitForCalls((x) => x.phase === 'confirm' && x.gid === txn.gid, 5_000, 2);
      await killHard(proc!);
      participant.setBehavior('confirm', 'ok');
      c = await start();
      const done = await pollUntil(() => c.getTransaction({ gid: txn.gid }), (x) => x.status === 'CONFIRMED', 'CONFIRMED after restart', 30_000, 100);
      const seen = phasesFor(txn.gid);
      expect(seen.cancel).to.have.length(0);
      for (const b of done.branches) {
        expect(seen.confirm.some((x) => x.branch_id === b.branch_id), `Confirm for ${b.branch_id}`).to.equal(true);
        expect(b.phase_two).to.equal('PHASE_TWO_DONE');
      }
    });

    it('between Try and decision: rolled back at the deadline after restart, Cancel sent, no Confirm', async () => {
      let c = await start();
      const { gid } = await c.begin({ timeout_ms: 1_500 });
      const tr = await c.try({ gid, branch: { participant: participant.target, action: 'hold', payload: Buffer.from('x') } });
      await killHard(proc!);
      c = await start();
      const done = await pollUntil(() => c.getTransaction({ gid }), (x) => x.status === 'CANCELLED', 'CANCELLED after restart', 30_000, 100);
      expect(done.reason).to.match(/deadline/);
      const seen = phasesFor(gid);
      expect(seen.confirm).to.have.length(0);
      expect(seen.cancel.map((x) => x.branch_id)).to.include(tr.branch_id);
      await expectGrpcError(c.commit({ gid }), grpc.status.ABORTED, 'Commit after the timeout rollback');
    });

    it('branch stored, Try sent but unanswered: after restart the branch gets its Cancel', async () => {
      let c = await start();
      participant.setBehavior('try', 'hang');
      const { gid } = await c.begin({ timeout_ms: 1_500 });
      const pending = c.try({ gid, branch: { branch_id: 'b1', participant: participant.target, action: 'hold' } }, { deadlineMs: 5_000 }).catch((e: unknown) => e);
      await participant.waitForCalls((x) => x.phase === 'try' && x.gid === gid, 5_000);
      await killHard(proc!);
      expect(await pending).to.have.property('code');
      participant.setBehavior('try', 'ok');
      c = await start();
      const done = await pollUntil(() => c.getTransaction({ gid }), (x) => x.status === 'CANCELLED', 'CANCELLED after restart', 30_000, 100);
      expect(done.branches.map((b) => [b.branch_id, b.phase_two])).to.deep.equal([['b1', 'PHASE_TWO_DONE']]);
      expect(phasesFor(gid).cancel.map((x) => x.branch_id)).to.include('b1');
      expect(phasesFor(gid).confirm).to.have.length(0);
    });

    it('SIGTERM drains an in-flight Execute, then exits 0', async () => {
      const c = await start();
      participant.setBehavior('try', 'ok', { delayMs: 200 });
      const call = c.execute({ branches: [{ participant: participant.target, action: 'slow' }], wait: true });
      await participant.waitForCalls((x) => x.phase === 'try' && x.action === 'slow', 5_000);
      proc!.child.kill('SIGTERM');
      const txn = await call;
      expect(txn.status).to.equal('CONFIRMED');
      expect(await proc!.exited).to.equal(0);
    });
  });
});
