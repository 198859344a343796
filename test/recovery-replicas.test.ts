import { expect } from 'chai';
import { createCoordinatorClient, onMariadb, pollUntil, sleep, type TestCoordinatorClient } from './helpers/backends';
import { startTestParticipant, type TestParticipant } from './helpers/test-participant';
import { spawnCoordinator, killHard, type CoordinatorProcess } from './helpers/coordinator-process';
import type { Transaction__Output } from '../src/generated/tcc/v1/Transaction';

/*
 * Several coordinator processes share one MariaDB database while a
 * participant is down for a while (phase two keeps failing and is retried by
 * recovery on whichever replica claims it); one replica is SIGKILLed mid-run.
 * Every transaction must still finish the way it was decided, and tcc_logs
 * must show that no transaction was ever worked by two replicas at once.
 */

/** Phase-two calls of one transaction overlapping in time on two different nodes, from its tcc_logs rows. */
function overlappingWork(txn: Transaction__Output): string[] {
  const rows = txn.logs
    .filter((l) => l.phase === 'confirm' || l.phase === 'cancel')
    .map((l) => ({ node: l.node, start: Number(l.started_unix_ms), end: Number(l.started_unix_ms) + l.duration_ms, branch: l.branch_id }));
  const out: string[] = [];
  for (let i = 0; i < rows.length; i++) {
    for (let j = i + 1; j < rows.length; j++) {
      const a = rows[i];
      const b = rows[j];
      if (a.node !== b.node && a.start < b.end && b.start < a.end) {
        out.push(`${txn.gid}: ${a.node} [${a.start}, ${a.end}] ${a.branch} overlaps ${b.node} [${b.start}, ${b.end}] ${b.branch}`);
      }
    }
  }
  return out;
}

function replicaSuite(replicaCount: number): void {
  onMariadb((backend) => {
    describe(`${replicaCount} replicas on one MariaDB, one SIGKILLed mid-run, participant down for a while`, function () {
      this.timeout(120_000);
      let participant: TestParticipant;
      const procs: CoordinatorProcess[] = [];
      const clients: TestCoordinatorClient[] = [];

      before(async function () {
        this.timeout(90_000);
        participant = await startTestParticipant();
        for (let i = 0; i < replicaCount; i++) {
          const p = await spawnCoordinator({
            TCC_DB_URL: backend.url,
            TCC_NODE_ID: `replica-${i}`,
            TCC_BRANCH_TIMEOUT_MS: '300',
            TCC_SWEEP_INTERVAL_MS: '100',
            TCC_RETRY_INITIAL_MS: '50',
            TCC_RETRY_MAX_MS: '400',
          });
          procs.push(p);
          clients.push(createCoordinatorClient(p.address, 5_000));
        }
      });

      after(async () => {
        for (const c of clients) c.close();
        for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) await killHard(p);
        await participant?.stop();
      });

      it('every transaction finishes as decided, every tried branch gets its phase two, and no transaction is worked by two replicas at once', async () => {
        const t = participant.target;
        participant.setBehavior('confirm', 'unavailable');
        participant.setBehavior('cancel', 'unavailable');
        const gids: string[] = [];
        const pick = (i: number) => clients[i % clients.length];
        const work: Promise<unknown>[] = [];
        for (let i = 0; i < 36; i++) {
          const c = pick(i);
          const gid = `rep${replicaCount}-${Date.now().toString(36)}-${i}`;
          gids.push(gid);
          const branches = [
            { participant: t, action: 'debit', payload: Buffer.from(`d${i}`) },
            { participant: t, action: 'credit', payload: Buffer.from(`c${i}`) },
          ];
          // Three shapes: committed by Execute, rolled back by the client, abandoned (rolled back at the deadline).
          const kind = i % 3;
          if (kind === 0) work.push(c.execute({ gid, branches }).catch(() => undefined));
          else {
            work.push(
              (async () => {
                await c.begin({ gid, timeout_ms: kind === 2 ? 800 : 30_000 });
                await c.try({ gid, branch: branches[0] });
                await pick(i + 1).try({ gid, branch: branches[1] });
                if (kind === 1) await pick(i + 2).rollback({ gid });
              })().catch(() => undefined),
            );
          }
        }
        await Promise.all(work);
        // Recovery rounds are now failing on every replica; kill one of them in the middle of it.
        await sleep(600);
        const victim = procs[replicaCount - 1];
        await killHard(victim);
        await sleep(800);
        participant.resetBehaviors();

        const survivor = clients[0];
        const finals: Transaction__Output[] = [];
        for (const gid of gids) {
          const txn = await pollUntil(
            () => survivor.getTransaction({ gid }),
            (x) => x.status === 'CONFIRMED' || x.status === 'CANCELLED',
            `${gid} finished`,
            60_000,
            100,
          ).catch(async (err: unknown) => {
            // A Begin lost with the killed replica before it stored anything leaves no transaction: nothing to finish.
            const e = err as Error;
            if (/NOT_FOUND/.test(e.message)) return undefined;
            throw err;
          });
          if (txn) finals.push(txn);
        }
        expect(finals.length, 'transactions that exist').to.be.at.least(gids.length - 3);

        let workedBySeveral = 0;
        for (const txn of finals) {
          const decision = txn.logs.filter((l) => l.phase === 'decision');
          expect(decision, `${txn.gid}: one decision`).to.have.length(1);
          const confirms = participant.callsFor('confirm', txn.gid);
          const cancels = participant.callsFor('cancel', txn.gid);
          if (txn.status === 'CONFIRMED') {
            expect(cancels, `${txn.gid}: no Cancel after commit`).to.have.length(0);
            expect(decision[0].outcome).to.equal('commit');
          } else {
            expect(confirms, `${txn.gid}: no Confirm after rollback`).to.have.length(0);
            expect(decision[0].outcome).to.equal('rollback');
          }
          const second = txn.status === 'CONFIRMED' ? confirms : cancels;
          for (const b of new Set(participant.callsFor('try', txn.gid).map((c) => c.branch_id))) {
            expect(second.some((c) => c.branch_id === b && c.gid === txn.gid), `${txn.gid}/${b} got its phase two`).to.equal(true);
          }
          expect(overlappingWork(txn), 'phase-two calls of two replicas overlapping in time').to.deep.equal([]);
          const nodes = new Set(txn.logs.filter((l) => l.phase === 'confirm' || l.phase === 'cancel').map((l) => l.node));
          if (nodes.size > 1) workedBySeveral++;
        }
        // The check above means something only if work did move between replicas.
        expect(workedBySeveral, 'transactions whose phase two was worked by more than one replica (in turn)').to.be.at.least(1);
        expect(finals.some((x) => x.status === 'CONFIRMED')).to.equal(true);
        expect(finals.some((x) => x.reason.includes('deadline'))).to.equal(true);
      });
    });
  });
}

replicaSuite(2);
replicaSuite(3);
