import type { Logger } from 'pino';
import type { TransactionRecord } from '../domain/model';
import { codeOfErrorText, participantHint } from '../domain/participant-hint';
import { describeError } from '../log/describe-error';
import type { CoordinatorMetrics } from '../metrics/coordinator-metrics';
import type { StuckBranch } from '../store/transaction-store';

/** Options of {@link StuckReporter}. */
export interface StuckReporterOptions {
  logger: Logger;
  metrics: CoordinatorMetrics;
  node: string;
  /** POST target for stuck alerts (TCC_ALERT_WEBHOOK_URL). Default: none, log and counter only. */
  webhookUrl?: string;
  /** Deadline of one webhook POST, ms. Default 5 000. */
  webhookTimeoutMs?: number;
}

/** The JSON body POSTed to the alert webhook. */
export interface StuckAlert {
  event: 'transaction.stuck';
  gid: string;
  status: string;
  branch_id: string;
  participant: string;
  attempts: number;
  last_error: string;
  /** When the failures look like a wrong target (UNAVAILABLE or UNIMPLEMENTED): what to check; else ''. */
  hint: string;
  decided_unix_ms: number;
  node: string;
}

/**
 * Says loudly that a transaction is stuck: a warning line (gid, branch, last
 * error), a counter, and optionally a webhook POST. The POST is fire and
 * forget with its own deadline: an alerting endpoint that is down must never
 * slow or stop recovery, which keeps retrying the transaction regardless.
 */
export class StuckReporter {
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly o: StuckReporterOptions) {}

  report(txn: TransactionRecord, branch: StuckBranch): void {
    this.o.metrics.stuck.inc();
    // Only the last error is at hand here; `tccctl show` weighs every recorded call.
    const code = codeOfErrorText(branch.lastError);
    const hint = code === undefined ? '' : participantHint([{ grpcCode: code }]);
    this.o.logger.warn(
      {
        gid: txn.gid,
        status: txn.status,
        branch_id: branch.branchId,
        participant: branch.participant,
        attempts: branch.attempts,
        last_error: branch.lastError,
        hint: hint || undefined,
      },
      'transaction stuck: phase two keeps failing; still retrying at the capped interval',
    );
    if (!this.o.webhookUrl) return;
    const alert: StuckAlert = {
      event: 'transaction.stuck',
      gid: txn.gid,
      status: txn.status,
      branch_id: branch.branchId,
      participant: branch.participant,
      attempts: branch.attempts,
      last_error: branch.lastError,
      hint,
      decided_unix_ms: txn.decidedAt ?? 0,
      node: this.o.node,
    };
    const p = this.post(this.o.webhookUrl, alert).finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  /** Waits for webhook POSTs in flight (each bounded by its deadline). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }

  private async post(url: string, alert: StuckAlert): Promise<void> {
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(alert),
        signal: AbortSignal.timeout(this.o.webhookTimeoutMs ?? 5_000),
      });
      // Drain the body so the connection can be reused.
      await res.arrayBuffer().catch(() => undefined);
      if (!res.ok) throw new Error(`webhook answered HTTP ${res.status}`);
      this.o.metrics.alerts.inc({ result: 'ok' });
    } catch (err) {
      this.o.metrics.alerts.inc({ result: 'failed' });
      this.o.logger.warn({ gid: alert.gid, err: describeError(err) }, 'stuck alert webhook failed');
    }
  }
}
