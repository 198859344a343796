import { expect } from 'chai';
import * as grpc from '@grpc/grpc-js';
import type { RunningCoordinator } from '../src/coordinator';
import { createCoordinatorClient, expectGrpcError, forEachBackend, pollUntil, startTestCoordinator, type TestCoordinatorClient } from './helpers/backends';
import { startTestParticipant, type TestParticipant } from './helpers/test-participant';

/*
 * A client may retry a Try with the same branch_id (its first call timed out).
 * A refusal then may answer the retry while the first call did reserve, so
 * such a branch must still be cancelled; only a branch refused on its one and
 * only Try is left alone.
 */
forEachBackend((backend) => {
  describe('retried Try of one branch', function () {
    this.timeout(30_000);
    let coordinator: RunningCoordinator;
    let client: TestCoordinatorClient;
    let participant: TestParticipant;

    before(async () => {
      participant = await startTestParticipant();
      coordinator = await startTestCoordinator(backend, { TCC_BRANCH_TIMEOUT_MS: '300', TCC_SWEEP_INTERVAL_MS: '100' });
      client = createCoordinatorClient(coordinator.address);
    });
    after(async () => {
      client.close();
      await coordinator.shutdown();
      await participant.stop();
    });
    beforeEach(() => participant.resetBehaviors());

    it('first Try unknown, retry refused: rollback still Cancels the branch', async () => {
      const { gid } = await client.begin({});
      const branch = { branch_id: 'r1', participant: participant.target, action: 'freeze', payload: Buffer.from('10') };
      participant.setBehavior('try', 'hang');
      await expectGrpcError(client.try({ gid, branch }), [grpc.status.DEADLINE_EXCEEDED, grpc.status.UNAVAILABLE], 'first Try');
      participant.setBehavior('try', 'refuse');
      await expectGrpcError(client.try({ gid, branch }), grpc.status.ABORTED, 'retried Try');
      await expectGrpcError(client.commit({ gid }), grpc.status.ABORTED, 'Commit');
      const done = await pollUntil(() => client.getTransaction({ gid }), (x) => x.status === 'CANCELLED', 'CANCELLED');
      expect(done.branches[0].try_attempts).to.equal(2);
      expect(done.branches[0].phase_two).to.equal('PHASE_TWO_DONE');
      expect(participant.callsFor('cancel', gid).map((c) => c.branch_id)).to.deep.equal(['r1']);
      expect(done.logs.filter((l) => l.phase === 'try').map((l) => l.attempt)).to.deep.equal([1, 2]);
    });

    it('a branch refused on its only Try gets no Cancel, and a retried Try of it is answered without calling', async () => {
      const { gid } = await client.begin({});
      const branch = { branch_id: 'r2', participant: participant.target, action: 'freeze' };
      participant.setBehavior('try', 'refuse');
      await expectGrpcError(client.try({ gid, branch }), grpc.status.ABORTED, 'Try');
      participant.setBehavior('try', 'ok');
      await expectGrpcError(client.try({ gid, branch }), grpc.status.ABORTED, 'retried Try of a refused branch');
      expect(participant.callsFor('try', gid)).to.have.length(1);
      await client.rollback({ gid, wait: true });
      const done = await client.getTransaction({ gid });
      expect(done.status).to.equal('CANCELLED');
      expect(done.branches[0].phase_two).to.equal('PHASE_TWO_SKIPPED');
      expect(participant.callsFor('cancel', gid)).to.have.length(0);
    });

    it('an Execute over a TRYING transaction does not send Try again to a branch that refused', async () => {
      // As after an Execute whose caller timed out before the decision: the same gid is tried again.
      const t = participant.target;
      const gid = `exec-retry-${Date.now()}`;
      await client.begin({ gid });
      participant.setBehavior('try', 'refuse', { action: 'no' });
      await expectGrpcError(client.try({ gid, branch: { branch_id: 'b2', participant: t, action: 'no' } }), grpc.status.ABORTED, 'Try');
      participant.resetBehaviors();
      const branches = [
        { branch_id: 'b1', participant: t, action: 'ok' },
        { branch_id: 'b2', participant: t, action: 'no' },
      ];
      await expectGrpcError(client.execute({ gid, branches }), grpc.status.ABORTED, 'Execute');
      expect(participant.callsFor('try', gid).filter((c) => c.branch_id === 'b2'), 'b2 asked once').to.have.length(1);
      const done = await pollUntil(() => client.getTransaction({ gid }), (x) => x.status === 'CANCELLED', 'CANCELLED');
      expect(done.branches.map((b) => [b.branch_id, b.phase_two])).to.deep.equal([
        ['b2', 'PHASE_TWO_SKIPPED'],
        ['b1', 'PHASE_TWO_DONE'],
      ]);
    });
  });
});
