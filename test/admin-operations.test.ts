/**
 * tcc.v1.Admin over gRPC against a real coordinator and a real participant,
 * on SQLite and MariaDB: GetTransaction's timeline, Abort, ResolveBranch and
 * the admin token on every method.
 */
import { expect } from 'chai';
import * as grpc from '@grpc/grpc-js';
import type { RunningCoordinator } from '../src/coordinator';
import type { Branch__Output } from '../src/generated/tcc/v1/Branch';
import type { PhaseLog__Output } from '../src/generated/tcc/v1/PhaseLog';
import type { Transaction__Output } from '../src/generated/tcc/v1/Transaction';
import {
  createCoordinatorClient,
  expectGrpcError,
  forEachBackend,
  pollUntil,
  sleep,
  startTestCoordinator,
  type TestCoordinatorClient,
} from './helpers/backends';
import { createAdminClient, type TestAdminClient } from './helpers/admin-client';
import { startTestParticipant, type TestParticipant } from './helpers/test-participant';

const TOKEN = 'admin-operations-token-0123456789';
const NODE = 'admin-ops-node';

function branch(t: Transaction__Output, id: string): Branch__Output {
  const b = t.branches.find((x) => x.branch_id === id);
  if (!b) throw new Error(`transaction ${t.gid} has no branch ${id}; branches: ${t.branches.map((x) => x.branch_id).join(', ')}`);
  return b;
}

function rows(t: Transaction__Output, phase: string): PhaseLog__Output[] {
  return t.logs.filter((l) => l.phase === phase);
}

forEachBackend((backend) => {
  describe('Admin operations', function () {
    this.timeout(30_000);
    let coordinator: RunningCoordinator | undefined;
    let participant: TestParticipant | undefined;
    let client: TestCoordinatorClient;
    let admin: TestAdminClient;
    let target: string;

    before(async () => {
      participant = await startTestParticipant();
      target = participant.target;
      coordinator = await startTestCoordinator(backend, {
        TCC_ADMIN_TOKEN: TOKEN,
        TCC_NODE_ID: NODE,
        TCC_STUCK_AFTER_ATTEMPTS: '2',
      });
      client = createCoordinatorClient(coordinator.address);
      admin = createAdminClient(coordinator.address, TOKEN);
    });

    afterEach(() => participant?.resetBehaviors());

    after(async () => {
      client?.close();
      admin?.close();
      await coordinator?.shutdown();
      await participant?.stop();
    });

    /** A CONFIRMING transaction whose branch `broken` keeps failing Confirm until it is flagged stuck; `fine` is confirmed. */
    async function stuckConfirming(action: string): Promise<Transaction__Output> {
      participant!.setBehavior('confirm', 'unavailable', { action });
      const txn = await client.execute({
        branches: [
          { branch_id: 'fine', participant: target, action: 'fine' },
          { branch_id: 'broken', participant: target, action },
        ],
      });
      return pollUntil(() => admin.get(txn.gid), (x) => x.stuck, `transaction ${txn.gid} flagged stuck`, 10_000);
    }

    it('GetTransaction answers the branches and the full timeline: try rows, the decision, confirm rows, with node and durations', async () => {
      // A slow Confirm on one branch, so a duration is measurably not zero.
      participant!.setBehavior('confirm', 'ok', { action: 'slow-credit', delayMs: 60 });
      const done = await client.execute({
        branches: [
          { branch_id: 'a', participant: target, action: 'debit' },
          { branch_id: 'b', participant: target, action: 'slow-credit' },
        ],
        wait: true,
      });
      expect(done.status).to.equal('CONFIRMED');

      const t = await admin.get(done.gid);
      expect(t.gid).to.equal(done.gid);
      expect(t.status).to.equal('CONFIRMED');
      expect(Number(t.decided_unix_ms)).to.be.greaterThan(0);
      expect(t.branches.map((b) => b.branch_id)).to.deep.equal(['a', 'b']);
      for (const b of t.branches) {
        expect(b.participant).to.equal(target);
        expect(b.try_outcome, `try of ${b.branch_id}`).to.equal('TRY_SUCCEEDED');
        expect(b.phase_two, `phase two of ${b.branch_id}`).to.equal('PHASE_TWO_DONE');
        expect(b.attempts).to.equal(1);
        expect(b.try_attempts).to.equal(1);
      }

      const tries = rows(t, 'try');
      const decisions = rows(t, 'decision');
      const confirms = rows(t, 'confirm');
      expect(t.logs, 'nothing but 2 tries, 1 decision, 2 confirms').to.have.length(5);
      expect(tries.map((l) => l.branch_id).sort()).to.deep.equal(['a', 'b']);
      expect(confirms.map((l) => l.branch_id).sort()).to.deep.equal(['a', 'b']);
      expect(decisions).to.have.length(1);
      for (const l of [...tries, ...confirms]) {
        expect(l.outcome, `${l.phase} ${l.branch_id}`).to.equal('ok');
        expect(l.grpc_code).to.equal(grpc.status.OK);
        expect(l.attempt).to.equal(1);
        expect(l.node).to.equal(NODE);
        expect(l.error).to.equal('');
        expect(l.operator).to.equal('');
        expect(Number(l.started_unix_ms)).to.be.greaterThan(0);
        expect(l.duration_ms).to.be.a('number').and.at.least(0);
      }
      const [decision] = decisions;
      expect(decision.branch_id).to.equal('');
      expect(decision.outcome).to.equal('commit');
      expect(decision.node).to.equal(NODE);
      expect(decision.operator).to.equal('');
      expect(confirms.find((l) => l.branch_id === 'b')!.duration_ms, 'the 60 ms Confirm').to.be.at.least(50);

      // The order of events: every Try before the decision, every Confirm after it.
      const id = (l: PhaseLog__Output) => Number(l.id);
      const at = (l: PhaseLog__Output) => Number(l.started_unix_ms);
      for (const l of tries) {
        expect(id(l)).to.be.lessThan(id(decision));
        expect(at(l)).to.be.at.most(at(decision));
      }
      for (const l of confirms) {
        expect(id(l)).to.be.greaterThan(id(decision));
        expect(at(l)).to.be.at.least(at(decision));
      }
      expect(new Set(t.logs.map(id)).size, 'distinct row ids').to.equal(5);
    });

    it('Abort rolls back a TRYING transaction: Cancel to the tried branch only, no Confirm, operator and reason on the decision; again is OK', async () => {
      const { gid } = await client.begin({});
      await client.try({ gid, branch: { branch_id: 'reserved', participant: target, action: 'reserve' } });
      participant!.setBehavior('try', 'refuse', { action: 'refused' });
      await expectGrpcError(client.try({ gid, branch: { branch_id: 'nothing', participant: target, action: 'refused' } }), grpc.status.ABORTED, 'refused Try');
      expect((await admin.get(gid)).status, 'a refused Try alone decides nothing').to.equal('TRYING');

      const aborted = await admin.abort({ gid, reason: 'customer cancelled by phone', operator: 'alice' });
      expect(aborted.status).to.be.oneOf(['CANCELLING', 'CANCELLED']);
      expect(aborted.reason).to.include('alice').and.include('customer cancelled by phone');

      const done = await pollUntil(() => admin.get(gid), (x) => x.status === 'CANCELLED', `${gid} CANCELLED`);
      expect(branch(done, 'reserved').phase_two).to.equal('PHASE_TWO_DONE');
      expect(branch(done, 'nothing').phase_two, 'a refused Try reserved nothing').to.equal('PHASE_TWO_SKIPPED');
      const cancels = participant!.callsFor('cancel', gid);
      expect(cancels.map((c) => c.branch_id)).to.deep.equal(['reserved']);
      expect(participant!.callsFor('confirm', gid)).to.have.length(0);

      const decisions = rows(done, 'decision');
      expect(decisions).to.have.length(1);
      expect(decisions[0].outcome).to.equal('rollback');
      expect(decisions[0].operator).to.equal('alice');
      expect(decisions[0].error).to.include('customer cancelled by phone');
      expect(decisions[0].node).to.equal(NODE);
      const cancelRows = rows(done, 'cancel');
      expect(cancelRows.map((l) => [l.branch_id, l.outcome])).to.deep.equal([['reserved', 'ok']]);

      const again = await admin.abort({ gid, reason: 'second try', operator: 'bob' });
      expect(again.status).to.equal('CANCELLED');
      const after = await admin.get(gid);
      expect(rows(after, 'decision'), 'no second decision').to.have.length(1);
      expect(after.reason).to.equal(done.reason);
      expect(participant!.callsFor('cancel', gid), 'no second Cancel').to.have.length(1);
    });

    it('Abort after the commit decision is FAILED_PRECONDITION and changes nothing, confirmed or still confirming', async () => {
      const confirmed = await client.execute({ branches: [{ participant: target, action: 'done' }], wait: true });
      expect(confirmed.status).to.equal('CONFIRMED');
      const err = await expectGrpcError(admin.abort({ gid: confirmed.gid, reason: 'too late', operator: 'alice' }), grpc.status.FAILED_PRECONDITION, 'abort CONFIRMED');
      expect(err.details).to.include(confirmed.gid);
      const after = await admin.get(confirmed.gid);
      expect(after.status).to.equal('CONFIRMED');
      expect(rows(after, 'decision').map((l) => l.outcome)).to.deep.equal(['commit']);

      participant!.setBehavior('confirm', 'unavailable', { action: 'confirm-fails' });
      const confirming = await client.execute({ branches: [{ participant: target, action: 'confirm-fails' }] });
      expect(confirming.status).to.equal('CONFIRMING');
      await expectGrpcError(admin.abort({ gid: confirming.gid, operator: 'alice' }), grpc.status.FAILED_PRECONDITION, 'abort CONFIRMING');
      const still = await admin.get(confirming.gid);
      expect(still.status).to.equal('CONFIRMING');
      expect(participant!.callsFor('cancel', confirming.gid)).to.have.length(0);
    });

    it('Abort of an unknown gid is NOT_FOUND; a malformed gid or operator is INVALID_ARGUMENT', async () => {
      await expectGrpcError(admin.abort({ gid: 'no-such-transaction', operator: 'alice' }), grpc.status.NOT_FOUND, 'unknown gid');
      await expectGrpcError(admin.abort({ gid: 'bad gid!', operator: 'alice' }), grpc.status.INVALID_ARGUMENT, 'gid with a space');
      await expectGrpcError(admin.abort({ gid: '', operator: 'alice' }), grpc.status.INVALID_ARGUMENT, 'empty gid');
      const { gid } = await client.begin({});
      await expectGrpcError(admin.abort({ gid, operator: 'alice\u001b[31m' }), grpc.status.INVALID_ARGUMENT, 'operator with a control character');
      expect((await admin.get(gid)).status, 'a refused Abort changes nothing').to.equal('TRYING');
      await admin.abort({ gid, operator: 'alice' });
    });

    it('ResolveBranch marks a branch whose Confirm keeps failing RESOLVED; the transaction becomes CONFIRMED, not stuck, with a resolve row', async () => {
      const stuck = await stuckConfirming('credit-broken');
      const gid = stuck.gid;
      expect(stuck.status).to.equal('CONFIRMING');
      expect(branch(stuck, 'fine').phase_two).to.equal('PHASE_TWO_DONE');
      expect(branch(stuck, 'broken').phase_two).to.equal('PHASE_TWO_PENDING');
      expect(branch(stuck, 'broken').attempts).to.be.at.least(2);
      expect(branch(stuck, 'broken').last_error).to.include('UNAVAILABLE');

      const reason = 'credited by hand in the ledger, ticket OPS-42';
      const resolved = await admin.resolve({ gid, branch_id: 'broken', reason, operator: 'alice' });
      expect(resolved.status).to.equal('CONFIRMED');
      expect(resolved.stuck).to.equal(false);
      expect(resolved.last_error).to.equal('');
      expect(resolved.next_retry_unix_ms).to.equal('0');
      expect(branch(resolved, 'broken').phase_two).to.equal('PHASE_TWO_RESOLVED');
      expect(branch(resolved, 'broken').next_retry_unix_ms).to.equal('0');
      expect(branch(resolved, 'fine').phase_two).to.equal('PHASE_TWO_DONE');
      const resolveRows = rows(resolved, 'resolve');
      expect(resolveRows).to.have.length(1);
      expect(resolveRows[0]).to.include({ branch_id: 'broken', outcome: 'resolved', operator: 'alice', error: reason, node: NODE });
      expect(resolveRows[0].grpc_code).to.equal(0);

      // The coordinator no longer calls the resolved branch (retries were every 50-200 ms).
      const confirmsBefore = participant!.callsFor('confirm', gid).length;
      await sleep(400);
      expect(participant!.callsFor('confirm', gid).length, 'no Confirm after the resolution').to.equal(confirmsBefore);
      expect((await admin.list({ stuck_only: true, limit: 500 })).transactions.map((x) => x.gid)).to.not.include(gid);
    });

    it('ResolveBranch needs reason and operator (INVALID_ARGUMENT), an existing branch (NOT_FOUND), and changes nothing when refused', async () => {
      const stuck = await stuckConfirming('debit-broken');
      const gid = stuck.gid;
      const ok = { gid, branch_id: 'broken', reason: 'fixed by hand', operator: 'alice' };
      await expectGrpcError(admin.resolve({ ...ok, reason: '' }), grpc.status.INVALID_ARGUMENT, 'no reason');
      await expectGrpcError(admin.resolve({ ...ok, reason: '   ' }), grpc.status.INVALID_ARGUMENT, 'blank reason');
      await expectGrpcError(admin.resolve({ ...ok, operator: '' }), grpc.status.INVALID_ARGUMENT, 'no operator');
      await expectGrpcError(admin.resolve({ ...ok, branch_id: 'no-such-branch' }), grpc.status.NOT_FOUND, 'unknown branch');
      await expectGrpcError(admin.resolve({ ...ok, gid: 'no-such-transaction' }), grpc.status.NOT_FOUND, 'unknown gid');
      await expectGrpcError(admin.resolve({ ...ok, branch_id: 'bad id!' }), grpc.status.INVALID_ARGUMENT, 'malformed branch id');

      const unchanged = await admin.get(gid);
      expect(unchanged.status).to.equal('CONFIRMING');
      expect(branch(unchanged, 'broken').phase_two).to.equal('PHASE_TWO_PENDING');
      expect(rows(unchanged, 'resolve')).to.have.length(0);
      await admin.resolve(ok);
    });

    it('ResolveBranch on a TRYING transaction is FAILED_PRECONDITION', async () => {
      const { gid } = await client.begin({});
      await client.try({ gid, branch: { branch_id: 'early', participant: target, action: 'reserve' } });
      const err = await expectGrpcError(
        admin.resolve({ gid, branch_id: 'early', reason: 'too early', operator: 'alice' }),
        grpc.status.FAILED_PRECONDITION,
        'resolve while TRYING',
      );
      expect(err.details).to.include('TRYING');
      const t = await admin.get(gid);
      expect(t.status).to.equal('TRYING');
      expect(branch(t, 'early').phase_two).to.equal('PHASE_TWO_NOT_DUE');
      expect(rows(t, 'resolve')).to.have.length(0);
      await client.rollback({ gid });
    });

    it('ResolveBranch of a branch already resolved or done answers OK and changes nothing', async () => {
      const stuck = await stuckConfirming('refund-broken');
      const gid = stuck.gid;
      expect((await admin.resolve({ gid, branch_id: 'broken', reason: 'refunded by hand', operator: 'alice' })).status).to.equal('CONFIRMED');
      // A recovery round already running when the branch was resolved still
      // records its Confirm call (it was made): let it land before comparing.
      let first = await admin.get(gid);
      for (;;) {
        await new Promise((r) => setTimeout(r, 150));
        const now = await admin.get(gid);
        if (now.logs.length === first.logs.length) break;
        first = now;
      }

      const again = await admin.resolve({ gid, branch_id: 'broken', reason: 'again', operator: 'bob' });
      const done = await admin.resolve({ gid, branch_id: 'fine', reason: 'was fine', operator: 'bob' });
      for (const [what, t] of [['resolved branch', again], ['done branch', done]] as const) {
        expect(t.status, what).to.equal('CONFIRMED');
        expect(t.updated_unix_ms, `${what}: not updated`).to.equal(first.updated_unix_ms);
        expect(branch(t, 'broken').phase_two, what).to.equal('PHASE_TWO_RESOLVED');
        expect(branch(t, 'fine').phase_two, what).to.equal('PHASE_TWO_DONE');
        expect(t.logs.length, `${what}: no new log row`).to.equal(first.logs.length);
        expect(rows(t, 'resolve').map((l) => l.operator), what).to.deep.equal(['alice']);
      }
    });

    it('ResolveBranch finishes a CANCELLING transaction whose Cancel keeps failing', async () => {
      participant!.setBehavior('cancel', 'unavailable', { action: 'release-broken' });
      const { gid } = await client.begin({});
      await client.try({ gid, branch: { branch_id: 'held', participant: target, action: 'release-broken' } });
      expect((await client.rollback({ gid })).status).to.equal('CANCELLING');
      await pollUntil(() => admin.get(gid), (x) => branch(x, 'held').attempts >= 1, 'a failed Cancel');
      const resolved = await admin.resolve({ gid, branch_id: 'held', reason: 'released by hand', operator: 'alice' });
      expect(resolved.status).to.equal('CANCELLED');
      expect(branch(resolved, 'held').phase_two).to.equal('PHASE_TWO_RESOLVED');
      expect(participant!.callsFor('confirm', gid)).to.have.length(0);
    });

    it('ResolveBranch while a Confirm is in flight: the late answer changes nothing, and the transaction is counted finished once', async () => {
      const finishedConfirmed = async () => {
        const m = /^tcc_transactions_finished_total\{status="CONFIRMED"\} (\d+)$/m.exec(await coordinator!.engine.metrics.registry.metrics());
        return m ? Number(m[1]) : 0;
      };
      participant!.setBehavior('confirm', 'hang', { action: 'confirm-hangs' });
      const txn = await client.execute({ branches: [{ branch_id: 'slow', participant: target, action: 'confirm-hangs' }] });
      await participant!.waitForCalls((c) => c.phase === 'confirm' && c.gid === txn.gid);
      const before = await finishedConfirmed();
      const resolved = await admin.resolve({ gid: txn.gid, branch_id: 'slow', reason: 'confirmed by hand', operator: 'alice' });
      expect(resolved.status).to.equal('CONFIRMED');
      // The hanging Confirm ends at its deadline (TCC_BRANCH_TIMEOUT_MS 1000) and its round writes.
      await pollUntil(() => admin.get(txn.gid), (x) => rows(x, 'confirm').length >= 1, 'the late Confirm row', 5_000);
      const after = await admin.get(txn.gid);
      expect(after.status).to.equal('CONFIRMED');
      expect(branch(after, 'slow').phase_two, 'still resolved, not overwritten by the late answer').to.equal('PHASE_TWO_RESOLVED');
      expect((await finishedConfirmed()) - before, 'tcc_transactions_finished_total{status="CONFIRMED"} increments').to.equal(1);
    });

    it('every Admin method answers UNAUTHENTICATED without the token or with a wrong one, before looking at the request', async () => {
      const { gid } = await client.begin({});
      await client.try({ gid, branch: { branch_id: 'kept', participant: target, action: 'reserve' } });
      const calls: Array<[string, (o: { token: string | null }) => Promise<unknown>]> = [
        ['ListTransactions', (o) => admin.list({}, o)],
        ['GetTransaction', (o) => admin.get(gid, o)],
        ['RetryTransaction', (o) => admin.retry(gid, o)],
        ['Abort', (o) => admin.abort({ gid, reason: 'not allowed', operator: 'mallory' }, o)],
        ['ResolveBranch', (o) => admin.resolve({ gid, branch_id: 'kept', reason: 'not allowed', operator: 'mallory' }, o)],
        // Auth comes first: a malformed request tells an unauthenticated caller nothing.
        ['GetTransaction (malformed gid)', (o) => admin.get('bad gid!', o)],
      ];
      const wrongTokens = [null, '', 'not-the-token-at-all', `${TOKEN}x`, TOKEN.slice(0, -1), TOKEN.toUpperCase()];
      for (const [method, call] of calls) {
        for (const token of wrongTokens) {
          await expectGrpcError(call({ token }), grpc.status.UNAUTHENTICATED, `${method} with token ${JSON.stringify(token)}`);
        }
      }
      // Another scheme carrying the right secret is not a bearer token.
      const basic = new grpc.Metadata();
      basic.set('authorization', `Basic ${TOKEN}`);
      await expectGrpcError(
        new Promise((resolve, reject) =>
          admin.raw.GetTransaction({ gid }, basic, { deadline: Date.now() + 5_000 }, (e, r) => (e ? reject(e) : resolve(r))),
        ),
        grpc.status.UNAUTHENTICATED,
        'Basic scheme',
      );

      const t = await admin.get(gid);
      expect(t.status, 'the refused Abort did nothing').to.equal('TRYING');
      expect(t.logs.filter((l) => l.operator === 'mallory')).to.have.length(0);
      expect(participant!.callsFor('cancel', gid)).to.have.length(0);
      await admin.abort({ gid, reason: 'cleanup', operator: 'alice' });
    });
  });
});
