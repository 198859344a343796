import { expect } from 'chai';
import type { RunningCoordinator } from '../src/coordinator';
import { chunk, chunkIds, mysqlLimits, SQLITE_LIMITS } from '../src/store/chunked-insert';
import { createCoordinatorClient, forEachBackend, pollUntil, startTestCoordinator, type TestCoordinatorClient } from './helpers/backends';
import { startTestParticipant, type TestParticipant } from './helpers/test-participant';

/*
 * Every multi-row write stays within the backend's limits: SQLite writes a
 * knex multi-row insert as one compound SELECT (at most 500 terms), MySQL
 * takes at most max_allowed_packet per statement.
 */
describe('chunked multi-row statements', function () {
  it('splits by row count, bound values and bytes, in order', function () {
    const rows = Array.from({ length: 1_201 }, (_, i) => i);
    const parts = chunk(rows, SQLITE_LIMITS, () => ({ values: 14, bytes: 100 }));
    expect(parts.map((p) => p.length)).to.deep.equal([500, 500, 201]);
    expect(parts.flat()).to.deep.equal(rows);
    const byValues = chunk(rows, { maxRows: 10_000, maxValues: 100, maxBytes: 1e9 }, () => ({ values: 11, bytes: 1 }));
    expect(byValues.every((p) => p.length * 11 <= 100)).to.equal(true);
    const byBytes = chunk(rows, { maxRows: 10_000, maxValues: 1e9, maxBytes: 1_000 }, () => ({ values: 1, bytes: 300 }));
    expect(byBytes.every((p) => p.length === 3 || p === byBytes[byBytes.length - 1])).to.equal(true);
    // One row over the byte limit goes alone rather than never.
    expect(chunk([1, 2], { maxRows: 10, maxValues: 10, maxBytes: 10 }, () => ({ values: 1, bytes: 50 }))).to.deep.equal([[1], [2]]);
    expect(chunkIds(rows.map(String), SQLITE_LIMITS).every((p) => p.length <= 500)).to.equal(true);
  });

  it('sizes MySQL statements from max_allowed_packet (values travel hex-escaped)', function () {
    const l = mysqlLimits(16 * 1024 * 1024);
    expect(l.maxBytes * 2 + 64 * 1024).to.be.at.most(16 * 1024 * 1024);
    // 4 MiB payloads (TCC_MAX_PAYLOAD_BYTES's maximum) go one per statement under the default packet.
    const parts = chunk([1, 2, 3], l, () => ({ values: 14, bytes: 4 * 1024 * 1024 }));
    expect(parts.map((p) => p.length)).to.deep.equal([1, 1, 1]);
  });
});

forEachBackend((backend) => {
  describe('a transaction with 600 branches', function () {
    this.timeout(180_000);
    let coordinator: RunningCoordinator;
    let client: TestCoordinatorClient;
    let participant: TestParticipant;

    before(async () => {
      participant = await startTestParticipant();
      coordinator = await startTestCoordinator(backend, { TCC_MAX_BRANCHES: '1000', TCC_BRANCH_TIMEOUT_MS: '20000' });
      client = createCoordinatorClient(coordinator.address, 150_000);
    });
    after(async () => {
      client.close();
      await coordinator.shutdown();
      await participant.stop();
    });

    it('Execute ends CONFIRMED with 600 Confirms, every branch done', async () => {
      const branches = Array.from({ length: 600 }, (_, i) => ({
        branch_id: `b${i}`,
        participant: participant.target,
        action: 'reserve',
        payload: Buffer.alloc(64, i % 256),
      }));
      const res = await client.execute({ timeout_ms: 120_000, branches, wait: true });
      const done =
        res.status === 'CONFIRMED'
          ? await client.getTransaction({ gid: res.gid })
          : await pollUntil(() => client.getTransaction({ gid: res.gid }), (t) => t.status === 'CONFIRMED', 'CONFIRMED', 60_000, 200);
      expect(done.status).to.equal('CONFIRMED');
      expect(done.branches).to.have.length(600);
      expect(done.branches.every((b) => b.phase_two === 'PHASE_TWO_DONE')).to.equal(true);
      const confirms = participant.callsFor('confirm', res.gid);
      expect(new Set(confirms.map((c) => c.branch_id)).size).to.equal(600);
      expect(confirms).to.have.length(600);
      expect(done.logs.filter((l) => l.phase === 'confirm')).to.have.length(600);
    });
  });
});
