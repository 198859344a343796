import { expect } from 'chai';
import knexFactory, { type Knex } from 'knex';
import type { RunningCoordinator } from '../src/coordinator';
import { knexConfigFor } from '../src/store/create-store';
import { createCoordinatorClient, forEachBackend, pollUntil, startTestCoordinator, type Backend, type TestCoordinatorClient } from './helpers/backends';
import { startTestParticipant, type TestParticipant } from './helpers/test-participant';

/** Makes the database itself refuse every Confirm/Cancel log row: a round's write then fails as a whole, on the server. */
async function refuseRoundLogRows(db: Knex, backend: Backend): Promise<void> {
  if (backend.name === 'sqlite') {
    await db.raw(
      `CREATE TRIGGER refuse_round_logs BEFORE INSERT ON tcc_logs WHEN NEW.phase IN ('confirm', 'cancel') BEGIN SELECT RAISE(ABORT, 'refused by test'); END`,
    );
  } else {
    await db.raw(
      `CREATE TRIGGER refuse_round_logs BEFORE INSERT ON tcc_logs FOR EACH ROW BEGIN ` +
        `IF NEW.phase IN ('confirm', 'cancel') THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused by test'; END IF; END`,
    );
  }
}

forEachBackend((backend) => {
  describe('a phase-two round whose write fails', function () {
    this.timeout(60_000);
    let participant: TestParticipant;
    let running: RunningCoordinator | undefined;
    let client: TestCoordinatorClient | undefined;
    let db: Knex | undefined;

    before(async () => {
      participant = await startTestParticipant();
    });
    afterEach(async () => {
      client?.close();
      client = undefined;
      await running?.shutdown();
      running = undefined;
      await db?.destroy();
      db = undefined;
    });
    after(async () => participant?.stop());

    it('still advances attempts and the stuck flag, and releases its claim, by a write of the transaction row alone', async () => {
      running = await startTestCoordinator(backend, {
        TCC_STUCK_AFTER_ATTEMPTS: '3',
        TCC_RETRY_INITIAL_MS: '50',
        TCC_RETRY_MAX_MS: '300',
        TCC_SWEEP_INTERVAL_MS: '200',
      });
      client = createCoordinatorClient(running.address);
      db = knexFactory(knexConfigFor(backend.url, 1).config);
      await refuseRoundLogRows(db, backend);
      participant.setBehavior('confirm', 'unavailable');
      const t = await client.execute({ branches: [{ branch_id: 'b1', participant: participant.target, action: 'pay' }] });
      expect(t.status).to.equal('CONFIRMING');

      // Flagged stuck after 3 rounds, each due within 300 ms of the last: a claim held for its whole
      // lease (2 x 1 s + 5 s) per round instead of released would take 14 s.
      const stuck = await pollUntil(() => client!.getTransaction({ gid: t.gid }), (x) => x.stuck, 'stuck flag', 6_000, 50);
      expect(stuck.status).to.equal('CONFIRMING');
      expect(stuck.attempts).to.be.at.least(3);
      expect(stuck.last_error).to.match(/UNAVAILABLE/);
      // The round's own write never landed: no confirm log row, the branch's attempts unchanged.
      expect(stuck.logs.filter((l) => l.phase === 'confirm')).to.have.length(0);
      expect(stuck.branches[0].attempts).to.equal(0);
      expect(participant.callsFor('confirm', t.gid).length).to.be.at.least(3);

      // Once the writes work again, the transaction finishes and the flag goes.
      await db.raw('DROP TRIGGER refuse_round_logs');
      participant.resetBehaviors();
      const done = await pollUntil(() => client!.getTransaction({ gid: t.gid }), (x) => x.status === 'CONFIRMED', 'CONFIRMED', 15_000, 50);
      expect(done.stuck).to.equal(false);
    });
  });
});
