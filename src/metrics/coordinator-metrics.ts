import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { InFlightStats } from '../store/transaction-store';
import { ParticipantLabels } from './participant-labels';

/** How a participant call ended, as labelled: the contract's reading of the gRPC status. */
export type CallOutcomeLabel = 'ok' | 'refused' | 'unknown';

/** Options of {@link createCoordinatorMetrics}. */
export interface CoordinatorMetricsOptions {
  /** Registry to register into. Default: a new one. */
  registry?: Registry;
  /** Also collect prom-client's default process metrics (CPU, memory, event loop, GC). Default false (the coordinator turns it on). */
  defaultMetrics?: boolean;
  /** Participant targets labelled by name; others are `other`. Default: none (the first `maxParticipants` seen). */
  participantAllowlist?: readonly string[];
  /** Without an allowlist, most targets labelled by name. Default 50. */
  maxParticipants?: number;
}

/** One participant call to record. */
export interface ParticipantCallObservation {
  participant: string;
  phase: 'try' | 'confirm' | 'cancel';
  outcome: CallOutcomeLabel;
  /** Default unary. */
  transport?: 'unary' | 'stream';
  durationMs: number;
}

/** The coordinator's operational metrics (served on TCC_METRICS_ADDR at /metrics). */
export interface CoordinatorMetrics {
  readonly registry: Registry;
  /** Decisions written, by decision (commit | rollback) and cause (client | deadline | operator). */
  readonly decisions: Counter<'decision' | 'cause'>;
  /** Transactions that reached CONFIRMED / CANCELLED. */
  readonly finished: Counter<'status'>;
  /** Calls to participants, by phase and outcome (ok | refused | unknown | failed). */
  readonly participantCalls: Counter<'phase' | 'outcome'>;
  /** Phase-two calls not made in a round because the participant's recovery concurrency limit stayed full. */
  readonly callsDeferred: Counter;
  /** Transactions flagged stuck. */
  readonly stuck: Counter;
  /**
   * Transactions flagged stuck whose target looks absent (every recorded call UNAVAILABLE, or
   * UNIMPLEMENTED), by client identity (`none` without client authentication; bounded, the rest
   * `other`) and reason (unavailable | unimplemented).
   */
  readonly stuckTargetAbsent: Counter<'client' | 'reason'>;
  /** Alert webhook POSTs, by result (ok | failed). */
  readonly alerts: Counter<'result'>;
  /** Recovery sweeps run, by result (ok | failed). */
  readonly sweeps: Counter<'result'>;
  /** Due queries recovery ran, by kind (phase_two | deadline). */
  readonly dueQueries: Counter<'kind'>;
  /** Finished transactions deleted by retention. */
  readonly retentionDeleted: Counter;
  /** Phase-two calls in flight from recovery, per process. */
  readonly recoveryInFlight: Gauge;
  /** Participant call latency, by bounded participant, phase, outcome and transport. */
  readonly participantCallDuration: Histogram<'participant' | 'phase' | 'outcome' | 'transport'>;
  /** Begin → final status, by final status. */
  readonly transactionDuration: Histogram<'status'>;
  /** Time of one group-commit batch (one local database transaction). */
  readonly storeBatchDuration: Histogram;
  /** Commands in one group-commit batch. */
  readonly storeBatchCommands: Histogram;
  /** Records one participant call (latency histogram; the participant label bounded). */
  observeParticipantCall(o: ParticipantCallObservation): void;
  /** Records a transaction that reached a final status: counter and begin → end histogram. */
  observeFinished(txn: { status: string; createdAt: number; updatedAt: number }): void;
  /** Records one group-commit batch. */
  observeStoreBatch(commands: number, durationMs: number): void;
  /** Where tcc_store_statements_total and tcc_store_queries_total read from (the store's own counts). Until set they show nothing. */
  useStoreCounts(statements: () => number, queries: () => number, walSyncs: () => number): void;
  /**
   * Where the in-flight gauges read from (a cached, bounded query; see
   * StatsCache). Until set the gauges show nothing.
   */
  useStatsSource(source: () => Promise<InFlightStats | undefined>, now: () => number): void;
  /** Database clock minus this process's clock, ms, as last measured (0 on SQLite: the same clock). */
  readonly dbClockOffset: Gauge;
  /** Uncertainty of that measurement (half its round trip), ms. */
  readonly dbClockUncertainty: Gauge;
}

const SECONDS_FAST = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const SECONDS_TXN = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600];
const SECONDS_BATCH = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const BATCH_SIZES = [1, 2, 4, 8, 16, 32, 64, 128, 256];
const IN_FLIGHT_STATUSES = ['TRYING', 'CONFIRMING', 'CANCELLING'] as const;

export function createCoordinatorMetrics(options: CoordinatorMetricsOptions = {}): CoordinatorMetrics {
  const registry = options.registry ?? new Registry();
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const participants = new ParticipantLabels({ allowlist: options.participantAllowlist, max: options.maxParticipants });
  let stats: { source: () => Promise<InFlightStats | undefined>; now: () => number } | undefined;

  const participantCallDuration = new Histogram({
    name: 'tcc_participant_call_duration_seconds',
    help: 'Calls to participants: latency by participant (bounded set, then "other"), phase, outcome and transport.',
    labelNames: ['participant', 'phase', 'outcome', 'transport'] as const,
    buckets: SECONDS_FAST,
    registers,
  });
  const transactionDuration = new Histogram({
    name: 'tcc_transaction_duration_seconds',
    help: 'Transactions from Begin to their final status, by status.',
    labelNames: ['status'] as const,
    buckets: SECONDS_TXN,
    registers,
  });
  const storeBatchDuration = new Histogram({
    name: 'tcc_store_batch_duration_seconds',
    help: 'Group-commit batches: time of one local database transaction.',
    buckets: SECONDS_BATCH,
    registers,
  });
  const storeBatchCommands = new Histogram({
    name: 'tcc_store_batch_commands',
    help: 'Group-commit batches: commands written in one local database transaction.',
    buckets: BATCH_SIZES,
    registers,
  });
  // The store keeps these counts itself: each counter shows the store's count when scraped.
  const storeCounts: { statements?: () => number; queries?: () => number; walSyncs?: () => number } = {};
  const storeCounter = (name: string, help: string, read: () => (() => number) | undefined) =>
    new Counter({
      name,
      help,
      registers,
      collect() {
        const count = read();
        if (!count) return;
        this.reset();
        this.inc(count());
      },
    });
  storeCounter(
    'tcc_store_statements_total',
    'Statements the group-commit batches sent to the database, BEGIN and COMMIT included (with tcc_store_batch_duration_seconds_count, commits: statements and fsyncs per transaction).',
    () => storeCounts.statements,
  );
  storeCounter(
    'tcc_store_queries_total',
    "Queries the group-commit batches sent: on MySQL one round trip each, carrying one statement or several (a batch's writes go with its next statement); on SQLite, statements.",
    () => storeCounts.queries,
  );
  storeCounter(
    'tcc_store_wal_syncs_total',
    "SQLite: fdatasyncs of the WAL that made commits durable, off the event loop (one serves every commit written before it began; SQLite's own checkpoint syncs not included). 0 on MySQL, whose COMMIT syncs.",
    () => storeCounts.walSyncs,
  );
  const finished = new Counter({ name: 'tcc_transactions_finished_total', help: 'Transactions that reached a final status.', labelNames: ['status'] as const, registers });

  // The four gauges below read one cached query (prom-client collects them concurrently; the cache shares one load).
  const read = async () => (stats ? await stats.source() : undefined);
  new Gauge({
    name: 'tcc_transactions_in_flight',
    help: 'Unfinished transactions by status (whole database, all replicas; cached a few seconds).',
    labelNames: ['status'] as const,
    registers,
    async collect() {
      const current = await read();
      if (!current) return;
      for (const s of IN_FLIGHT_STATUSES) this.set({ status: s }, current.byStatus[s] ?? 0);
    },
  });
  new Gauge({
    name: 'tcc_recovery_backlog',
    help: 'Unfinished transactions waiting for recovery: due (deadline or retry time passed) and claimed (a worker holds them).',
    labelNames: ['state'] as const,
    registers,
    async collect() {
      const current = await read();
      if (!current) return;
      this.set({ state: 'due' }, current.due);
      this.set({ state: 'claimed' }, current.claimed);
    },
  });
  new Gauge({
    name: 'tcc_transactions_stuck',
    help: 'Transactions currently flagged stuck.',
    registers,
    async collect() {
      const current = await read();
      if (current) this.set(current.stuck);
    },
  });
  new Gauge({
    name: 'tcc_oldest_pending_seconds',
    help: 'Age of the oldest unfinished transaction (0 when none).',
    registers,
    async collect() {
      const current = await read();
      if (!current || !stats) return;
      this.set(current.oldestCreatedAt === null ? 0 : Math.max(0, (stats.now() - current.oldestCreatedAt) / 1000));
    },
  });

  return {
    registry,
    decisions: new Counter({ name: 'tcc_decisions_total', help: 'Decisions written, by decision and cause.', labelNames: ['decision', 'cause'] as const, registers }),
    finished,
    participantCalls: new Counter({
      name: 'tcc_participant_calls_total',
      help: 'Calls to participants by phase and outcome.',
      labelNames: ['phase', 'outcome'] as const,
      registers,
    }),
    callsDeferred: new Counter({
      name: 'tcc_phase_two_calls_deferred_total',
      help: 'Phase-two calls put off to a later round because the participant recovery concurrency limit was full.',
      registers,
    }),
    stuck: new Counter({ name: 'tcc_transactions_stuck_total', help: 'Transactions flagged stuck (phase two keeps failing).', registers }),
    stuckTargetAbsent: new Counter({
      name: 'tcc_transactions_stuck_target_absent_total',
      help: 'Transactions flagged stuck because their participant target looks absent (UNAVAILABLE or UNIMPLEMENTED), by client identity and reason.',
      labelNames: ['client', 'reason'] as const,
      registers,
    }),
    alerts: new Counter({ name: 'tcc_alert_webhook_posts_total', help: 'Stuck alerts posted to the webhook, by result.', labelNames: ['result'] as const, registers }),
    sweeps: new Counter({ name: 'tcc_recovery_sweeps_total', help: 'Recovery sweeps run, by result.', labelNames: ['result'] as const, registers }),
    dueQueries: new Counter({ name: 'tcc_recovery_due_queries_total', help: 'Due queries recovery ran, by kind (phase_two, deadline).', labelNames: ['kind'] as const, registers }),
    retentionDeleted: new Counter({ name: 'tcc_retention_deleted_total', help: 'Finished transactions deleted by retention.', registers }),
    recoveryInFlight: new Gauge({ name: 'tcc_recovery_calls_in_flight', help: 'Phase-two calls in flight in this process (client rounds and recovery, within the per-target limit).', registers }),
    dbClockOffset: new Gauge({ name: 'tcc_db_clock_offset_ms', help: 'Database clock minus this process clock, ms, as last measured.', registers }),
    dbClockUncertainty: new Gauge({
      name: 'tcc_db_clock_uncertainty_ms',
      help: 'Uncertainty of the last database clock measurement (half its round trip), ms.',
      registers,
    }),
    participantCallDuration,
    transactionDuration,
    storeBatchDuration,
    storeBatchCommands,
    observeParticipantCall(o) {
      participantCallDuration.observe(
        { participant: participants.label(o.participant), phase: o.phase, outcome: o.outcome, transport: o.transport ?? 'unary' },
        Math.max(0, o.durationMs) / 1000,
      );
    },
    observeFinished(txn) {
      finished.inc({ status: txn.status });
      transactionDuration.observe({ status: txn.status }, Math.max(0, txn.updatedAt - txn.createdAt) / 1000);
    },
    observeStoreBatch(commands, durationMs) {
      storeBatchCommands.observe(commands);
      storeBatchDuration.observe(Math.max(0, durationMs) / 1000);
    },
    useStoreCounts(statements, queries, walSyncs) {
      storeCounts.statements = statements;
      storeCounts.queries = queries;
      storeCounts.walSyncs = walSyncs;
    },
    useStatsSource(source, now) {
      stats = { source, now };
    },
  };
}
