/**
 * Metrics: prom-client registry served at /metrics; under load against a
 * real coordinator (SQLite and MariaDB) and two real participants, every
 * metric of issue 12 is present with its labels and moves.
 */
import { expect } from 'chai';
import { Counter, Registry } from 'prom-client';
import type { RunningCoordinator } from '../src/coordinator';
import { createCoordinatorMetrics } from '../src/metrics/coordinator-metrics';
import { startMetricsServer } from '../src/metrics/metrics-server';
import { OTHER_PARTICIPANT, ParticipantLabels } from '../src/metrics/participant-labels';
import { StatsCache } from '../src/metrics/stats-cache';
import { createCoordinatorClient, forEachBackend, pollUntil, startTestCoordinator, type TestCoordinatorClient } from './helpers/backends';
import { parsePrometheusText, type Scrape } from './helpers/prometheus-text';
import { startTestParticipant, type TestParticipant } from './helpers/test-participant';

/** Every counter the hand-written registry had: names are binding (dashboards and alerts outside the repo use them). */
const EXISTING_COUNTERS = [
  'tcc_decisions_total',
  'tcc_transactions_finished_total',
  'tcc_participant_calls_total',
  'tcc_phase_two_calls_deferred_total',
  'tcc_transactions_stuck_total',
  'tcc_alert_webhook_posts_total',
  'tcc_recovery_sweeps_total',
  'tcc_retention_deleted_total',
];

describe('metrics: registry pieces', function () {
  it('participant labels: the allowlist when set, else the first N seen, then "other"', function () {
    const firstTwo = new ParticipantLabels({ max: 2 });
    expect(['a:1', 'b:1', 'c:1', 'a:1', 'b:1', 'd:1'].map((t) => firstTwo.label(t))).to.deep.equal([
      'a:1',
      'b:1',
      OTHER_PARTICIPANT,
      'a:1',
      'b:1',
      OTHER_PARTICIPANT,
    ]);
    const allow = new ParticipantLabels({ allowlist: ['x:1'], max: 100 });
    expect(['y:1', 'x:1', 'z:1'].map((t) => allow.label(t))).to.deep.equal([OTHER_PARTICIPANT, 'x:1', OTHER_PARTICIPANT]);
  });

  it('participant label bound holds over many targets: at most N + 1 series per phase/outcome', async function () {
    const m = createCoordinatorMetrics({ maxParticipants: 5 });
    for (let i = 0; i < 500; i++) m.observeParticipantCall({ participant: `host-${i}:1`, phase: 'try', outcome: 'ok', durationMs: 1 });
    const scrape = parsePrometheusText(await m.registry.metrics());
    const labels = new Set(scrape.find('tcc_participant_call_duration_seconds_count').map((s) => s.labels.participant));
    expect(labels.size).to.equal(6);
    expect(scrape.sum('tcc_participant_call_duration_seconds_count', { participant: OTHER_PARTICIPANT })).to.equal(495);
  });

  it('stats cache: concurrent reads share one load, reuse it within the TTL, keep the last answer when a load fails', async function () {
    let t = 0;
    let loads = 0;
    let fail = false;
    const errors: unknown[] = [];
    const cache = new StatsCache<number>({
      ttlMs: 1_000,
      now: () => t,
      onError: (e) => errors.push(e),
      load: async () => {
        loads++;
        await new Promise((r) => setTimeout(r, 5));
        if (fail) throw new Error('db down');
        return loads;
      },
    });
    expect(await Promise.all([cache.get(), cache.get(), cache.get()])).to.deep.equal([1, 1, 1]);
    t = 999;
    expect(await cache.get()).to.equal(1);
    expect(loads).to.equal(1);
    t = 1_000;
    expect(await cache.get()).to.equal(2);
    t = 5_000;
    fail = true;
    expect(await cache.get(), 'the last good answer').to.equal(2);
    expect(errors).to.have.length(1);
  });

  it('serves GET /metrics in the Prometheus text format and 404 elsewhere', async function () {
    const r = new Registry();
    new Counter({ name: 'tcc_test_total', help: 'Test.', registers: [r] }).inc();
    const server = await startMetricsServer(r, '127.0.0.1:0');
    try {
      const res = await fetch(`http://${server.address}/metrics`);
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.match(/^text\/plain; version=0\.0\.4/);
      expect(await res.text()).to.contain('tcc_test_total 1');
      expect((await fetch(`http://${server.address}/`)).status).to.equal(404);
      expect((await fetch(`http://${server.address}/metrics`, { method: 'POST' })).status).to.equal(404);
    } finally {
      await server.close();
    }
  });
});

forEachBackend((backend) => {
  describe('metrics: a scrape under load', function () {
    this.timeout(60_000);
    let coordinator: RunningCoordinator | undefined;
    let a: TestParticipant | undefined;
    let b: TestParticipant | undefined;
    let client: TestCoordinatorClient | undefined;

    before(async function () {
      a = await startTestParticipant();
      b = await startTestParticipant();
      coordinator = await startTestCoordinator(backend, {
        TCC_METRICS_ADDR: '127.0.0.1:0',
        TCC_METRICS_CACHE_MS: '200',
        // One participant labelled by name: the second one seen shows as "other".
        TCC_METRICS_MAX_PARTICIPANTS: '1',
        TCC_STUCK_AFTER_ATTEMPTS: '2',
      });
      client = createCoordinatorClient(coordinator.address, 20_000);
    });

    after(async function () {
      client?.close();
      await coordinator?.shutdown();
      await a?.stop();
      await b?.stop();
    });

    async function scrape(): Promise<Scrape> {
      const res = await fetch(`http://${coordinator!.metricsAddress}/metrics`);
      expect(res.status).to.equal(200);
      return parsePrometheusText(await res.text());
    }

    it('shows every metric with its labels, histograms observed and gauges moving', async function () {
      const A = a!.target;
      const B = b!.target;
      const c = client!;
      b!.setBehavior('try', 'refuse', { action: 'refuse-me' });
      a!.setBehavior('confirm', 'hang', { action: 'confirm-hangs' });
      // A first, alone, so it is the one participant labelled by name.
      await c.execute({ branches: [{ participant: A, action: 'ok' }], wait: true });
      const pending = await Promise.all([0, 1, 2].map(() => c.begin({ timeout_ms: 600_000 })));
      const stuck = await c.execute({ branches: [{ participant: A, action: 'confirm-hangs' }] });
      const load: Promise<unknown>[] = [];
      for (let i = 0; i < 30; i++) {
        load.push(c.execute({ branches: [{ participant: A, action: 'ok' }, { participant: B, action: 'ok' }], wait: true }));
      }
      for (let i = 0; i < 10; i++) {
        load.push(
          c.execute({ branches: [{ participant: A, action: 'ok' }, { participant: B, action: 'refuse-me' }], wait: true }).catch(() => undefined),
        );
      }
      await Promise.all(load);

      const s = await pollUntil(
        scrape,
        (x) => x.sum('tcc_transactions_stuck') >= 1 && x.sum('tcc_recovery_backlog', { state: 'claimed' }) >= 1,
        'the hanging Confirm to be flagged stuck while claimed',
        30_000,
        100,
      );

      for (const name of EXISTING_COUNTERS) expect(s.types.get(name), name).to.equal('counter');
      expect(s.types.get('tcc_recovery_calls_in_flight')).to.equal('gauge');
      for (const name of ['tcc_participant_call_duration_seconds', 'tcc_transaction_duration_seconds', 'tcc_store_batch_duration_seconds', 'tcc_store_batch_commands']) {
        expect(s.types.get(name), name).to.equal('histogram');
      }
      for (const name of ['tcc_transactions_in_flight', 'tcc_recovery_backlog', 'tcc_transactions_stuck', 'tcc_oldest_pending_seconds']) {
        expect(s.types.get(name), name).to.equal('gauge');
      }
      expect(s.types.get('process_cpu_user_seconds_total'), 'default process metrics').to.equal('counter');
      expect(s.types.get('nodejs_eventloop_lag_seconds'), 'default process metrics').to.equal('gauge');

      // Participant calls: bounded participant label, every phase/outcome seen, transport stream (the default).
      const calls = (labels: Record<string, string>) => s.sum('tcc_participant_call_duration_seconds_count', labels);
      const participants = new Set(s.find('tcc_participant_call_duration_seconds_count').map((x) => x.labels.participant));
      expect([...participants].sort()).to.deep.equal([A, OTHER_PARTICIPANT].sort());
      expect(calls({ participant: A, phase: 'try', outcome: 'ok', transport: 'stream' })).to.be.at.least(41);
      expect(calls({ participant: OTHER_PARTICIPANT, phase: 'try', outcome: 'ok' })).to.be.at.least(30);
      expect(calls({ participant: OTHER_PARTICIPANT, phase: 'try', outcome: 'refused' })).to.be.at.least(10);
      expect(calls({ phase: 'confirm', outcome: 'ok' })).to.be.at.least(61);
      expect(calls({ phase: 'confirm', outcome: 'ok', transport: 'stream' }), 'phase two labelled by its transport').to.be.at.least(61);
      expect(calls({ phase: 'cancel', outcome: 'ok' })).to.be.at.least(10);
      expect(calls({ participant: A, phase: 'confirm', outcome: 'unknown' }), 'the hanging Confirm timed out').to.be.at.least(1);
      expect(s.sum('tcc_participant_call_duration_seconds_sum')).to.be.greaterThan(0);
      const bucketsInf = s.sum('tcc_participant_call_duration_seconds_bucket', { le: '+Inf' });
      expect(bucketsInf).to.equal(s.sum('tcc_participant_call_duration_seconds_count'));

      expect(s.sum('tcc_transaction_duration_seconds_count', { status: 'CONFIRMED' })).to.be.at.least(31);
      expect(s.sum('tcc_transaction_duration_seconds_count', { status: 'CANCELLED' })).to.be.at.least(10);
      expect(s.sum('tcc_transaction_duration_seconds_sum')).to.be.greaterThan(0);
      expect(s.sum('tcc_transactions_finished_total', { status: 'CONFIRMED' })).to.be.at.least(31);

      const batches = s.sum('tcc_store_batch_duration_seconds_count');
      expect(batches).to.be.greaterThan(0);
      expect(s.sum('tcc_store_batch_commands_count')).to.equal(batches);
      expect(s.sum('tcc_store_batch_commands_sum'), 'create + register share a batch').to.be.greaterThan(batches);

      expect(s.sum('tcc_transactions_in_flight', { status: 'TRYING' })).to.equal(pending.length);
      expect(s.sum('tcc_transactions_in_flight', { status: 'CONFIRMING' })).to.equal(1);
      expect(s.sum('tcc_transactions_in_flight', { status: 'CANCELLING' })).to.equal(0);
      expect(s.find('tcc_recovery_backlog', { state: 'due' })).to.have.length(1);
      // Only the hanging transaction is decided: the open TRYING ones (due at their deadline, nobody's claim) are not claimed.
      expect(s.sum('tcc_recovery_backlog', { state: 'claimed' })).to.equal(1);
      expect(s.sum('tcc_transactions_stuck')).to.equal(1);
      expect(s.sum('tcc_transactions_stuck_total')).to.equal(1);
      expect(s.sum('tcc_oldest_pending_seconds')).to.be.greaterThan(0);
      expect(s.sum('tcc_decisions_total', { decision: 'commit', cause: 'client' })).to.be.at.least(32);
      expect(s.sum('tcc_recovery_sweeps_total', { result: 'ok' })).to.be.greaterThan(0);

      // Due: the open transactions' deadlines, seen from an hour past them.
      const later = await coordinator!.engine.store.inFlightStats(Date.now() + 3_600_000 * 24);
      expect(later.due, 'the open ones and the hanging one').to.be.at.least(pending.length + 1);
      expect(later.claimed, 'every claim has run out by then').to.equal(0);
      expect(stuck.gid).to.be.a('string');
    });
  });
});
