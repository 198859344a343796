import type { Logger } from 'pino';
import type { TransactionRecord } from '../domain/model';
import { codeOfErrorText, participantHint } from '../domain/participant-hint';
import { describeError } from '../log/describe-error';
import type { CoordinatorMetrics } from '../metrics/coordinator-metrics';
import { OTHER_PARTICIPANT, ParticipantLabels } from '../metrics/participant-labels';
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
  /** The identity that began a transaction (client authentication), for the per-client count. Default: none (`none`). */
  ownerOf?: (gid: string) => Promise<string | undefined>;
  /** Most client identities counted under their own label; the rest are `other`. Default 50. */
  maxClientLabels?: number;
}

/** gRPC codes (numerically: the engine's reporter does not need grpc-js) of a target that looks absent. */
const ABSENT_REASONS: ReadonlyMap<number, string> = new Map([
  [14, 'unavailable'],
  [12, 'unimplemented'],
]);

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
  /** Client identities come from certificates too: bounded like participant targets. */
  private readonly clients: ParticipantLabels;

  constructor(private readonly o: StuckReporterOptions) {
    this.clients = new ParticipantLabels({ max: o.maxClientLabels ?? 50 });
  }

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
    const reason = code === undefined ? undefined : ABSENT_REASONS.get(code);
    if (reason !== undefined && hint !== '') this.track(this.countAbsentTarget(txn.gid, reason));
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
    this.track(this.post(this.o.webhookUrl, alert));
  }

  private track(work: Promise<void>): void {
    const p = work.finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  /**
   * A transaction whose target does not exist (nothing listens, or not a
   * participant) never finishes by itself: counted per client, so an operator
   * sees who keeps naming dead targets.
   */
  private async countAbsentTarget(gid: string, reason: string): Promise<void> {
    let owner: string | undefined;
    try {
      owner = await this.o.ownerOf?.(gid);
    } catch (err) {
      this.o.logger.warn({ gid, err: describeError(err) }, 'owner of a stuck transaction not read; counted as other');
      owner = OTHER_PARTICIPANT;
    }
    this.o.metrics.stuckTargetAbsent.inc({ client: owner === undefined ? 'none' : this.clients.label(owner), reason });
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
