import { expect } from 'chai';
import { forEachBackend, createCoordinatorClient, pollUntil, type TestCoordinatorClient } from './helpers/backends';
import { startTestParticipant, type TestParticipant } from './helpers/test-participant';
import { spawnCoordinator, killHard, type CoordinatorProcess } from './helpers/coordinator-process';
import type { Transaction__Output } from '../src/generated/tcc/v1/Transaction';

/*
 * The coordinator process SIGKILLs itself (TCC_FAULT_CRASH_AT) at each step
 * of the protocol, then a fresh process starts on the same database. Every
 * transaction must end CONFIRMED or CANCELLED as its stored decision (or its
 * deadline) says: no Confirm after a rollback decision, no Cancel after a
 * commit decision, and every branch that got a Try gets its Confirm or Cancel.
 */
// Both transports: a SIGKILL cuts the coordinator's Calls streams mid-call, as it cut unary calls.
for (const transport of ['stream', 'unary'] as const) forEachBackend((backend) => {
  describe(`coordinator SIGKILLed at each protocol step, then restarted (${transport} transport)`, function () {
    this.timeout(60_000);
    let participant: TestParticipant;
    let proc: CoordinatorProcess | undefined;
    let client: TestCoordinatorClient | undefined;
    let seq = 0;

    const baseEnv = () => ({
      TCC_DB_URL: backend.url,
      TCC_BRANCH_TIMEOUT_MS: '500',
      TCC_SWEEP_INTERVAL_MS: '100',
      TCC_RETRY_INITIAL_MS: '50',
      TCC_RETRY_MAX_MS: '200',
      TCC_PARTICIPANT_TRANSPORT: transport,
    });

    async function start(crashAt?: string): Promise<TestCoordinatorClient> {
      client?.close();
      proc = await spawnCoordinator(crashAt ? { ...baseEnv(), TCC_FAULT_CRASH_AT: crashAt } : baseEnv());
      client = createCoordinatorClient(proc.address);
      return client;
    }

    /** Waits for the crashing process to die by its own SIGKILL, then starts a clean one. */
    async function crashedThenRestart(): Promise<TestCoordinatorClient> {
      expect(await proc!.exited, 'the process died of SIGKILL at the crash point').to.equal('SIGKILL');
      return start();
    }

    const finished = (c: TestCoordinatorClient, gid: string) =>
      pollUntil(
        () => c.getTransaction({ gid }),
        (x) => x.status === 'CONFIRMED' || x.status === 'CANCELLED',
        `${gid} finished`,
        30_000,
        100,
      );

    /** The invariants of the issue, for one transaction, from what the participant received. */
    function checkInvariants(txn: Transaction__Output): void {
      const calls = (phase: 'try' | 'confirm' | 'cancel') => participant.callsFor(phase, txn.gid);
      const decision = txn.logs.filter((l) => l.phase === 'decision');
      expect(decision, 'exactly one decision row').to.have.length(1);
      if (txn.status === 'CONFIRMED') {
        expect(decision[0].outcome).to.equal('commit');
        expect(calls('cancel'), 'no Cancel after a commit decision').to.have.length(0);
      } else {
        expect(decision[0].outcome).to.equal('rollback');
        expect(calls('confirm'), 'no Confirm after a rollback decision').to.have.length(0);
      }
      const second = txn.status === 'CONFIRMED' ? calls('confirm') : calls('cancel');
      for (const tried of new Set(calls('try').map((c) => c.branch_id))) {
        expect(second.some((c) => c.branch_id === tried), `branch ${tried} got its ${txn.status === 'CONFIRMED' ? 'Confirm' : 'Cancel'}`).to.equal(true);
      }
      for (const b of txn.branches) {
        expect(b.phase_two, `branch ${b.branch_id} finished phase two`).to.be.oneOf(['PHASE_TWO_DONE', 'PHASE_TWO_SKIPPED']);
      }
    }

    const gidFor = (what: string) => `crash-${backend.name}-${what}-${Date.now().toString(36)}-${seq++}`;

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
    after(async () => participant?.stop());

    it('after Begin (row stored, not answered): rolled back at its deadline after restart', async () => {
      const c = await start('after-begin');
      const gid = gidFor('begin');
      const begun = await c.begin({ gid, timeout_ms: 1_000 }).then(
        () => 'answered',
        () => 'lost',
      );
      expect(begun, 'Begin was never answered').to.equal('lost');
      const c2 = await crashedThenRestart();
      const txn = await finished(c2, gid);
      expect(txn.status).to.equal('CANCELLED');
      expect(txn.branches).to.have.length(0);
      checkInvariants(txn);
    });

    it('after the branch is stored, before its Try is sent: the branch gets a Cancel (empty rollback), never a Try', async () => {
      let c = await start('after-register');
      const gid = gidFor('register');
      await c.begin({ gid, timeout_ms: 1_000 });
      const tried = await c.try({ gid, branch: { branch_id: 'b1', participant: participant.target, action: 'hold' } }).then(
        () => 'answered',
        () => 'lost',
      );
      expect(tried).to.equal('lost');
      c = await crashedThenRestart();
      const txn = await finished(c, gid);
      expect(txn.status).to.equal('CANCELLED');
      expect(participant.callsFor('try', gid), 'the Try was never sent').to.have.length(0);
      expect(participant.callsFor('cancel', gid).map((x) => x.branch_id)).to.include('b1');
      checkInvariants(txn);
    });

    it('between Try and decision (Try answered and stored, Try call not answered): cancelled at the deadline', async () => {
      let c = await start('after-try');
      const gid = gidFor('try');
      await c.begin({ gid, timeout_ms: 1_000 });
      await c.try({ gid, branch: { branch_id: 'b1', participant: participant.target, action: 'hold' } }).catch(() => undefined);
      c = await crashedThenRestart();
      const txn = await finished(c, gid);
      expect(txn.status).to.equal('CANCELLED');
      expect(participant.callsFor('try', gid)).to.have.length(1);
      checkInvariants(txn);
    });

    it('an Execute between its Tries and its decision (outcomes not stored): every tried branch is cancelled', async () => {
      let c = await start('after-try');
      const gid = gidFor('execute');
      const t = participant.target;
      await c
        .execute({
          gid,
          timeout_ms: 1_000,
          branches: [
            { participant: t, action: 'debit', payload: Buffer.from('a') },
            { participant: t, action: 'credit', payload: Buffer.from('b') },
          ],
        })
        .catch(() => undefined);
      c = await crashedThenRestart();
      const txn = await finished(c, gid);
      expect(txn.status).to.equal('CANCELLED');
      expect(participant.callsFor('try', gid)).to.have.length(2);
      checkInvariants(txn);
    });

    it('after a commit decision, before any Confirm: finishes CONFIRMED after restart, no Cancel', async () => {
      let c = await start('after-decision');
      const gid = gidFor('commit');
      await c.begin({ gid, timeout_ms: 30_000 });
      await c.try({ gid, branch: { branch_id: 'b1', participant: participant.target, action: 'hold' } });
      await c.try({ gid, branch: { branch_id: 'b2', participant: participant.target, action: 'hold' } });
      await c.commit({ gid }).catch(() => undefined);
      expect(participant.callsFor('confirm', gid), 'no Confirm before the crash').to.have.length(0);
      c = await crashedThenRestart();
      const txn = await finished(c, gid);
      expect(txn.status).to.equal('CONFIRMED');
      checkInvariants(txn);
    });

    it('after a rollback decision, before any Cancel: finishes CANCELLED after restart, no Confirm', async () => {
      let c = await start('after-decision');
      const gid = gidFor('rollback');
      await c.begin({ gid, timeout_ms: 30_000 });
      await c.try({ gid, branch: { branch_id: 'b1', participant: participant.target, action: 'hold' } });
      await c.rollback({ gid }).catch(() => undefined);
      expect(participant.callsFor('cancel', gid)).to.have.length(0);
      c = await crashedThenRestart();
      const txn = await finished(c, gid);
      expect(txn.status).to.equal('CANCELLED');
      checkInvariants(txn);
    });

    it('mid phase two (Confirms answered, outcomes not stored): Confirm is sent again and it finishes CONFIRMED', async () => {
      let c = await start('after-phase-two-calls');
      const gid = gidFor('phase2');
      const t = participant.target;
      await c
        .execute({ gid, branches: [{ participant: t, action: 'debit' }, { participant: t, action: 'credit' }] })
        .catch(() => undefined);
      await participant.waitForCalls((x) => x.phase === 'confirm' && x.gid === gid, 5_000, 2);
      c = await crashedThenRestart();
      const txn = await finished(c, gid);
      expect(txn.status).to.equal('CONFIRMED');
      // The first round's answers were lost with the process: each branch is confirmed again (Confirm is idempotent).
      expect(participant.callsFor('confirm', gid).length).to.be.at.least(4);
      checkInvariants(txn);
    });
  });
});
