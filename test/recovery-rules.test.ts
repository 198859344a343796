import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import type { RunningCoordinator } from '../src/coordinator';
import { createTransactionStore } from '../src/store/create-store';
import type { TransactionStore } from '../src/store/transaction-store';
import {
  createCoordinatorClient,
  expectGrpcError,
  forEachBackend,
  pollUntil,
  sleep,
  startTestCoordinator,
  type TestCoordinatorClient,
} from './helpers/backends';
import { startTestParticipant, type TestParticipant } from './helpers/test-participant';

const STUCK = { attempts: 100, ageMs: 0 };

forEachBackend((backend) => {
  describe('recovery rules', function () {
    this.timeout(60_000);

    describe('claims (store)', () => {
      let store: TransactionStore;
      before(async () => {
        store = await createTransactionStore({ url: backend.url });
      });
      after(async () => store?.close());

      /** A CONFIRMING transaction with one pending branch, claimed by its decision with `token` until `leaseUntil`. */
      async function decided(gid: string, now: number, token: string, leaseUntil: number): Promise<void> {
        const branch = { branchId: 'b1', participant: '127.0.0.1:1', action: 'pay', payload: Buffer.alloc(0) };
        await store.execute([
          { kind: 'create', gid, now, deadlineAt: now + 60_000 },
          { kind: 'register', gid, now, branches: [branch], maxBranches: 10 },
        ] as const);
        const log = { gid, branchId: 'b1', phase: 'try', attempt: 1, outcome: 'ok', grpcCode: 0, error: '', startedAt: now, durationMs: 1, node: 'n' } as const;
        const [, d] = await store.execute([
          { kind: 'tryOutcome', gid, branchId: 'b1', state: 'SUCCEEDED', error: '', now, log },
          { kind: 'decide', gid, decision: 'commit', reason: '', now, node: 'n', claimToken: token, leaseUntil },
        ] as const);
        expect(d.found && d.decided).to.equal(true);
      }

      it('a round only releases the claim it ran under: not a newer claim of the same node name (fencing token)', async () => {
        const gid = `fence-${backend.name}-${Date.now()}`;
        const now = Date.now();
        await decided(gid, now, 'n/old', now + 100);
        // The decision's claim lapsed; a restarted process with the same node name claims it.
        const [c] = await store.execute([{ kind: 'claim', gid, expectDueAt: now + 100, owner: 'n/new', leaseUntil: now + 50_000, now: now + 200 }] as const);
        expect(c.claimed).to.equal(true);
        // The old round's write: its outcomes count, the newer claim stays.
        const failed = { branchId: 'b1', attempted: true, ok: false, error: 'UNAVAILABLE', nextRetryAt: now + 300 };
        await store.execute([{ kind: 'phaseTwo', gid, now: now + 250, node: 'n', claimToken: 'n/old', results: [failed], logs: [], stuck: STUCK }] as const);
        let txn = await store.getTransaction(gid);
        expect(txn?.owner).to.equal('n/new');
        expect(txn?.dueAt).to.equal(now + 50_000);
        expect((await store.getBranches(gid))[0].attempts).to.equal(1);
        // An old claimer cannot extend (re-claim) from the due time it saw before.
        const [again] = await store.execute([{ kind: 'claim', gid, expectDueAt: now + 100, owner: 'n/old2', leaseUntil: now + 90_000, now: now + 260 }] as const);
        expect(again.claimed).to.equal(false);
        txn = await store.getTransaction(gid);
        expect(txn?.owner).to.equal('n/new');
        // The holder's own round releases it, due at the branch's retry time.
        await store.execute([{ kind: 'phaseTwo', gid, now: now + 270, node: 'n', claimToken: 'n/new', results: [failed], logs: [], stuck: STUCK }] as const);
        txn = await store.getTransaction(gid);
        expect(txn?.owner).to.equal(null);
        expect(txn?.dueAt).to.equal(now + 300);
        // Finished, so no coordinator of the tests below has recovery work (and sweeps) from it.
        const ok = { ...failed, ok: true };
        await store.execute([{ kind: 'phaseTwo', gid, now: now + 280, node: 'n', claimToken: 'n/x', results: [ok], logs: [], stuck: STUCK }] as const);
        expect((await store.getTransaction(gid))?.status).to.equal('CONFIRMED');
      });

      it('a round whose write failed records its failure but releases only the claim it ran under (fencing token)', async () => {
        const gid = `fence-failed-${backend.name}-${Date.now()}`;
        const now = Date.now();
        await decided(gid, now, 'n/old', now + 100);
        const [c] = await store.execute([{ kind: 'claim', gid, expectDueAt: now + 100, owner: 'n/new', leaseUntil: now + 50_000, now: now + 200 }] as const);
        expect(c.claimed).to.equal(true);
        // The old round's fallback write (its phase-two write failed): attempts and error count, the newer claim stays.
        const fallback = { gid, now: now + 250, error: 'UNAVAILABLE: participant unreachable', retryAt: now + 300, stuck: STUCK };
        await store.execute([{ kind: 'roundFailed', claimToken: 'n/old', ...fallback }] as const);
        let txn = await store.getTransaction(gid);
        expect(txn?.owner).to.equal('n/new');
        expect(txn?.dueAt).to.equal(now + 50_000);
        expect(txn?.attempts).to.equal(1);
        // The holder's own fallback releases it, due at its retry time.
        await store.execute([{ kind: 'roundFailed', claimToken: 'n/new', ...fallback, now: now + 270 }] as const);
        txn = await store.getTransaction(gid);
        expect(txn?.owner).to.equal(null);
        expect(txn?.dueAt).to.equal(now + 300);
        expect(txn?.attempts).to.equal(2);
        const ok = { branchId: 'b1', attempted: true, ok: true, error: '', nextRetryAt: now + 300 };
        await store.execute([{ kind: 'phaseTwo', gid, now: now + 280, node: 'n', claimToken: 'n/x', results: [ok], logs: [], stuck: STUCK }] as const);
        expect((await store.getTransaction(gid))?.status).to.equal('CONFIRMED');
      });
    });

    describe('coordinator', () => {
      let participant: TestParticipant;
      let running: RunningCoordinator | undefined;
      let client: TestCoordinatorClient | undefined;

      before(async () => {
        participant = await startTestParticipant();
      });
      beforeEach(() => participant.resetBehaviors());
      afterEach(async () => {
        client?.close();
        client = undefined;
        await running?.shutdown();
        running = undefined;
      });
      after(async () => participant?.stop());

      /** A coordinator whose sweep runs once at start and then not for 10 minutes: nothing here is the sweep's doing. */
      async function startWithoutSweeps(env: Record<string, string> = {}): Promise<RunningCoordinator> {
        running = await startTestCoordinator(backend, { TCC_SWEEP_INTERVAL_MS: '600000', ...env });
        client = createCoordinatorClient(running.address);
        await sleep(200); // let the start-up sweep pass
        return running;
      }

      it('refuses a Commit after the deadline even though no sweep has run: the transaction is rolled back, nothing confirmed', async () => {
        await startWithoutSweeps();
        const { gid } = await client!.begin({ timeout_ms: 300 });
        await client!.try({ gid, branch: { branch_id: 'b1', participant: participant.target, action: 'pay' } });
        await sleep(500);
        expect((await client!.getTransaction({ gid })).status, 'no sweep rolled it back').to.equal('TRYING');
        const err = await expectGrpcError(client!.commit({ gid }), grpc.status.ABORTED, 'Commit after the deadline');
        expect(err.details).to.match(/deadline/);
        const txn = await pollUntil(() => client!.getTransaction({ gid }), (t) => t.status === 'CANCELLED', 'CANCELLED');
        expect(txn.reason).to.match(/deadline/);
        expect(participant.callsFor('confirm', gid)).to.have.length(0);
        expect(participant.callsFor('cancel', gid).map((c) => c.branch_id)).to.deep.equal(['b1']);
      });

      it('refuses a Try after the deadline even though no sweep has run: no branch stored, no Try sent', async () => {
        await startWithoutSweeps();
        const { gid } = await client!.begin({ timeout_ms: 300 });
        await sleep(500);
        expect((await client!.getTransaction({ gid })).status, 'no sweep rolled it back').to.equal('TRYING');
        await expectGrpcError(
          client!.try({ gid, branch: { branch_id: 'late', participant: participant.target, action: 'pay' } }),
          grpc.status.FAILED_PRECONDITION,
          'Try after the deadline',
        );
        expect(participant.callsFor('try', gid)).to.have.length(0);
        const txn = await client!.getTransaction({ gid });
        expect(txn.branches).to.have.length(0);
        expect(txn.status).to.be.oneOf(['CANCELLING', 'CANCELLED']);
      });

      it("calls only the branches whose own retry time has come, in a transaction with several pending branches", async () => {
        // Retries far off: no round but the client's and the one below.
        const coordinator = await startWithoutSweeps({ TCC_RETRY_INITIAL_MS: '600000', TCC_RETRY_MAX_MS: '600000' });
        participant.setBehavior('confirm', 'unavailable');
        const t = await client!.execute({
          branches: [
            { branch_id: 'later', participant: participant.target, action: 'pay' },
            { branch_id: 'now', participant: participant.target, action: 'pay' },
          ],
        });
        // The client round fails both Confirms and releases its claim.
        const view = await pollUntil(
          () => coordinator.engine.get(t.gid),
          (v) => v.txn.owner === null && v.branches.every((b) => b.attempts === 1),
          'first round recorded',
        );
        participant.setBehavior('confirm', 'ok');
        // Give the two branches different retry times (a round's write, as a deferral would: no attempt counted).
        const now = Date.now();
        const [claim] = await coordinator.engine.store.execute([
          { kind: 'claim', gid: t.gid, expectDueAt: view.txn.dueAt!, owner: 'test/claim', leaseUntil: now + 60_000, now },
        ] as const);
        expect(claim.claimed).to.equal(true);
        await coordinator.engine.store.execute([
          {
            kind: 'phaseTwo',
            gid: t.gid,
            now,
            node: 'test',
            claimToken: 'test/other',
            results: [
              { branchId: 'later', attempted: false, ok: false, error: '', nextRetryAt: now + 3_600_000 },
              { branchId: 'now', attempted: false, ok: false, error: '', nextRetryAt: now },
            ],
            logs: [],
            stuck: STUCK,
          },
        ] as const);
        const txn = (await coordinator.engine.store.getTransaction(t.gid))!;
        await coordinator.engine.runPhaseTwo(txn, { claimToken: 'test/claim' });
        const after = await coordinator.engine.get(t.gid);
        expect(participant.callsFor('confirm', t.gid).filter((c) => c.branch_id === 'later')).to.have.length(1);
        expect(participant.callsFor('confirm', t.gid).filter((c) => c.branch_id === 'now')).to.have.length(2);
        expect(after.branches.find((b) => b.branchId === 'now')?.phaseTwo).to.equal('DONE');
        expect(after.branches.find((b) => b.branchId === 'later')?.phaseTwo).to.equal('PENDING');
        expect(after.txn.status).to.equal('CONFIRMING');
        // Released until the branch left pending is due.
        expect(after.txn.owner).to.equal(null);
        expect(after.txn.dueAt).to.equal(now + 3_600_000);
      });

      it("a client's decision waits briefly for a slot of a full target instead of being deferred by a retry delay", async () => {
        // Sweeps every 10 min and a first retry 5 s out: a deferred Confirm would make its wait=true Execute answer late.
        await startWithoutSweeps({ TCC_RECOVERY_CONCURRENCY_PER_TARGET: '1', TCC_RETRY_INITIAL_MS: '5000', TCC_RETRY_MAX_MS: '5000' });
        participant.setBehavior('confirm', 'ok', { action: 'slow', delayMs: 150 });
        const t0 = Date.now();
        const answers = await Promise.all(
          [1, 2, 3].map((i) =>
            client!.execute({ branches: [{ branch_id: `s${i}`, participant: participant.target, action: 'slow' }], wait: true }, { deadlineMs: 20_000 }),
          ),
        );
        const took = Date.now() - t0;
        expect(answers.map((a) => a.status)).to.deep.equal(['CONFIRMED', 'CONFIRMED', 'CONFIRMED']);
        // One Confirm at a time (limit 1), each its first attempt, none put off to recovery.
        for (const a of answers) {
          const v = await running!.engine.get(a.gid);
          expect(v.branches[0].attempts, `${a.gid} attempts`).to.equal(1);
          expect(v.logs.filter((l) => l.phase === 'confirm').map((l) => l.attempt)).to.deep.equal([1]);
        }
        expect(took, 'three 150 ms Confirms in a row, far below one 5 s deferral').to.be.below(4_000);
        participant.resetBehaviors();
      });

      it('does not count a call deferred by the per-target limit as an attempt, and makes it later', async () => {
        const coordinator = await startWithoutSweeps({
          TCC_RECOVERY_CONCURRENCY_PER_TARGET: '1',
          TCC_BRANCH_TIMEOUT_MS: '1500',
          TCC_SWEEP_INTERVAL_MS: '200',
          TCC_RETRY_INITIAL_MS: '300',
          TCC_RETRY_MAX_MS: '2000',
        });
        participant.setBehavior('confirm', 'hang', { action: 'hold' });
        const holder = await client!.execute({ branches: [{ branch_id: 'h', participant: participant.target, action: 'hold' }] });
        await participant.waitForCalls((c) => c.phase === 'confirm' && c.gid === holder.gid, 5_000);
        // The only slot for the target is taken: this Confirm is deferred, not made.
        const t = await client!.execute({ branches: [{ branch_id: 'b1', participant: participant.target, action: 'pay' }] });
        const deferred = await pollUntil(
          () => coordinator.engine.get(t.gid),
          (v) => v.branches[0].nextRetryAt !== null,
          'deferral recorded',
        );
        expect(participant.callsFor('confirm', t.gid)).to.have.length(0);
        expect(deferred.branches[0].attempts).to.equal(0);
        expect(deferred.logs.filter((l) => l.phase === 'confirm')).to.have.length(0);
        expect(deferred.txn.status).to.equal('CONFIRMING');
        // Once the hung call gives up its slot, the Confirm is made: its first attempt.
        const done = await pollUntil(() => coordinator.engine.get(t.gid), (v) => v.txn.status === 'CONFIRMED', 'CONFIRMED', 20_000, 50);
        const confirms = done.logs.filter((l) => l.phase === 'confirm');
        expect(confirms.map((l) => l.attempt)).to.deep.equal([1]);
        expect(done.branches[0].attempts).to.equal(1);
        expect(participant.callsFor('confirm', t.gid)).to.have.length(1);
        // Leave nothing pending for the tests after this one.
        participant.resetBehaviors();
        await pollUntil(() => coordinator.engine.get(holder.gid), (v) => v.txn.status === 'CONFIRMED', 'holder CONFIRMED', 20_000, 50);
      });
    });
  });
});
