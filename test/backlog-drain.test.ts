import { expect } from 'chai';
import type { RunningCoordinator } from '../src/coordinator';
import { createCoordinatorClient, forEachBackend, pollUntil, startTestCoordinator, type TestCoordinatorClient } from './helpers/backends';
import { startTestParticipant, type TestParticipant } from './helpers/test-participant';

const BACKLOG = 40;
const PER_TARGET = 4;
const SWEEP_MS = 5_000;

/**
 * A backlog of decided transactions drains at the pace its participant
 * answers once it is back (issue 9), not one sweep's worth of rounds (the
 * per-target limit) per sweep interval: here 40 transactions at 4 a time
 * would take ten 5-second sweeps.
 */
forEachBackend((backend) => {
  describe('backlog drain', function () {
    this.timeout(120_000);
    let participant: TestParticipant;
    let running: RunningCoordinator | undefined;
    let client: TestCoordinatorClient | undefined;

    before(async () => {
      participant = await startTestParticipant();
    });
    after(async () => {
      client?.close();
      await running?.shutdown();
      await participant?.stop();
    });

    it(`confirms ${BACKLOG} transactions waiting on a participant that came back in a few sweep intervals, not ten, ${PER_TARGET} calls at a time`, async () => {
      running = await startTestCoordinator(backend, {
        TCC_SWEEP_INTERVAL_MS: String(SWEEP_MS),
        TCC_RETRY_INITIAL_MS: '100',
        TCC_RETRY_MAX_MS: '200',
        TCC_RECOVERY_CONCURRENCY_PER_TARGET: String(PER_TARGET),
        TCC_SHUTDOWN_GRACE_MS: '1000',
      });
      client = createCoordinatorClient(running.address, 30_000);
      participant.setBehavior('confirm', 'unavailable');
      const gids: string[] = [];
      for (let i = 0; i < BACKLOG; i++) {
        const t = await client.execute({ branches: [{ branch_id: 'b1', participant: participant.target, action: 'pay' }] });
        expect(t.status).to.equal('CONFIRMING');
        gids.push(t.gid);
      }
      // Every one has failed a Confirm: the backlog is due for recovery.
      await participant.waitForCalls((c) => c.phase === 'confirm', 30_000, BACKLOG);
      await pollUntil(
        () => Promise.all(gids.map((gid) => client!.getTransaction({ gid }))),
        (all) => all.every((t) => t.branches[0].attempts >= 1),
        'a failed Confirm recorded for each',
        30_000,
        50,
      );

      participant.setBehavior('confirm', 'ok');
      const back = Date.now();
      await pollUntil(
        () => Promise.all(gids.map((gid) => client!.getTransaction({ gid }))),
        (all) => all.every((t) => t.status === 'CONFIRMED'),
        'all CONFIRMED',
        60_000,
        50,
      );
      const drainedMs = Date.now() - back;
      // Without the early sweeps: about ten sweep intervals (50 s). One interval may be lost to a
      // sweep that started while the last rounds ended (see the note on issue 9).
      expect(drainedMs, `drained in ${drainedMs} ms`).to.be.below(3 * SWEEP_MS);
    });
  });
});

const TAKEOVER_BACKLOG = 40;
const TAKEOVER_PER_TARGET = 2;

/** The value of one series in the Prometheus text, 0 when absent. */
function seriesValue(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

/**
 * A backlog drains by sweeps that freed slots wake, tens a second, each
 * claiming a few transactions (the per-target limit). Those sweeps claim from
 * the page of due rows already read and skip the deadline scan until half a
 * sweep interval has passed: without that, every one of them read the due
 * page again and ran the deadline query (issue 9: per-sweep queries were the
 * recovery's own cost per drained transaction).
 */
forEachBackend((backend) => {
  describe('backlog drain: queries per sweep', function () {
    this.timeout(120_000);
    let participant: TestParticipant;
    let running: RunningCoordinator | undefined;
    let client: TestCoordinatorClient | undefined;
    const env = {
      TCC_SWEEP_INTERVAL_MS: String(SWEEP_MS),
      TCC_RETRY_INITIAL_MS: '100',
      TCC_RETRY_MAX_MS: '200',
      TCC_RECOVERY_CONCURRENCY_PER_TARGET: String(TAKEOVER_PER_TARGET),
      TCC_SHUTDOWN_GRACE_MS: '1000',
    };

    before(async () => {
      participant = await startTestParticipant();
    });
    after(async () => {
      client?.close();
      await running?.shutdown();
      await participant?.stop();
    });

    it(`a coordinator taking over ${TAKEOVER_BACKLOG} due transactions, ${TAKEOVER_PER_TARGET} calls at a time, reads the due page a few times, not once per sweep`, async () => {
      running = await startTestCoordinator(backend, env);
      client = createCoordinatorClient(running.address, 30_000);
      participant.setBehavior('confirm', 'unavailable');
      const gids: string[] = [];
      for (let i = 0; i < TAKEOVER_BACKLOG; i++) {
        const t = await client.execute({ branches: [{ branch_id: 'b1', participant: participant.target, action: 'pay' }] });
        gids.push(t.gid);
      }
      await pollUntil(
        () => Promise.all(gids.map((gid) => client!.getTransaction({ gid }))),
        (all) => all.every((t) => t.branches[0].attempts >= 1),
        'a failed Confirm recorded for each',
        30_000,
        50,
      );
      client.close();
      await running.shutdown();

      // A fresh process (its own metrics) finds the whole backlog due once Confirm works.
      participant.setBehavior('confirm', 'ok');
      const started = Date.now();
      running = await startTestCoordinator(backend, env);
      client = createCoordinatorClient(running.address, 30_000);
      await pollUntil(
        () => Promise.all(gids.map((gid) => client!.getTransaction({ gid }))),
        (all) => all.every((t) => t.status === 'CONFIRMED'),
        'all CONFIRMED',
        60_000,
        50,
      );
      const elapsedMs = Date.now() - started;
      const text = await running.engine.metrics.registry.metrics();
      const phaseTwoQueries = seriesValue(text, 'tcc_recovery_due_queries_total{kind="phase_two"}');
      const deadlineQueries = seriesValue(text, 'tcc_recovery_due_queries_total{kind="deadline"}');
      const sweeps = seriesValue(text, 'tcc_recovery_sweeps_total{result="ok"}');
      const detail = `${phaseTwoQueries} phase-two and ${deadlineQueries} deadline queries in ${sweeps} sweeps over ${elapsedMs} ms`;
      // Freed slots wake a sweep per 2 claims, about 20, each of which read the page before. A
      // sweep may claim a few more when a round ends while it awaits a claim (19 seen): half that
      // still shows reading once per sweep (at least 10) over the bound below (5).
      expect(sweeps, detail).to.be.at.least(TAKEOVER_BACKLOG / TAKEOVER_PER_TARGET / 2);
      expect(phaseTwoQueries, detail).to.be.at.most(TAKEOVER_BACKLOG / TAKEOVER_PER_TARGET / 4);
      // Twice per sweep interval at most (and the first sweep's).
      expect(deadlineQueries, detail).to.be.at.most(1 + Math.ceil(elapsedMs / (SWEEP_MS / 2)));
    });
  });
});
