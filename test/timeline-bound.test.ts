import { expect } from 'chai';
import type { RunningCoordinator } from '../src/coordinator';
import { createTransactionStore } from '../src/store/create-store';
import type { PhaseTwoCommand, TransactionStore } from '../src/store/transaction-store';
import { createCoordinatorClient, forEachBackend, pollUntil, startTestCoordinator, type TestCoordinatorClient } from './helpers/backends';
import { startTestParticipant, type TestParticipant } from './helpers/test-participant';

/*
 * A stuck transaction's timeline stays bounded: past the first 5 failed
 * attempts of a branch in a phase, further failures fold into one counted
 * row (repeats), and GetTransaction answers at most 2,000 rows.
 */

function failedRound(gid: string, attempt: number, ok = false): PhaseTwoCommand {
  const now = Date.now();
  return {
    kind: 'phaseTwo',
    claimToken: 'n/test',
    gid,
    now,
    node: 'n',
    results: [{ branchId: 'b', attempted: true, ok, error: ok ? '' : `down #${attempt}`, nextRetryAt: now }],
    logs: [
      {
        gid,
        branchId: 'b',
        phase: 'confirm',
        attempt,
        outcome: ok ? 'ok' : 'failed',
        grpcCode: ok ? 0 : 14,
        error: ok ? '' : `down #${attempt}`,
        startedAt: now,
        durationMs: 1,
        node: 'n',
      },
    ],
    stuck: { attempts: 1_000_000, ageMs: 0 },
  };
}

forEachBackend((backend) => {
  describe('bounded timeline', function () {
    this.timeout(120_000);

    describe('in the store', function () {
      let store: TransactionStore;
      before(async () => {
        store = await createTransactionStore({ url: backend.url });
      });
      after(async () => {
        await store.close();
      });

      it('300 failed Confirms of one branch keep 5 rows of their own and one counted row', async () => {
        const gid = `tl-${backend.name}`;
        const now = Date.now();
        await store.execute([
          { kind: 'create', gid, now, deadlineAt: now + 60_000 },
          { kind: 'register', gid, now, branches: [{ branchId: 'b', participant: '127.0.0.1:1', action: 'a', payload: Buffer.alloc(0) }], maxBranches: 10 },
        ] as const);
        await store.execute([
          { kind: 'tryOutcome', gid, branchId: 'b', state: 'SUCCEEDED', error: '', now, log: { gid, branchId: 'b', phase: 'try', attempt: 1, outcome: 'ok', grpcCode: 0, error: '', startedAt: now, durationMs: 1, node: 'n' } },
          { kind: 'decide', gid, decision: 'commit', reason: '', now, node: 'n', claimToken: 'n/test', leaseUntil: now + 60_000 },
        ] as const);
        for (let a = 1; a <= 300; a++) await store.execute([failedRound(gid, a)] as const);
        await store.execute([failedRound(gid, 301, true)] as const);

        const logs = await store.getLogs(gid);
        const confirms = logs.filter((l) => l.phase === 'confirm');
        expect(confirms.map((l) => [l.attempt, l.outcome, l.repeats])).to.deep.equal([
          [1, 'failed', 0],
          [2, 'failed', 0],
          [3, 'failed', 0],
          [4, 'failed', 0],
          [5, 'failed', 0],
          // Attempts 6..300: one row, showing the latest.
          [300, 'failed', 294],
          [301, 'ok', 0],
        ]);
        expect(confirms[5].error).to.equal('down #300');
        expect(logs).to.have.length(1 + 1 + 7);
        expect((await store.getTransaction(gid))?.status).to.equal('CONFIRMED');

        // GetTransaction's cap: the earliest and the latest rows, and how many were left out.
        const t = await store.getTimeline(gid, 4);
        expect(t.omitted).to.equal(logs.length - 4);
        expect(t.logs.map((l) => l.id)).to.deep.equal([logs[0].id, logs[1].id, logs[logs.length - 2].id, logs[logs.length - 1].id]);
        expect((await store.getTimeline(gid, 2_000)).omitted).to.equal(0);
      });
    });

    describe('through the coordinator', function () {
      let coordinator: RunningCoordinator;
      let client: TestCoordinatorClient;
      let participant: TestParticipant;
      before(async () => {
        participant = await startTestParticipant();
        coordinator = await startTestCoordinator(backend, {
          TCC_RETRY_INITIAL_MS: '1',
          TCC_RETRY_MAX_MS: '5',
          TCC_SWEEP_INTERVAL_MS: '10',
          TCC_STUCK_AFTER_ATTEMPTS: '1000000',
        });
        client = createCoordinatorClient(coordinator.address, 30_000);
      });
      after(async () => {
        client.close();
        await coordinator.shutdown();
        await participant.stop();
      });

      it('a branch failing a hundred times: GetTransaction answers with a bounded timeline and the count', async () => {
        participant.setBehavior('confirm', 'unavailable');
        const res = await client.execute({ branches: [{ branch_id: 'x', participant: participant.target, action: 'a' }] });
        const failing = await pollUntil(
          () => client.getTransaction({ gid: res.gid }),
          (t) => t.branches[0].attempts >= 100,
          '100 failed Confirms',
          90_000,
          200,
        );
        const confirms = failing.logs.filter((l) => l.phase === 'confirm');
        expect(confirms.length).to.be.at.most(6);
        const counted = confirms.find((l) => l.repeats > 0);
        expect(counted, 'a counted row').to.not.equal(undefined);
        expect(confirms.reduce((n, l) => n + 1 + l.repeats, 0)).to.be.at.least(100);
        expect(failing.logs_omitted).to.equal(0);
        participant.setBehavior('confirm', 'ok');
        await pollUntil(() => client.getTransaction({ gid: res.gid }), (t) => t.status === 'CONFIRMED', 'CONFIRMED', 30_000, 100);
      });
    });
  });
});
