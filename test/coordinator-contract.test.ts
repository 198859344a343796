/**
 * The Coordinator's gRPC contract (proto/tcc/v1/coordinator.proto and
 * participant.proto), driven over real gRPC against a real coordinator and
 * real test participants, once per storage backend.
 */
import * as crypto from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import type { RunningCoordinator } from '../src/coordinator';
import type { BranchSpec } from '../src/generated/tcc/v1/BranchSpec';
import type { Branch__Output } from '../src/generated/tcc/v1/Branch';
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
import { startTestParticipant, type RecordedCall, type TestParticipant } from './helpers/test-participant';

const S = grpc.status;

const MAX_TIMEOUT_MS = 120_000;
const DEFAULT_TIMEOUT_MS = 30_000;
const BRANCH_TIMEOUT_MS = 1_000;
const MAX_PAYLOAD_BYTES = 1_024;
const MAX_BRANCHES = 3;
/** Longer than TCC_RETRY_MAX_MS (200 in tests): enough for a stray extra call to show up. */
const QUIET_MS = 400;

let gidSeq = 0;
/** A fresh, legal client gid (letters, digits, '-'). */
function newGid(tag: string): string {
  gidSeq += 1;
  return `t-${tag}-${Date.now().toString(36)}-${gidSeq}-${crypto.randomBytes(3).toString('hex')}`;
}

function payloadOf(text: string): Buffer {
  // Binary bytes around the text, including NUL and 0xff, to catch any string conversion.
  return Buffer.concat([Buffer.from([0, 255, 1, 128]), Buffer.from(text, 'utf8'), Buffer.from([0])]);
}

function spec(p: TestParticipant, action: string, payload: Buffer, branchId = ''): BranchSpec {
  return { branch_id: branchId, participant: p.target, action, payload };
}

function branchOf(tx: Transaction__Output, branchId: string): Branch__Output {
  const b = tx.branches.find((x) => x.branch_id === branchId);
  if (!b) throw new Error(`transaction ${tx.gid} has no branch ${branchId}: [${tx.branches.map((x) => x.branch_id).join(', ')}]`);
  return b;
}

function forGid(gid: string, phase?: RecordedCall['phase']): (c: RecordedCall) => boolean {
  return (c) => c.gid === gid && (phase === undefined || c.phase === phase);
}

// Both transports: the contract must not depend on how Try/Confirm/Cancel reach the participants.
for (const transport of ['stream', 'unary'] as const) describe(`Coordinator contract (${transport} transport)`, function () {
  forEachBackend((backend) => {
    let coord: RunningCoordinator | undefined;
    let client: TestCoordinatorClient | undefined;
    let pA: TestParticipant | undefined;
    let pB: TestParticipant | undefined;
    const nodeId = `contract-${backend.name}`;

    const c = (): TestCoordinatorClient => {
      if (!client) throw new Error('coordinator client not started');
      return client;
    };
    const A = (): TestParticipant => {
      if (!pA) throw new Error('participant A not started');
      return pA;
    };
    const B = (): TestParticipant => {
      if (!pB) throw new Error('participant B not started');
      return pB;
    };

    const get = (gid: string): Promise<Transaction__Output> => c().getTransaction({ gid });
    const waitStatus = (gid: string, statuses: string[], timeoutMs = 5_000): Promise<Transaction__Output> =>
      pollUntil(() => get(gid), (t) => statuses.includes(t.status), `${gid} to be ${statuses.join('|')}`, timeoutMs);

    /** Begin + one successful Try per (participant, action) pair; returns the gid and the branch ids. */
    async function prepared(branches: Array<[TestParticipant, string, Buffer]>): Promise<{ gid: string; ids: string[] }> {
      const { gid } = await c().begin({});
      const ids: string[] = [];
      for (const [p, action, payload] of branches) {
        const r = await c().try({ gid, branch: spec(p, action, payload) });
        ids.push(r.branch_id);
      }
      return { gid, ids };
    }

    before(async function () {
      this.timeout(60_000);
      pA = await startTestParticipant();
      pB = await startTestParticipant();
      coord = await startTestCoordinator(backend, {
        TCC_MAX_TIMEOUT_MS: String(MAX_TIMEOUT_MS),
        TCC_DEFAULT_TIMEOUT_MS: String(DEFAULT_TIMEOUT_MS),
        TCC_BRANCH_TIMEOUT_MS: String(BRANCH_TIMEOUT_MS),
        TCC_MAX_PAYLOAD_BYTES: String(MAX_PAYLOAD_BYTES),
        TCC_MAX_BRANCHES: String(MAX_BRANCHES),
        TCC_SHUTDOWN_GRACE_MS: '2000',
        // Deadline expiry is noticed by the recovery sweep: keep it quick.
        TCC_SWEEP_INTERVAL_MS: '100',
        TCC_NODE_ID: nodeId,
        TCC_PARTICIPANT_TRANSPORT: transport,
      });
      client = createCoordinatorClient(coord.address);
    });

    after(async function () {
      this.timeout(30_000);
      client?.close();
      if (coord) await coord.shutdown();
      if (pA) await pA.stop();
      if (pB) await pB.stop();
    });

    beforeEach(function () {
      pA?.resetBehaviors();
      pB?.resetBehaviors();
    });

    it(`sends Try/Confirm/Cancel over the configured transport (${transport}), with the contract's metadata`, async function () {
      const { gid } = await c().begin({});
      await c().try({ gid, branch: spec(A(), 'transport-check', Buffer.from('x')) });
      await c().commit({ gid, wait: true });
      const calls = A().calls.filter((x) => x.gid === gid);
      expect(calls.map((x) => [x.phase, x.transport])).to.deep.equal([
        ['try', transport],
        ['confirm', transport],
      ]);
      for (const x of calls) expect(x.metadata).to.deep.equal({ 'tcc-gid': gid, 'tcc-branch-id': x.branch_id, 'tcc-phase': x.phase });
    });

    // -----------------------------------------------------------------------
    describe('Begin', function () {
      it('returns a new gid of a TRYING transaction with no branches', async function () {
        const r = await c().begin({});
        expect(r.gid).to.be.a('string').and.not.equal('');
        expect(r.gid.length).to.be.at.most(128);
        const tx = await get(r.gid);
        expect(tx.gid).to.equal(r.gid);
        expect(tx.status).to.equal('TRYING');
        expect(tx.branches).to.have.length(0);
        expect(tx.deadline_unix_ms).to.equal(r.deadline_unix_ms);
      });

      it('gives successive Begins different gids that sort in creation order', async function () {
        const gids: string[] = [];
        // Back to back, so several fall in the same millisecond.
        for (let i = 0; i < 10; i++) gids.push((await c().begin({})).gid);
        expect(new Set(gids).size, 'gids must be unique').to.equal(gids.length);
        const sorted = [...gids].sort();
        expect(sorted, 'gids must sort in creation order').to.deep.equal(gids);
        // Concurrent Begins never share a gid.
        const concurrent = await Promise.all(Array.from({ length: 20 }, () => c().begin({})));
        expect(new Set(concurrent.map((r) => r.gid)).size).to.equal(20);
      });

      it('sets deadline_unix_ms to about now + timeout_ms, and uses TCC_DEFAULT_TIMEOUT_MS for 0', async function () {
        const t0 = Date.now();
        const r = await c().begin({ timeout_ms: 10_000 });
        const t1 = Date.now();
        const d = Number(r.deadline_unix_ms);
        expect(d).to.be.within(t0 + 10_000 - 50, t1 + 10_000 + 50);

        const t2 = Date.now();
        const r0 = await c().begin({ timeout_ms: 0 });
        const t3 = Date.now();
        expect(Number(r0.deadline_unix_ms)).to.be.within(t2 + DEFAULT_TIMEOUT_MS - 50, t3 + DEFAULT_TIMEOUT_MS + 50);
      });

      it('with a client gid while TRYING returns the same gid and deadline again', async function () {
        const gid = newGid('begin-again');
        const first = await c().begin({ gid, timeout_ms: 20_000 });
        expect(first.gid).to.equal(gid);
        await sleep(20);
        const second = await c().begin({ gid, timeout_ms: 20_000 });
        expect(second.gid).to.equal(gid);
        expect(second.deadline_unix_ms).to.equal(first.deadline_unix_ms);
        const tx = await get(gid);
        expect(tx.status).to.equal('TRYING');
      });

      it('with a client gid already decided answers ALREADY_EXISTS (rolled back and committed)', async function () {
        const rolledBack = newGid('begin-rb');
        await c().begin({ gid: rolledBack });
        await c().rollback({ gid: rolledBack, wait: true });
        await expectGrpcError(c().begin({ gid: rolledBack }), S.ALREADY_EXISTS, 'Begin after rollback');

        const committed = newGid('begin-cm');
        await c().begin({ gid: committed });
        await c().try({ gid: committed, branch: spec(A(), 'reserve', payloadOf('x')) });
        await c().commit({ gid: committed, wait: true });
        await expectGrpcError(c().begin({ gid: committed }), S.ALREADY_EXISTS, 'Begin after commit');
        expect((await get(committed)).status).to.equal('CONFIRMED');
      });

      it('answers INVALID_ARGUMENT for timeout_ms above TCC_MAX_TIMEOUT_MS and stores nothing', async function () {
        const gid = newGid('begin-long');
        await expectGrpcError(c().begin({ gid, timeout_ms: MAX_TIMEOUT_MS + 1 }), S.INVALID_ARGUMENT, 'Begin');
        await expectGrpcError(get(gid), S.NOT_FOUND, 'GetTransaction after rejected Begin');
        // The maximum itself is allowed.
        const ok = await c().begin({ timeout_ms: MAX_TIMEOUT_MS });
        expect(ok.gid).to.not.equal('');
      });

      it('answers INVALID_ARGUMENT for a client gid with illegal characters or over 128 characters', async function () {
        for (const bad of ['has space', 'a/b', `x${'g'.repeat(128)}`]) {
          await expectGrpcError(c().begin({ gid: bad }), S.INVALID_ARGUMENT, `Begin gid ${JSON.stringify(bad)}`);
        }
        const longest = `t-${crypto.randomBytes(8).toString('hex')}-`.padEnd(128, 'z');
        expect(longest.length).to.equal(128);
        expect((await c().begin({ gid: longest })).gid).to.equal(longest);
      });
    });

    // -----------------------------------------------------------------------
    describe('Try', function () {
      it('answers OK with the participant result; the participant gets metadata tcc-gid/tcc-branch-id/tcc-phase=try and exactly the action and payload', async function () {
        const { gid } = await c().begin({});
        const payload = payloadOf('try-payload');
        const r = await c().try({ gid, branch: spec(A(), 'debit', payload, 'b-one') });
        expect(r.branch_id).to.equal('b-one');
        expect(r.result.toString()).to.equal('try-ok:b-one');

        const calls = A().callsFor('try', gid);
        expect(calls).to.have.length(1);
        const call = calls[0];
        expect(call.branch_id).to.equal('b-one');
        expect(call.action).to.equal('debit');
        expect(call.payload.equals(payload), 'payload bytes must be passed unchanged').to.equal(true);
        expect(call.metadata).to.deep.equal({ 'tcc-gid': gid, 'tcc-branch-id': 'b-one', 'tcc-phase': 'try' });

        const tx = await get(gid);
        expect(tx.status).to.equal('TRYING');
        const b = branchOf(tx, 'b-one');
        expect(b.try_outcome).to.equal('TRY_SUCCEEDED');
        expect(b.phase_two).to.equal('PHASE_TWO_NOT_DUE');
        expect(b.participant).to.equal(A().target);
        expect(b.action).to.equal('debit');
        expect(b.payload_bytes).to.equal(payload.length);
      });

      it('assigns a branch_id when none is given, and the participant gets that id', async function () {
        const { gid } = await c().begin({});
        const r1 = await c().try({ gid, branch: spec(A(), 'debit', payloadOf('1')) });
        const r2 = await c().try({ gid, branch: spec(A(), 'debit', payloadOf('2')) });
        expect(r1.branch_id).to.be.a('string').and.not.equal('');
        expect(r2.branch_id).to.be.a('string').and.not.equal('');
        expect(r1.branch_id).to.not.equal(r2.branch_id);
        expect(r1.result.toString()).to.equal(`try-ok:${r1.branch_id}`);
        const ids = A()
          .callsFor('try', gid)
          .map((x) => x.branch_id);
        expect(ids).to.have.members([r1.branch_id, r2.branch_id]);
        const tx = await get(gid);
        expect(tx.branches.map((b) => b.branch_id)).to.have.members([r1.branch_id, r2.branch_id]);
      });

      it('passes the caller W3C traceparent on to Try and Confirm, and sends none when the caller gave none', async function () {
        const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
        const md = (): grpc.Metadata => {
          const m = new grpc.Metadata();
          m.set('traceparent', traceparent);
          return m;
        };
        const { gid } = await c().begin({});
        await c().try({ gid, branch: spec(A(), 'debit', payloadOf('tp'), 'tp1') }, { metadata: md() });
        await c().try({ gid, branch: spec(B(), 'credit', payloadOf('tp'), 'tp2') });
        await c().commit({ gid, wait: true }, { metadata: md() });
        expect(A().callsFor('try', gid)[0].traceparent).to.equal(traceparent);
        expect(B().callsFor('try', gid)[0].traceparent, 'no traceparent was given to this Try').to.equal(undefined);
        expect(A().callsFor('confirm', gid)[0].traceparent).to.equal(traceparent);
        expect(B().callsFor('confirm', gid)[0].traceparent).to.equal(traceparent);
      });

      it('accepts a dns:/// participant target', async function () {
        const { gid } = await c().begin({});
        const r = await c().try({
          gid,
          branch: { branch_id: 'dns', participant: `dns:///${A().target}`, action: 'debit', payload: payloadOf('dns') },
        });
        expect(r.result.toString()).to.equal('try-ok:dns');
        expect(A().callsFor('try', gid)).to.have.length(1);
      });

      it('answers ABORTED when the participant refuses with ABORTED; the branch is TRY_REFUSED', async function () {
        A().setBehavior('try', 'refuse');
        const { gid } = await c().begin({});
        await expectGrpcError(c().try({ gid, branch: spec(A(), 'debit', payloadOf('r'), 'b-r') }), S.ABORTED, 'Try');
        const b = branchOf(await get(gid), 'b-r');
        expect(b.try_outcome).to.equal('TRY_REFUSED');
      });

      it('answers ABORTED when the participant refuses with FAILED_PRECONDITION; the branch is TRY_REFUSED', async function () {
        A().setBehavior('try', 'refuse-precondition');
        const { gid } = await c().begin({});
        await expectGrpcError(c().try({ gid, branch: spec(A(), 'debit', payloadOf('r'), 'b-fp') }), S.ABORTED, 'Try');
        expect(branchOf(await get(gid), 'b-fp').try_outcome).to.equal('TRY_REFUSED');
      });

      it('answers UNAVAILABLE or DEADLINE_EXCEEDED when the participant fails with INTERNAL; the branch is TRY_UNKNOWN', async function () {
        A().setBehavior('try', 'internal');
        const { gid } = await c().begin({});
        await expectGrpcError(
          c().try({ gid, branch: spec(A(), 'debit', payloadOf('i'), 'b-i') }),
          [S.UNAVAILABLE, S.DEADLINE_EXCEEDED],
          'Try',
        );
        expect(branchOf(await get(gid), 'b-i').try_outcome).to.equal('TRY_UNKNOWN');
        // Unknown must be cancelled: Commit rolls back and Cancel reaches the branch.
        await expectGrpcError(c().commit({ gid }), S.ABORTED, 'Commit');
        await A().waitForCalls((x) => x.gid === gid && x.phase === 'cancel' && x.branch_id === 'b-i', 5_000);
        await waitStatus(gid, ['CANCELLED']);
      });

      it('answers UNAVAILABLE when the participant is down; Commit is ABORTED and Cancel is retried until the participant is back', async function () {
        this.timeout(40_000);
        const down = await startTestParticipant();
        try {
          await down.stop();
          const { gid } = await c().begin({});
          await expectGrpcError(
            c().try({ gid, branch: spec(down, 'debit', payloadOf('down'), 'b-down') }),
            S.UNAVAILABLE,
            'Try to a stopped participant',
          );
          expect(branchOf(await get(gid), 'b-down').try_outcome).to.equal('TRY_UNKNOWN');

          await expectGrpcError(c().commit({ gid }), S.ABORTED, 'Commit');
          const pending = await pollUntil(
            () => get(gid),
            (t) => branchOf(t, 'b-down').attempts >= 1,
            'a failed Cancel attempt to be recorded',
          );
          expect(pending.status).to.equal('CANCELLING');
          expect(branchOf(pending, 'b-down').phase_two).to.equal('PHASE_TWO_PENDING');
          expect(branchOf(pending, 'b-down').last_error).to.not.equal('');

          await down.restart();
          await down.waitForCalls((x) => x.gid === gid && x.phase === 'cancel' && x.branch_id === 'b-down', 30_000);
          const done = await waitStatus(gid, ['CANCELLED'], 10_000);
          expect(branchOf(done, 'b-down').phase_two).to.equal('PHASE_TWO_DONE');
          expect(down.callsFor('try', gid)).to.have.length(0);
        } finally {
          await down.stop();
        }
      });

      it('answers DEADLINE_EXCEEDED (or UNAVAILABLE) when the participant hangs past TCC_BRANCH_TIMEOUT_MS; Commit is then ABORTED and the branch gets Cancel', async function () {
        this.timeout(20_000);
        A().setBehavior('try', 'hang', { action: 'slow-debit' });
        const { gid } = await c().begin({});
        const t0 = Date.now();
        await expectGrpcError(
          c().try({ gid, branch: spec(A(), 'slow-debit', payloadOf('hang'), 'b-hang') }),
          [S.DEADLINE_EXCEEDED, S.UNAVAILABLE],
          'Try to a hanging participant',
        );
        const elapsed = Date.now() - t0;
        expect(elapsed, 'the Try should give up at about TCC_BRANCH_TIMEOUT_MS').to.be.within(BRANCH_TIMEOUT_MS - 100, BRANCH_TIMEOUT_MS + 3_000);
        expect(branchOf(await get(gid), 'b-hang').try_outcome).to.equal('TRY_UNKNOWN');

        await expectGrpcError(c().commit({ gid }), S.ABORTED, 'Commit after an unknown Try');
        const cancels = await A().waitForCalls(
          (x) => x.gid === gid && x.phase === 'cancel' && x.branch_id === 'b-hang',
          5_000,
        );
        expect(cancels[0].action).to.equal('slow-debit');
        expect(cancels[0].payload.equals(payloadOf('hang'))).to.equal(true);
        const done = await waitStatus(gid, ['CANCELLED']);
        expect(done.reason).to.not.equal('');
        expect(A().callsFor('confirm', gid)).to.have.length(0);
      });

      it('uses TryRequest.timeout_ms as the deadline of the participant Try', async function () {
        A().setBehavior('try', 'hang', { action: 'slow-debit' });
        const { gid } = await c().begin({});
        const t0 = Date.now();
        await expectGrpcError(
          c().try({ gid, branch: spec(A(), 'slow-debit', payloadOf('t'), 'b-t'), timeout_ms: 200 }),
          [S.DEADLINE_EXCEEDED, S.UNAVAILABLE],
          'Try with timeout_ms 200',
        );
        expect(Date.now() - t0, 'timeout_ms 200 must be used instead of the 1000 ms default').to.be.below(BRANCH_TIMEOUT_MS - 100);
        const call = A().callsFor('try', gid)[0];
        expect(call.deadline - call.at, 'participant-side deadline').to.be.within(1, 400);
        await c().rollback({ gid });
      });

      it('answers FAILED_PRECONDITION on a transaction that is not TRYING', async function () {
        const rb = await c().begin({});
        await c().rollback({ gid: rb.gid, wait: true });
        await expectGrpcError(
          c().try({ gid: rb.gid, branch: spec(A(), 'debit', payloadOf('late')) }),
          S.FAILED_PRECONDITION,
          'Try after rollback',
        );

        const cm = await prepared([[A(), 'debit', payloadOf('1')]]);
        await c().commit({ gid: cm.gid, wait: true });
        await expectGrpcError(
          c().try({ gid: cm.gid, branch: spec(A(), 'debit', payloadOf('late')) }),
          S.FAILED_PRECONDITION,
          'Try after commit',
        );
        expect(A().callsFor('try', rb.gid)).to.have.length(0);
        expect(A().callsFor('try', cm.gid)).to.have.length(1);
        expect((await get(rb.gid)).branches).to.have.length(0);
        expect((await get(cm.gid)).branches).to.have.length(1);
      });

      it('answers NOT_FOUND for an unknown gid and calls no participant', async function () {
        const gid = newGid('nope');
        await expectGrpcError(c().try({ gid, branch: spec(A(), 'debit', payloadOf('x')) }), S.NOT_FOUND, 'Try');
        expect(A().callsFor('try', gid)).to.have.length(0);
      });
    });

    // -----------------------------------------------------------------------
    describe('Commit', function () {
      it('confirms each of 2 branches on 2 participants exactly once with the Try action and payload (wait=false)', async function () {
        const payA = payloadOf('pay-a');
        const payB = payloadOf('pay-b');
        const { gid } = await c().begin({});
        await c().try({ gid, branch: spec(A(), 'debit', payA, 'ba') });
        await c().try({ gid, branch: spec(B(), 'credit', payB, 'bb') });

        const r = await c().commit({ gid, wait: false });
        expect(r.gid).to.equal(gid);
        expect(['CONFIRMING', 'CONFIRMED']).to.include(r.status);

        const tx = await waitStatus(gid, ['CONFIRMED']);
        await sleep(QUIET_MS);
        const confA = A().callsFor('confirm', gid);
        const confB = B().callsFor('confirm', gid);
        expect(confA, 'Confirm calls on A').to.have.length(1);
        expect(confB, 'Confirm calls on B').to.have.length(1);
        expect(confA[0].branch_id).to.equal('ba');
        expect(confA[0].action).to.equal('debit');
        expect(confA[0].payload.equals(payA)).to.equal(true);
        expect(confA[0].metadata).to.deep.equal({ 'tcc-gid': gid, 'tcc-branch-id': 'ba', 'tcc-phase': 'confirm' });
        expect(confB[0].branch_id).to.equal('bb');
        expect(confB[0].action).to.equal('credit');
        expect(confB[0].payload.equals(payB)).to.equal(true);
        expect(confB[0].metadata).to.deep.equal({ 'tcc-gid': gid, 'tcc-branch-id': 'bb', 'tcc-phase': 'confirm' });
        expect(A().callsFor('cancel', gid)).to.have.length(0);
        expect(B().callsFor('cancel', gid)).to.have.length(0);

        expect(tx.branches).to.have.length(2);
        for (const b of tx.branches) {
          expect(b.try_outcome, b.branch_id).to.equal('TRY_SUCCEEDED');
          expect(b.phase_two, b.branch_id).to.equal('PHASE_TWO_DONE');
          expect(b.attempts, b.branch_id).to.equal(1);
        }
        expect(tx.reason).to.equal('');
      });

      it('with wait=true answers CONFIRMED after every Confirm', async function () {
        const { gid, ids } = await prepared([
          [A(), 'debit', payloadOf('a')],
          [B(), 'credit', payloadOf('b')],
        ]);
        const r = await c().commit({ gid, wait: true });
        expect(r.gid).to.equal(gid);
        expect(r.status).to.equal('CONFIRMED');
        expect(A().callsFor('confirm', gid).map((x) => x.branch_id)).to.deep.equal([ids[0]]);
        expect(B().callsFor('confirm', gid).map((x) => x.branch_id)).to.deep.equal([ids[1]]);
        const tx = await get(gid);
        expect(tx.status).to.equal('CONFIRMED');
        expect(tx.branches.map((b) => b.phase_two)).to.deep.equal(['PHASE_TWO_DONE', 'PHASE_TWO_DONE']);
      });

      it('answers ABORTED (with the reason) when a Try was refused: the succeeded branch gets Cancel, the refused one none; ends CANCELLED', async function () {
        B().setBehavior('try', 'refuse');
        const { gid } = await c().begin({});
        await c().try({ gid, branch: spec(A(), 'debit', payloadOf('ok'), 'b-ok') });
        await expectGrpcError(c().try({ gid, branch: spec(B(), 'credit', payloadOf('no'), 'b-no') }), S.ABORTED, 'refused Try');

        const err = await expectGrpcError(c().commit({ gid }), S.ABORTED, 'Commit');
        const cancels = await A().waitForCalls(forGid(gid, 'cancel'), 5_000);
        expect(cancels[0].branch_id).to.equal('b-ok');
        expect(cancels[0].payload.equals(payloadOf('ok'))).to.equal(true);
        expect(cancels[0].metadata).to.deep.equal({ 'tcc-gid': gid, 'tcc-branch-id': 'b-ok', 'tcc-phase': 'cancel' });

        const tx = await waitStatus(gid, ['CANCELLED']);
        await sleep(QUIET_MS);
        expect(A().callsFor('cancel', gid), 'one Cancel for the succeeded branch').to.have.length(1);
        expect(B().callsFor('cancel', gid), 'no Cancel for the refused branch').to.have.length(0);
        expect(A().callsFor('confirm', gid)).to.have.length(0);
        expect(B().callsFor('confirm', gid)).to.have.length(0);

        expect(tx.reason).to.not.equal('');
        expect(err.details, 'ABORTED message should carry the rollback reason').to.contain(tx.reason);
        expect(branchOf(tx, 'b-ok').phase_two).to.equal('PHASE_TWO_DONE');
        expect(branchOf(tx, 'b-no').try_outcome).to.equal('TRY_REFUSED');
        expect(branchOf(tx, 'b-no').phase_two).to.equal('PHASE_TWO_SKIPPED');
      });

      it('twice gives the same answer (CONFIRMED twice; ABORTED twice) and confirms once', async function () {
        const { gid } = await prepared([[A(), 'debit', payloadOf('2x')]]);
        const first = await c().commit({ gid, wait: true });
        const second = await c().commit({ gid, wait: true });
        expect(first.status).to.equal('CONFIRMED');
        expect(second.status).to.equal('CONFIRMED');
        expect(second.gid).to.equal(first.gid);
        await sleep(QUIET_MS);
        expect(A().callsFor('confirm', gid)).to.have.length(1);

        A().setBehavior('try', 'refuse');
        const { gid: g2 } = await c().begin({});
        await expectGrpcError(c().try({ gid: g2, branch: spec(A(), 'debit', payloadOf('r')) }), S.ABORTED, 'Try');
        await expectGrpcError(c().commit({ gid: g2 }), S.ABORTED, 'first Commit');
        await expectGrpcError(c().commit({ gid: g2 }), S.ABORTED, 'second Commit');
      });

      it('after a rollback decision answers ABORTED (both while CANCELLING and once CANCELLED)', async function () {
        const done = await prepared([[A(), 'debit', payloadOf('x')]]);
        await c().rollback({ gid: done.gid, wait: true });
        await expectGrpcError(c().commit({ gid: done.gid }), S.ABORTED, 'Commit after CANCELLED');

        A().setBehavior('cancel', 'unavailable');
        const pending = await prepared([[A(), 'debit', payloadOf('y')]]);
        const r = await c().rollback({ gid: pending.gid });
        expect(r.status).to.equal('CANCELLING');
        await expectGrpcError(c().commit({ gid: pending.gid }), S.ABORTED, 'Commit while CANCELLING');
        A().setBehavior('cancel', 'ok');
        await waitStatus(pending.gid, ['CANCELLED']);
        expect(A().callsFor('confirm', done.gid)).to.have.length(0);
        expect(A().callsFor('confirm', pending.gid)).to.have.length(0);
      });

      it('racing Rollback: exactly one of them wins, every time (20 transactions)', async function () {
        this.timeout(60_000);
        const rounds = 20;
        const results: Array<{ gid: string; winner: 'commit' | 'rollback' }> = [];
        for (let i = 0; i < rounds; i++) {
          const { gid } = await c().begin({});
          await Promise.all([
            c().try({ gid, branch: spec(A(), 'debit', payloadOf(`a${i}`), 'ra') }),
            c().try({ gid, branch: spec(B(), 'credit', payloadOf(`b${i}`), 'rb') }),
          ]);
          const [cm, rb] = await Promise.allSettled([c().commit({ gid }), c().rollback({ gid })]);
          const commitOk = cm.status === 'fulfilled';
          const rollbackOk = rb.status === 'fulfilled';
          expect(commitOk !== rollbackOk, `round ${i}: exactly one of Commit/Rollback must succeed (commit ${cm.status}, rollback ${rb.status})`).to.equal(true);
          if (commitOk) {
            const loser = (rb as PromiseRejectedResult).reason as grpc.ServiceError;
            expect(loser.code, `round ${i}: Rollback losing to Commit: ${loser.details}`).to.equal(S.FAILED_PRECONDITION);
            expect(['CONFIRMING', 'CONFIRMED']).to.include(cm.value.status);
            results.push({ gid, winner: 'commit' });
          } else {
            const loser = (cm).reason as grpc.ServiceError;
            expect(loser.code, `round ${i}: Commit losing to Rollback: ${loser.details}`).to.equal(S.ABORTED);
            expect(['CANCELLING', 'CANCELLED']).to.include((rb as PromiseFulfilledResult<Transaction__Output>).value.status);
            results.push({ gid, winner: 'rollback' });
          }
        }
        for (const { gid, winner } of results) {
          const final = winner === 'commit' ? 'CONFIRMED' : 'CANCELLED';
          await waitStatus(gid, [final]);
        }
        await sleep(QUIET_MS);
        for (const { gid, winner } of results) {
          const seen = (p: TestParticipant, phase: 'confirm' | 'cancel'): number => p.callsFor(phase, gid).length;
          const [win, lose] = winner === 'commit' ? (['confirm', 'cancel'] as const) : (['cancel', 'confirm'] as const);
          expect(seen(A(), win), `${gid} (${winner}) ${win} on A`).to.equal(1);
          expect(seen(B(), win), `${gid} (${winner}) ${win} on B`).to.equal(1);
          expect(seen(A(), lose), `${gid} (${winner}) ${lose} on A`).to.equal(0);
          expect(seen(B(), lose), `${gid} (${winner}) ${lose} on B`).to.equal(0);
        }
      });

      it('answers NOT_FOUND for an unknown gid', async function () {
        await expectGrpcError(c().commit({ gid: newGid('nope') }), S.NOT_FOUND, 'Commit');
      });
    });

    // -----------------------------------------------------------------------
    describe('Rollback', function () {
      it('cancels each succeeded branch once with the Try action and payload and ends CANCELLED; twice gives the same answer', async function () {
        const { gid, ids } = await prepared([
          [A(), 'debit', payloadOf('ra')],
          [B(), 'credit', payloadOf('rb')],
        ]);
        const first = await c().rollback({ gid, wait: true });
        const second = await c().rollback({ gid, wait: true });
        expect(first.status).to.equal('CANCELLED');
        expect(second.status).to.equal('CANCELLED');
        expect(second.gid).to.equal(gid);
        const again = await c().rollback({ gid, wait: false });
        expect(again.status).to.equal('CANCELLED');

        await sleep(QUIET_MS);
        const ca = A().callsFor('cancel', gid);
        const cb = B().callsFor('cancel', gid);
        expect(ca).to.have.length(1);
        expect(cb).to.have.length(1);
        expect(ca[0].branch_id).to.equal(ids[0]);
        expect(ca[0].action).to.equal('debit');
        expect(ca[0].payload.equals(payloadOf('ra'))).to.equal(true);
        expect(ca[0].metadata['tcc-phase']).to.equal('cancel');
        expect(cb[0].branch_id).to.equal(ids[1]);
        expect(cb[0].payload.equals(payloadOf('rb'))).to.equal(true);
        expect(A().callsFor('confirm', gid)).to.have.length(0);
        const tx = await get(gid);
        expect(tx.branches.map((b) => b.phase_two)).to.deep.equal(['PHASE_TWO_DONE', 'PHASE_TWO_DONE']);
      });

      it('of a transaction without branches ends CANCELLED', async function () {
        const { gid } = await c().begin({});
        const r = await c().rollback({ gid, wait: true });
        expect(r.status).to.equal('CANCELLED');
      });

      it('after a commit decision answers FAILED_PRECONDITION (both while CONFIRMING and once CONFIRMED)', async function () {
        const done = await prepared([[A(), 'debit', payloadOf('x')]]);
        await c().commit({ gid: done.gid, wait: true });
        await expectGrpcError(c().rollback({ gid: done.gid }), S.FAILED_PRECONDITION, 'Rollback after CONFIRMED');

        A().setBehavior('confirm', 'unavailable');
        const pending = await prepared([[A(), 'debit', payloadOf('y')]]);
        const r = await c().commit({ gid: pending.gid });
        expect(r.status).to.equal('CONFIRMING');
        await expectGrpcError(c().rollback({ gid: pending.gid }), S.FAILED_PRECONDITION, 'Rollback while CONFIRMING');
        A().setBehavior('confirm', 'ok');
        await waitStatus(pending.gid, ['CONFIRMED']);
        expect(A().callsFor('cancel', done.gid)).to.have.length(0);
        expect(A().callsFor('cancel', pending.gid)).to.have.length(0);
      });

      it('answers NOT_FOUND for an unknown gid', async function () {
        await expectGrpcError(c().rollback({ gid: newGid('nope') }), S.NOT_FOUND, 'Rollback');
      });
    });

    // -----------------------------------------------------------------------
    describe('Execute', function () {
      it('commits when every Try succeeds (OK, CONFIRMED with wait=true, a gid is assigned)', async function () {
        const tx = await c().execute({
          wait: true,
          branches: [
            spec(A(), 'debit', payloadOf('e1'), 'e1'),
            spec(B(), 'credit', payloadOf('e2'), 'e2'),
            spec(A(), 'fee', payloadOf('e3'), 'e3'),
          ],
        });
        expect(tx.gid).to.not.equal('');
        expect(tx.status).to.equal('CONFIRMED');
        const gid = tx.gid;
        expect(A().callsFor('try', gid).map((x) => x.branch_id)).to.have.members(['e1', 'e3']);
        expect(B().callsFor('try', gid).map((x) => x.branch_id)).to.have.members(['e2']);
        expect(A().callsFor('confirm', gid).map((x) => x.branch_id)).to.have.members(['e1', 'e3']);
        expect(B().callsFor('confirm', gid).map((x) => x.branch_id)).to.have.members(['e2']);
        const stored = await get(gid);
        expect(stored.status).to.equal('CONFIRMED');
        expect(stored.branches.map((b) => b.branch_id)).to.have.members(['e1', 'e2', 'e3']);
      });

      it('with a client gid and wait=false answers OK with CONFIRMING or CONFIRMED and then confirms', async function () {
        const gid = newGid('exec');
        const tx = await c().execute({ gid, branches: [spec(A(), 'debit', payloadOf('x'), 'x1')] });
        expect(tx.gid).to.equal(gid);
        expect(['CONFIRMING', 'CONFIRMED']).to.include(tx.status);
        await waitStatus(gid, ['CONFIRMED']);
        expect(A().callsFor('confirm', gid)).to.have.length(1);
      });

      it('answers ABORTED when one Try is refused, and cancels the others (parallel)', async function () {
        B().setBehavior('try', 'refuse', { action: 'refuse-me' });
        const gid = newGid('exec-refuse');
        await expectGrpcError(
          c().execute({
            gid,
            branches: [
              spec(A(), 'debit', payloadOf('p1'), 'p1'),
              spec(B(), 'refuse-me', payloadOf('p2'), 'p2'),
              spec(A(), 'fee', payloadOf('p3'), 'p3'),
            ],
          }),
          S.ABORTED,
          'Execute',
        );
        const tx = await waitStatus(gid, ['CANCELLED']);
        await sleep(QUIET_MS);
        const triedOnA = A()
          .callsFor('try', gid)
          .map((x) => x.branch_id);
        expect(triedOnA, 'p1 is tried').to.include('p1');
        // Every branch that got a Try (and did not refuse) gets a Cancel.
        expect(A().callsFor('cancel', gid).map((x) => x.branch_id)).to.have.members(triedOnA);
        expect(B().callsFor('try', gid)).to.have.length(1);
        expect(B().callsFor('cancel', gid), 'the refused branch gets no Cancel').to.have.length(0);
        expect(A().callsFor('confirm', gid)).to.have.length(0);
        expect(branchOf(tx, 'p2').phase_two).to.equal('PHASE_TWO_SKIPPED');
        expect(tx.reason).to.not.equal('');
      });

      it('runs the Trys in parallel by default', async function () {
        A().setBehavior('try', 'ok', { action: 'slow', delayMs: 300 });
        B().setBehavior('try', 'ok', { action: 'slow', delayMs: 300 });
        const gid = newGid('exec-par');
        const tx = await c().execute({
          gid,
          wait: true,
          branches: [
            spec(A(), 'slow', payloadOf('1'), 's1'),
            spec(B(), 'slow', payloadOf('2'), 's2'),
            spec(A(), 'slow', payloadOf('3'), 's3'),
          ],
        });
        expect(tx.status).to.equal('CONFIRMED');
        const tries = [...A().callsFor('try', gid), ...B().callsFor('try', gid)];
        expect(tries).to.have.length(3);
        const ats = tries.map((x) => x.at);
        expect(Math.max(...ats) - Math.min(...ats), 'all Trys start before the first (300 ms) one answers').to.be.below(250);
      });

      it('with sequential=true calls the Trys in order and stops at the first refusal', async function () {
        A().setBehavior('try', 'ok', { action: 'slow', delayMs: 150 });
        B().setBehavior('try', 'refuse', { action: 'refuse-me' });
        const gid = newGid('exec-seq');
        await expectGrpcError(
          c().execute({
            gid,
            sequential: true,
            branches: [
              spec(A(), 'slow', payloadOf('1'), 'q1'),
              spec(A(), 'slow', payloadOf('2'), 'q2'),
              spec(B(), 'refuse-me', payloadOf('3'), 'q3'),
            ],
          }),
          S.ABORTED,
          'sequential Execute',
        );
        await waitStatus(gid, ['CANCELLED']);
        await sleep(QUIET_MS);
        const tries = [...A().callsFor('try', gid), ...B().callsFor('try', gid)].sort((x, y) => x.at - y.at);
        expect(tries.map((x) => x.branch_id)).to.deep.equal(['q1', 'q2', 'q3']);
        expect(tries[1].at - tries[0].at, 'q2 is tried only after q1 answered').to.be.at.least(140);
        expect(tries[2].at - tries[1].at, 'q3 is tried only after q2 answered').to.be.at.least(140);
        expect(A().callsFor('cancel', gid).map((x) => x.branch_id)).to.have.members(['q1', 'q2']);
        expect(B().callsFor('cancel', gid)).to.have.length(0);
      });

      it('with sequential=true never calls Try for branches after the first refusal', async function () {
        B().setBehavior('try', 'refuse', { action: 'refuse-me' });
        const gid = newGid('exec-seq-stop');
        await expectGrpcError(
          c().execute({
            gid,
            sequential: true,
            branches: [
              spec(A(), 'debit', payloadOf('1'), 'z1'),
              spec(B(), 'refuse-me', payloadOf('2'), 'z2'),
              spec(A(), 'fee', payloadOf('3'), 'z3'),
            ],
          }),
          S.ABORTED,
          'sequential Execute',
        );
        await waitStatus(gid, ['CANCELLED']);
        await sleep(QUIET_MS);
        expect(A().callsFor('try', gid).map((x) => x.branch_id), 'z3 is never tried').to.deep.equal(['z1']);
        expect(A().callsFor('cancel', gid).map((x) => x.branch_id)).to.include('z1');
        expect(A().callsFor('confirm', gid)).to.have.length(0);
        expect(B().callsFor('cancel', gid)).to.have.length(0);
      });
    });

    // -----------------------------------------------------------------------
    describe('phase two retries', function () {
      it('keeps a failed Confirm PHASE_TWO_PENDING (attempts, last_error) while CONFIRMING and retries it until it succeeds', async function () {
        this.timeout(20_000);
        A().setBehavior('confirm', 'unavailable');
        const { gid } = await prepared([
          [A(), 'debit', payloadOf('ca')],
          [B(), 'credit', payloadOf('cb')],
        ]);
        const r = await c().commit({ gid, wait: false });
        expect(r.status).to.equal('CONFIRMING');
        const idA = A().callsFor('try', gid)[0].branch_id;
        const idB = B().callsFor('try', gid)[0].branch_id;

        await A().waitForCalls(forGid(gid, 'confirm'), 5_000, 2);
        const pending = await pollUntil(
          () => get(gid),
          (t) => branchOf(t, idA).attempts >= 1 && branchOf(t, idA).last_error !== '' && branchOf(t, idB).phase_two === 'PHASE_TWO_DONE',
          'a failed Confirm to be recorded on the branch',
        );
        expect(pending.status).to.equal('CONFIRMING');
        expect(branchOf(pending, idA).phase_two).to.equal('PHASE_TWO_PENDING');
        expect(branchOf(pending, idA).try_outcome).to.equal('TRY_SUCCEEDED');

        A().setBehavior('confirm', 'ok');
        const done = await waitStatus(gid, ['CONFIRMED'], 10_000);
        expect(branchOf(done, idA).phase_two).to.equal('PHASE_TWO_DONE');
        await sleep(QUIET_MS);
        const confirms = A().callsFor('confirm', gid);
        expect(confirms.length).to.be.at.least(2);
        for (const call of confirms) {
          expect(call.branch_id).to.equal(idA);
          expect(call.payload.equals(payloadOf('ca'))).to.equal(true);
        }
        expect(branchOf(await get(gid), idA).attempts).to.equal(confirms.length);
        expect(B().callsFor('confirm', gid)).to.have.length(1);
        expect(A().callsFor('cancel', gid)).to.have.length(0);
      });

      it('keeps a failed Cancel PHASE_TWO_PENDING (attempts, last_error) while CANCELLING and retries it until it succeeds', async function () {
        this.timeout(20_000);
        A().setBehavior('cancel', 'unavailable');
        const { gid } = await prepared([
          [A(), 'debit', payloadOf('xa')],
          [B(), 'credit', payloadOf('xb')],
        ]);
        const r = await c().rollback({ gid, wait: false });
        expect(r.status).to.equal('CANCELLING');
        const idA = A().callsFor('try', gid)[0].branch_id;
        const idB = B().callsFor('try', gid)[0].branch_id;

        await A().waitForCalls(forGid(gid, 'cancel'), 5_000, 2);
        const pending = await pollUntil(
          () => get(gid),
          (t) => branchOf(t, idA).attempts >= 1 && branchOf(t, idA).last_error !== '' && branchOf(t, idB).phase_two === 'PHASE_TWO_DONE',
          'a failed Cancel to be recorded on the branch',
        );
        expect(pending.status).to.equal('CANCELLING');
        expect(branchOf(pending, idA).phase_two).to.equal('PHASE_TWO_PENDING');

        A().setBehavior('cancel', 'ok');
        const done = await waitStatus(gid, ['CANCELLED'], 10_000);
        expect(branchOf(done, idA).phase_two).to.equal('PHASE_TWO_DONE');
        await sleep(QUIET_MS);
        const cancels = A().callsFor('cancel', gid);
        expect(cancels.length).to.be.at.least(2);
        expect(branchOf(await get(gid), idA).attempts).to.equal(cancels.length);
        expect(B().callsFor('cancel', gid)).to.have.length(1);
        expect(A().callsFor('confirm', gid)).to.have.length(0);
      });

      it('a Commit with wait=true whose phase two cannot finish answers by its own deadline and stays CONFIRMING', async function () {
        this.timeout(20_000);
        A().setBehavior('confirm', 'unavailable');
        const { gid } = await prepared([[A(), 'debit', payloadOf('w')]]);
        const t0 = Date.now();
        const outcome = await c().commit({ gid, wait: true }, { deadlineMs: 1_000 }).then(
          (r) => ({ r }),
          (err: unknown) => ({ err }),
        );
        if ('r' in outcome) {
          expect(outcome.r.status, 'answered before phase two finished').to.equal('CONFIRMING');
        } else {
          // Answering nothing before the deadline is acceptable too; the decision still holds.
          expect((outcome.err as grpc.ServiceError).code, String(outcome.err)).to.equal(S.DEADLINE_EXCEEDED);
        }
        expect(Date.now() - t0, 'the answer comes by the call deadline').to.be.below(1_300);
        const tx = await get(gid);
        expect(tx.status).to.equal('CONFIRMING');
        A().setBehavior('confirm', 'ok');
        await waitStatus(gid, ['CONFIRMED'], 10_000);
      });
    });

    // -----------------------------------------------------------------------
    describe('transaction deadline', function () {
      it('rolls back a TRYING transaction past its deadline: Cancel is sent, then Try is FAILED_PRECONDITION and Commit ABORTED', async function () {
        this.timeout(20_000);
        const { gid, deadline_unix_ms } = await c().begin({ timeout_ms: 300 });
        const r = await c().try({ gid, branch: spec(A(), 'debit', payloadOf('dl'), 'dl1') });
        expect(r.branch_id).to.equal('dl1');

        const cancels = await A().waitForCalls((x) => x.gid === gid && x.phase === 'cancel', 10_000);
        expect(cancels[0].branch_id).to.equal('dl1');
        expect(cancels[0].at, 'Cancel only after the deadline').to.be.at.least(Number(deadline_unix_ms) - 5);
        const tx = await waitStatus(gid, ['CANCELLING', 'CANCELLED'], 10_000);
        expect(tx.reason).to.not.equal('');

        await expectGrpcError(
          c().try({ gid, branch: spec(A(), 'debit', payloadOf('late')) }),
          S.FAILED_PRECONDITION,
          'Try after the deadline',
        );
        await expectGrpcError(c().commit({ gid }), S.ABORTED, 'Commit after the deadline');
        await waitStatus(gid, ['CANCELLED']);
        expect(A().callsFor('try', gid)).to.have.length(1);
        expect(A().callsFor('confirm', gid)).to.have.length(0);
      });
    });

    // -----------------------------------------------------------------------
    describe('tcc_logs (GetTransaction.logs)', function () {
      it('after a committed 2-branch transaction holds exactly one try and one confirm row per branch and one decision row', async function () {
        const t0 = Date.now();
        const { gid, ids } = await prepared([
          [A(), 'debit', payloadOf('la')],
          [B(), 'credit', payloadOf('lb')],
        ]);
        await c().commit({ gid, wait: true });
        const t1 = Date.now();
        const tx = await get(gid);
        const logs = tx.logs;
        expect(logs.map((l) => l.phase).sort()).to.deep.equal(['confirm', 'confirm', 'decision', 'try', 'try']);
        for (const id of ids) {
          for (const phase of ['try', 'confirm']) {
            const rows = logs.filter((l) => l.branch_id === id && l.phase === phase);
            expect(rows, `${phase} rows of ${id}`).to.have.length(1);
            const row = rows[0];
            expect(row.outcome, `${phase} ${id}`).to.equal('ok');
            expect(row.grpc_code, `${phase} ${id}`).to.equal(S.OK);
            expect(Number(row.started_unix_ms), `${phase} ${id} started`).to.be.within(t0 - 5, t1 + 5);
            expect(row.duration_ms, `${phase} ${id} duration`).to.be.at.most(t1 - t0 + 5);
            expect(row.node).to.equal(nodeId);
          }
        }
        const decision = logs.filter((l) => l.phase === 'decision');
        expect(decision).to.have.length(1);
        expect(decision[0].outcome).to.equal('commit');
        expect(decision[0].branch_id).to.equal('');
        expect(new Set(logs.map((l) => l.id)).size, 'log ids are unique').to.equal(logs.length);
      });

      it('records refused Trys and the rollback decision', async function () {
        B().setBehavior('try', 'refuse');
        const { gid } = await c().begin({});
        await c().try({ gid, branch: spec(A(), 'debit', payloadOf('1'), 'g1') });
        await expectGrpcError(c().try({ gid, branch: spec(B(), 'credit', payloadOf('2'), 'g2') }), S.ABORTED, 'Try');
        await expectGrpcError(c().commit({ gid }), S.ABORTED, 'Commit');
        const tx = await waitStatus(gid, ['CANCELLED']);
        const refused = tx.logs.filter((l) => l.branch_id === 'g2' && l.phase === 'try');
        expect(refused).to.have.length(1);
        expect(refused[0].outcome).to.equal('refused');
        expect(refused[0].grpc_code).to.equal(S.ABORTED);
        expect(tx.logs.filter((l) => l.phase === 'decision').map((l) => l.outcome)).to.deep.equal(['rollback']);
        expect(tx.logs.filter((l) => l.phase === 'cancel').map((l) => l.branch_id)).to.deep.equal(['g1']);
        expect(tx.logs.filter((l) => l.branch_id === 'g2' && l.phase !== 'try')).to.have.length(0);
      });

      it('holds one row per Confirm attempt when a Confirm fails and is retried', async function () {
        this.timeout(20_000);
        A().setBehavior('confirm', 'unavailable');
        const { gid, ids } = await prepared([
          [A(), 'debit', payloadOf('ra')],
          [B(), 'credit', payloadOf('rb')],
        ]);
        await c().commit({ gid });
        await A().waitForCalls(forGid(gid, 'confirm'), 5_000, 3);
        A().setBehavior('confirm', 'ok');
        await waitStatus(gid, ['CONFIRMED'], 10_000);
        await sleep(QUIET_MS);
        const tx = await get(gid);
        const calls = A().callsFor('confirm', gid);
        const rows = tx.logs.filter((l) => l.branch_id === ids[0] && l.phase === 'confirm');
        expect(rows.length, 'one confirm log row per Confirm call').to.equal(calls.length);
        expect(new Set(rows.map((l) => l.attempt)).size, 'attempt numbers are distinct').to.equal(rows.length);
        const failed = rows.filter((l) => l.grpc_code !== (S.OK as number));
        const ok = rows.filter((l) => l.grpc_code === (S.OK as number));
        expect(ok, 'exactly one successful Confirm row').to.have.length(1);
        expect(ok[0].outcome).to.equal('ok');
        expect(failed.length).to.equal(calls.length - 1);
        for (const row of failed) {
          expect(row.grpc_code).to.equal(S.UNAVAILABLE);
          expect(row.outcome).to.not.equal('ok');
          expect(row.error).to.not.equal('');
          expect(Number(row.started_unix_ms)).to.be.above(0);
        }
        expect(tx.logs.filter((l) => l.branch_id === ids[1] && l.phase === 'confirm')).to.have.length(1);
        expect(tx.logs.filter((l) => l.phase === 'decision')).to.have.length(1);
      });
    });

    // -----------------------------------------------------------------------
    describe('bad input', function () {
      const badGids: Array<[string, string]> = [
        ['empty', ''],
        ['over 128 characters', `t-${'x'.repeat(127)}`],
      ];

      for (const [label, gid] of badGids) {
        it(`answers INVALID_ARGUMENT for a gid ${label} in Try, Commit, Rollback and GetTransaction`, async function () {
          await expectGrpcError(c().try({ gid, branch: spec(A(), 'debit', payloadOf('x')) }), S.INVALID_ARGUMENT, 'Try');
          await expectGrpcError(c().commit({ gid }), S.INVALID_ARGUMENT, 'Commit');
          await expectGrpcError(c().rollback({ gid }), S.INVALID_ARGUMENT, 'Rollback');
          await expectGrpcError(c().getTransaction({ gid }), S.INVALID_ARGUMENT, 'GetTransaction');
          expect(A().callsFor('try', gid)).to.have.length(0);
        });
      }

      it('answers INVALID_ARGUMENT for an Execute gid with illegal characters', async function () {
        await expectGrpcError(
          c().execute({ gid: 'a b/c', branches: [spec(A(), 'debit', payloadOf('x'))] }),
          S.INVALID_ARGUMENT,
          'Execute',
        );
        expect(A().calls.filter((x) => x.gid === 'a b/c')).to.have.length(0);
      });

      it('answers NOT_FOUND for an unknown gid in Try, Commit, Rollback and GetTransaction', async function () {
        const gid = newGid('unknown');
        await expectGrpcError(c().try({ gid, branch: spec(A(), 'debit', payloadOf('x')) }), S.NOT_FOUND, 'Try');
        await expectGrpcError(c().commit({ gid }), S.NOT_FOUND, 'Commit');
        await expectGrpcError(c().rollback({ gid }), S.NOT_FOUND, 'Rollback');
        await expectGrpcError(c().getTransaction({ gid }), S.NOT_FOUND, 'GetTransaction');
      });

      /** Branches that must be refused whole; `p` is filled in at run time. */
      const badBranches = (p: TestParticipant): Array<[string, BranchSpec]> => [
        ['empty participant', { participant: '', action: 'debit', payload: payloadOf('x') }],
        ['participant "not a target"', { participant: 'not a target', action: 'debit', payload: payloadOf('x') }],
        ['participant "host:99999"', { participant: 'host:99999', action: 'debit', payload: payloadOf('x') }],
        ['empty action', { participant: p.target, action: '', payload: payloadOf('x') }],
        ['action over 128 characters', { participant: p.target, action: 'a'.repeat(129), payload: payloadOf('x') }],
        ['branch_id over 128 characters', { branch_id: 'b'.repeat(129), participant: p.target, action: 'debit', payload: payloadOf('x') }],
        [`payload over ${MAX_PAYLOAD_BYTES} bytes`, { participant: p.target, action: 'debit', payload: Buffer.alloc(MAX_PAYLOAD_BYTES + 1, 7) }],
      ];

      it('Try with a bad branch answers INVALID_ARGUMENT, stores no branch and calls no participant', async function () {
        const { gid } = await c().begin({});
        for (const [label, branch] of badBranches(A())) {
          await expectGrpcError(c().try({ gid, branch }), S.INVALID_ARGUMENT, `Try with ${label}`);
        }
        await expectGrpcError(c().try({ gid }), S.INVALID_ARGUMENT, 'Try without a branch');
        const tx = await get(gid);
        expect(tx.status).to.equal('TRYING');
        expect(tx.branches, 'no branch may be stored').to.have.length(0);
        expect(A().calls.filter((x) => x.gid === gid)).to.have.length(0);
        expect(tx.logs.filter((l) => l.phase === 'try')).to.have.length(0);
      });

      it(`Try accepts a payload of exactly ${MAX_PAYLOAD_BYTES} bytes and a 128-character action and branch_id`, async function () {
        const { gid } = await c().begin({});
        const payload = crypto.randomBytes(MAX_PAYLOAD_BYTES);
        const action = 'a'.repeat(128);
        const branchId = 'b'.repeat(128);
        const r = await c().try({ gid, branch: spec(A(), action, payload, branchId) });
        expect(r.branch_id).to.equal(branchId);
        const call = A().callsFor('try', gid)[0];
        expect(call.payload.equals(payload)).to.equal(true);
        expect(call.action).to.equal(action);
        await c().rollback({ gid });
      });

      it(`the Try of a branch beyond TCC_MAX_BRANCHES (${MAX_BRANCHES}) answers INVALID_ARGUMENT and is not stored`, async function () {
        const { gid } = await c().begin({});
        for (let i = 0; i < MAX_BRANCHES; i++) {
          await c().try({ gid, branch: spec(A(), 'debit', payloadOf(`m${i}`), `m${i}`) });
        }
        await expectGrpcError(
          c().try({ gid, branch: spec(A(), 'debit', payloadOf('over'), 'm-over') }),
          S.INVALID_ARGUMENT,
          `Try number ${MAX_BRANCHES + 1}`,
        );
        const tx = await get(gid);
        expect(tx.branches).to.have.length(MAX_BRANCHES);
        expect(A().callsFor('try', gid)).to.have.length(MAX_BRANCHES);
        await c().rollback({ gid });
      });

      it('Execute with a bad branch answers INVALID_ARGUMENT and stores no transaction', async function () {
        for (const [label, branch] of badBranches(A())) {
          const gid = newGid('exec-bad');
          await expectGrpcError(
            c().execute({ gid, branches: [spec(B(), 'credit', payloadOf('fine')), branch] }),
            S.INVALID_ARGUMENT,
            `Execute with ${label}`,
          );
          await expectGrpcError(get(gid), S.NOT_FOUND, `GetTransaction after Execute with ${label}`);
          expect(B().calls.filter((x) => x.gid === gid), `no participant call for ${label}`).to.have.length(0);
        }
      });

      it(`Execute with more than TCC_MAX_BRANCHES (${MAX_BRANCHES}) branches answers INVALID_ARGUMENT and stores nothing`, async function () {
        const gid = newGid('exec-many');
        const branches = Array.from({ length: MAX_BRANCHES + 1 }, (_, i) => spec(A(), 'debit', payloadOf(`${i}`), `n${i}`));
        await expectGrpcError(c().execute({ gid, branches }), S.INVALID_ARGUMENT, 'Execute');
        await expectGrpcError(get(gid), S.NOT_FOUND, 'GetTransaction');
        expect(A().calls.filter((x) => x.gid === gid)).to.have.length(0);
      });

      it('Execute with duplicate branch_ids answers INVALID_ARGUMENT and stores nothing', async function () {
        const gid = newGid('exec-dup');
        await expectGrpcError(
          c().execute({
            gid,
            branches: [spec(A(), 'debit', payloadOf('1'), 'dup'), spec(B(), 'credit', payloadOf('2'), 'dup')],
          }),
          S.INVALID_ARGUMENT,
          'Execute',
        );
        await expectGrpcError(get(gid), S.NOT_FOUND, 'GetTransaction');
        expect(A().calls.filter((x) => x.gid === gid)).to.have.length(0);
        expect(B().calls.filter((x) => x.gid === gid)).to.have.length(0);
      });

      it('Execute with timeout_ms above TCC_MAX_TIMEOUT_MS answers INVALID_ARGUMENT and stores nothing', async function () {
        const gid = newGid('exec-long');
        await expectGrpcError(
          c().execute({ gid, timeout_ms: MAX_TIMEOUT_MS + 1, branches: [spec(A(), 'debit', payloadOf('1'))] }),
          S.INVALID_ARGUMENT,
          'Execute',
        );
        await expectGrpcError(get(gid), S.NOT_FOUND, 'GetTransaction');
        expect(A().calls.filter((x) => x.gid === gid)).to.have.length(0);
      });
    });
  });
});
