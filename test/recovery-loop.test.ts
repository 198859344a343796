import { SqlTransactionOwners } from '../src/store/transaction-owners';
import type { SqlTransactionStore } from '../src/store/sql-transaction-store';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { expect } from 'chai';
import * as grpc from '@grpc/grpc-js';
import { loadConfig } from '../src/config/config';
import { startCoordinator, type RunningCoordinator } from '../src/coordinator';
import { createLogger } from '../src/log/logger';
import {
  createCoordinatorClient,
  expectGrpcError,
  forEachBackend,
  pollUntil,
  sleep,
  type Backend,
  type TestCoordinatorClient,
} from './helpers/backends';
import { startTestParticipant, type TestParticipant } from './helpers/test-participant';

/** A coordinator in this process whose JSON log lines are kept for assertions. */
async function startLoggedCoordinator(
  backend: Backend,
  env: Record<string, string>,
): Promise<{ coordinator: RunningCoordinator; client: TestCoordinatorClient; lines: Record<string, unknown>[] }> {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const config = loadConfig({
    TCC_GRPC_ADDR: '127.0.0.1:0',
    TCC_DB_URL: backend.url,
    TCC_LOG_LEVEL: 'info',
    TCC_BRANCH_TIMEOUT_MS: '1000',
    TCC_SWEEP_INTERVAL_MS: '200',
    ...env,
  });
  const coordinator = await startCoordinator(config, { logger: createLogger({ level: 'info', node: config.nodeId, destination }) });
  return { coordinator, client: createCoordinatorClient(coordinator.address), lines };
}

async function scrape(address: string): Promise<string> {
  const res = await fetch(`http://${address}/metrics`);
  expect(res.status).to.equal(200);
  return res.text();
}

function metricValue(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

/** An HTTP endpoint that records the JSON bodies POSTed to it. */
async function startWebhook(): Promise<{ url: string; bodies: Record<string, unknown>[]; close(): Promise<void> }> {
  const bodies: Record<string, unknown>[] = [];
  const server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (d: Buffer) => (data += d.toString()));
    req.on('end', () => {
      bodies.push(JSON.parse(data) as Record<string, unknown>);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/alerts`,
    bodies,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

forEachBackend((backend) => {
  describe('recovery loop', function () {
    this.timeout(60_000);
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

    it('rolls back an abandoned TRYING transaction within its deadline plus one sweep interval, and cancels its branches', async () => {
      const started = await startLoggedCoordinator(backend, { TCC_SWEEP_INTERVAL_MS: '200' });
      running = started.coordinator;
      client = started.client;
      const { gid, deadline_unix_ms } = await client.begin({ timeout_ms: 1_000 });
      await client.try({ gid, branch: { branch_id: 'b1', participant: participant.target, action: 'hold' } });
      const txn = await pollUntil(() => client!.getTransaction({ gid }), (x) => x.status === 'CANCELLED', 'CANCELLED', 10_000, 50);
      const decision = txn.logs.find((l) => l.phase === 'decision');
      expect(decision?.outcome).to.equal('rollback');
      expect(txn.reason).to.match(/deadline/);
      const late = Number(decision!.started_unix_ms) - Number(deadline_unix_ms);
      expect(late, 'decided at or after the deadline').to.be.at.least(0);
      // One sweep interval, plus what one sweep takes to find and write it on a loaded 2-core machine.
      expect(late, `decided ${late} ms after the deadline`).to.be.at.most(200 + 250);
      expect(participant.callsFor('cancel', gid).map((c) => c.branch_id)).to.deep.equal(['b1']);
      expect(participant.callsFor('confirm', gid)).to.have.length(0);
    });

    it('retries a failing Confirm at growing intervals, flags the transaction stuck (log, counter, webhook) and clears it once the participant recovers', async () => {
      const webhook = await startWebhook();
      try {
        const started = await startLoggedCoordinator(backend, {
          TCC_RETRY_INITIAL_MS: '100',
          TCC_RETRY_MAX_MS: '800',
          TCC_STUCK_AFTER_ATTEMPTS: '3',
          TCC_ALERT_WEBHOOK_URL: webhook.url,
          TCC_METRICS_ADDR: '127.0.0.1:0',
        });
        running = started.coordinator;
        client = started.client;
        participant.setBehavior('confirm', 'unavailable');
        const txn = await client.execute({ branches: [{ branch_id: 'b1', participant: participant.target, action: 'pay' }] });
        expect(txn.status).to.equal('CONFIRMING');
        const calls = await participant.waitForCalls((c) => c.phase === 'confirm' && c.gid === txn.gid, 15_000, 7);

        // Delays double from 100 ms (jitter takes off up to half), capped at 800 ms.
        const gaps = calls.slice(1).map((c, i) => c.at - calls[i].at);
        gaps.forEach((gap, i) => {
          const exp = Math.min(800, 100 * 2 ** i);
          expect(gap, `gap ${i + 1} (${gaps.join(', ')} ms)`).to.be.within(exp / 2 - 5, exp + 250);
        });
        expect(gaps[3], 'the 4th gap is several times the 1st').to.be.greaterThan(gaps[0] * 2);

        const stuck = await pollUntil(() => client!.getTransaction({ gid: txn.gid }), (x) => x.stuck, 'stuck flag', 5_000);
        expect(stuck.status).to.equal('CONFIRMING');
        expect(stuck.last_error).to.match(/UNAVAILABLE/);
        const line = started.lines.find((l) => /transaction stuck/.test(String(l.msg)));
        expect(line, 'a warning line for the stuck transaction').to.not.equal(undefined);
        expect(line).to.include({ level: 'warn', gid: txn.gid, branch_id: 'b1' });
        expect(String(line!.last_error)).to.match(/UNAVAILABLE/);
        await pollUntil(async () => webhook.bodies.length, (n) => n >= 1, 'webhook POST', 5_000);
        expect(webhook.bodies).to.have.length(1);
        expect(webhook.bodies[0]).to.include({ event: 'transaction.stuck', gid: txn.gid, branch_id: 'b1', status: 'CONFIRMING' });
        expect(Number(webhook.bodies[0].attempts)).to.be.at.least(3);
        const metrics = await scrape(running.metricsAddress!);
        expect(metricValue(metrics, 'tcc_transactions_stuck_total')).to.equal(1);
        expect(metricValue(metrics, 'tcc_alert_webhook_posts_total{result="ok"}')).to.equal(1);

        participant.resetBehaviors();
        const done = await pollUntil(() => client!.getTransaction({ gid: txn.gid }), (x) => x.status === 'CONFIRMED', 'CONFIRMED', 10_000);
        expect(done.stuck, 'stuck cleared when it finished').to.equal(false);
        expect(done.branches[0].phase_two).to.equal('PHASE_TWO_DONE');
        expect(done.branches[0].attempts).to.be.at.least(8);
        // Flagged once: no second alert for the same transaction.
        expect(webhook.bodies).to.have.length(1);
        const after = await scrape(running.metricsAddress!);
        expect(metricValue(after, 'tcc_transactions_finished_total{status="CONFIRMED"}')).to.equal(1);
      } finally {
        await webhook.close();
      }
    });

    it('keeps retrying when the alert webhook is down: the alert fails, the transaction still finishes', async () => {
      const started = await startLoggedCoordinator(backend, {
        TCC_RETRY_INITIAL_MS: '50',
        TCC_RETRY_MAX_MS: '100',
        TCC_STUCK_AFTER_ATTEMPTS: '2',
        // Nothing listens on port 9 here: the POST fails at once.
        TCC_ALERT_WEBHOOK_URL: 'http://127.0.0.1:9/alerts',
        TCC_METRICS_ADDR: '127.0.0.1:0',
      });
      running = started.coordinator;
      client = started.client;
      participant.setBehavior('cancel', 'internal');
      const { gid } = await client.begin({});
      await client.try({ gid, branch: { participant: participant.target, action: 'hold' } });
      await client.rollback({ gid });
      await pollUntil(() => client!.getTransaction({ gid }), (x) => x.stuck, 'stuck', 10_000);
      await pollUntil(() => scrape(running!.metricsAddress!), (m) => metricValue(m, 'tcc_alert_webhook_posts_total{result="failed"}') === 1, 'failed alert counted', 5_000);
      participant.resetBehaviors();
      const done = await pollUntil(() => client!.getTransaction({ gid }), (x) => x.status === 'CANCELLED', 'CANCELLED', 10_000);
      expect(done.stuck).to.equal(false);
    });

    it('limits recovery calls per participant target, and every transaction still finishes', async () => {
      const started = await startLoggedCoordinator(backend, {
        TCC_RETRY_INITIAL_MS: '50',
        TCC_RETRY_MAX_MS: '200',
        TCC_RECOVERY_CONCURRENCY_PER_TARGET: '2',
        TCC_METRICS_ADDR: '127.0.0.1:0',
      });
      running = started.coordinator;
      client = started.client;
      const t = participant.target;
      participant.setBehavior('confirm', 'unavailable');
      const gids: string[] = [];
      for (let i = 0; i < 12; i++) {
        const txn = await client.execute({ branches: [{ participant: t, action: 'a' }, { participant: t, action: 'b' }] });
        gids.push(txn.gid);
      }
      // The participant comes back, slow: without a limit, recovery would send it all 24 Confirms at once.
      participant.resetMaxInFlight();
      participant.setBehavior('confirm', 'ok', { delayMs: 400 });
      for (const gid of gids) {
        await pollUntil(() => client!.getTransaction({ gid }), (x) => x.status === 'CONFIRMED', `${gid} CONFIRMED`, 30_000, 50);
      }
      expect(participant.maxInFlight('confirm'), 'most Confirms in flight at once').to.equal(2);
      // Recovery claims only what the limit can run now (it reserves the slots when it claims): the rest
      // waits unclaimed, nothing piles up. Every slot, used or only reserved, is given back.
      // (Deferral of a call that finds the target full is pinned in recovery-rules.test.ts.)
      const metrics = await scrape(running.metricsAddress!);
      expect(metricValue(metrics, 'tcc_recovery_calls_in_flight')).to.equal(0);
      expect(running.engine.limiter.inFlight(t)).to.equal(0);
    });

    it('retention deletes finished transactions past the age in batches, with their branches and logs, and keeps the rest', async () => {
      const started = await startLoggedCoordinator(backend, {
        TCC_RETENTION_MS: '1000',
        TCC_RETENTION_BATCH: '2',
        TCC_RETRY_INITIAL_MS: '1000',
        TCC_RETRY_MAX_MS: '1000',
      });
      running = started.coordinator;
      client = started.client;
      const t = participant.target;
      const finished: string[] = [];
      for (let i = 0; i < 5; i++) {
        const txn = await client.execute({ branches: [{ participant: t, action: 'x' }], wait: true });
        expect(txn.status).to.equal('CONFIRMED');
        finished.push(txn.gid);
      }
      const { gid: trying } = await client.begin({ timeout_ms: 60_000 });
      participant.setBehavior('confirm', 'unavailable', { action: 'never-confirms' });
      const pending = (await client.execute({ branches: [{ participant: t, action: 'never-confirms' }] })).gid;
      await sleep(1_100);
      const recent = (await client.execute({ branches: [{ participant: t, action: 'x' }], wait: true })).gid;

      const store = running.engine.store;
      // Earlier tests of this suite left finished transactions in the same database: all of them are past the age too.
      const old = (await store.listTransactions({ statuses: ['CONFIRMED', 'CANCELLED'], limit: 1_000 })).filter((x) => x.gid !== recent);
      expect(old.map((x) => x.gid)).to.include.members(finished);
      // Under client authentication each transaction also has an owner row: it goes with its transaction.
      const owners = new SqlTransactionOwners((store as SqlTransactionStore).knex);
      await owners.claim(finished[0], 'alice', Date.now());
      await owners.claim(recent, 'alice', Date.now());
      const deleted = await running.retention.runOnce();
      expect(deleted).to.equal(old.length);
      expect((await store.listTransactions({ statuses: ['CONFIRMED', 'CANCELLED'], limit: 1_000 })).map((x) => x.gid)).to.deep.equal([recent]);
      for (const gid of finished) {
        await expectGrpcError(client.getTransaction({ gid }), grpc.status.NOT_FOUND, `finished ${gid}`);
        expect(await running.engine.store.getBranches(gid)).to.deep.equal([]);
        expect(await running.engine.store.getLogs(gid)).to.deep.equal([]);
      }
      expect(await owners.ownerOf(finished[0]), 'owner row of a deleted transaction').to.equal(undefined);
      expect(await owners.ownerOf(recent), 'owner row of a kept transaction').to.equal('alice');
      expect((await client.getTransaction({ gid: trying })).status).to.equal('TRYING');
      expect((await client.getTransaction({ gid: pending })).status).to.equal('CONFIRMING');
      expect((await client.getTransaction({ gid: recent })).status, 'finished, but younger than the retention age').to.equal('CONFIRMED');
      expect(await running.retention.runOnce(), 'nothing left to delete').to.equal(0);
    });
  });
});
