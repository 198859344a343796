import { MetricsRegistry, type Counter, type Gauge } from './metrics-registry';

/** The coordinator's operational metrics (served on TCC_METRICS_ADDR at /metrics). */
export interface CoordinatorMetrics {
  readonly registry: MetricsRegistry;
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
  /** Alert webhook POSTs, by result (ok | failed). */
  readonly alerts: Counter<'result'>;
  /** Recovery sweeps run, by result (ok | failed). */
  readonly sweeps: Counter<'result'>;
  /** Finished transactions deleted by retention. */
  readonly retentionDeleted: Counter;
  /** Phase-two calls in flight from recovery, per process. */
  readonly recoveryInFlight: Gauge;
  /** Database clock minus this process's clock, ms, as last measured (0 on SQLite: the same clock). */
  readonly dbClockOffset: Gauge;
  /** Uncertainty of that measurement (half its round trip), ms. */
  readonly dbClockUncertainty: Gauge;
}

export function createCoordinatorMetrics(registry = new MetricsRegistry()): CoordinatorMetrics {
  return {
    registry,
    decisions: registry.counter('tcc_decisions_total', 'Decisions written, by decision and cause.', ['decision', 'cause']),
    finished: registry.counter('tcc_transactions_finished_total', 'Transactions that reached a final status.', ['status']),
    participantCalls: registry.counter('tcc_participant_calls_total', 'Calls to participants by phase and outcome.', ['phase', 'outcome']),
    callsDeferred: registry.counter(
      'tcc_phase_two_calls_deferred_total',
      'Phase-two calls put off to a later round because the participant recovery concurrency limit was full.',
    ),
    stuck: registry.counter('tcc_transactions_stuck_total', 'Transactions flagged stuck (phase two keeps failing).'),
    alerts: registry.counter('tcc_alert_webhook_posts_total', 'Stuck alerts posted to the webhook, by result.', ['result']),
    sweeps: registry.counter('tcc_recovery_sweeps_total', 'Recovery sweeps run, by result.', ['result']),
    retentionDeleted: registry.counter('tcc_retention_deleted_total', 'Finished transactions deleted by retention.'),
    recoveryInFlight: registry.gauge('tcc_recovery_calls_in_flight', 'Phase-two calls in flight in this process (client rounds and recovery, within the per-target limit).'),
    dbClockOffset: registry.gauge('tcc_db_clock_offset_ms', 'Database clock minus this process clock, ms, as last measured.'),
    dbClockUncertainty: registry.gauge('tcc_db_clock_uncertainty_ms', 'Uncertainty of the last database clock measurement (half its round trip), ms.'),
  };
}
