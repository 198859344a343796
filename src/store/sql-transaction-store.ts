import type { Knex } from 'knex';
import type { BranchRecord, PhaseLogRecord, TransactionRecord } from '../domain/model';
import { isStuck, releaseDueAt } from '../domain/recovery-rules';
import { finalStatusOf, nextTryState, planDecision } from '../domain/state-machine';
import { logRow, toBranch, toLog, toTransaction, truncate, type BranchRow, type LogRow, type TransactionRow } from './row-mapping';
import type {
  ClaimCommand,
  ClaimResult,
  CreateCommand,
  CreateResult,
  DecideCommand,
  DecideResult,
  DuePhaseTwo,
  DueTransaction,
  ExpediteCommand,
  ExpediteResult,
  ListFilter,
  PhaseTwoCommand,
  PhaseTwoResult,
  RegisterCommand,
  ResolveCommand,
  ResolveResult,
  RegisterResult,
  ResultsOf,
  RoundFailedCommand,
  RoundFailedResult,
  StoreCommand,
  TransactionStore,
  TryOutcomeCommand,
  TryOutcomeResult,
} from './transaction-store';

const TX = 'tcc_transactions';
const BR = 'tcc_branches';
const LOGS = 'tcc_logs';

/**
 * TransactionStore over knex, for SQLite and MySQL/MariaDB. Serialization:
 * every command that reads-then-writes a transaction first locks its row
 * (SELECT … FOR UPDATE on MySQL, whose connections run READ COMMITTED so the
 * reads after the lock see the latest commits; on SQLite the single writer
 * connection serializes everything), and every state change is also a
 * conditional UPDATE, so a lost race changes nothing.
 */
export class SqlTransactionStore implements TransactionStore {
  constructor(
    private readonly knex: Knex,
    readonly dialect: 'sqlite' | 'mysql',
  ) {}

  async execute<const T extends readonly StoreCommand[]>(commands: T): Promise<ResultsOf<T>> {
    return this.knex.transaction(async (trx) => {
      const logs: PhaseLogRecord[] = [];
      const results: unknown[] = [];
      for (const cmd of commands) results.push(await this.apply(trx, cmd, logs));
      // One multi-row insert for the whole batch's log rows.
      if (logs.length) await trx<LogRow>(LOGS).insert(logs.map(logRow));
      return results as ResultsOf<T>;
    });
  }

  private apply(trx: Knex.Transaction, cmd: StoreCommand, logs: PhaseLogRecord[]): Promise<unknown> {
    switch (cmd.kind) {
      case 'create':
        return this.create(trx, cmd);
      case 'register':
        return this.register(trx, cmd);
      case 'tryOutcome':
        return this.tryOutcome(trx, cmd, logs);
      case 'decide':
        return this.decide(trx, cmd, logs);
      case 'phaseTwo':
        return this.phaseTwo(trx, cmd, logs);
      case 'roundFailed':
        return this.roundFailed(trx, cmd);
      case 'claim':
        return this.claim(trx, cmd);
      case 'expedite':
        return this.expedite(trx, cmd);
      case 'resolve':
        return this.resolve(trx, cmd, logs);
    }
  }

  private async lockTransaction(trx: Knex.Transaction, gid: string): Promise<TransactionRecord | null> {
    const q = trx<TransactionRow>(TX).where({ gid }).first();
    if (this.dialect === 'mysql') q.forUpdate();
    const row = await q;
    return row ? toTransaction(row) : null;
  }

  private async branchesOf(trx: Knex.Transaction | Knex, gid: string): Promise<BranchRecord[]> {
    const rows = await trx<BranchRow>(BR).where({ gid }).orderBy('seq');
    return rows.map(toBranch);
  }

  private async create(trx: Knex.Transaction, c: CreateCommand): Promise<CreateResult> {
    const existing = await this.lockTransaction(trx, c.gid);
    if (existing) return { txn: existing, created: false };
    const row: TransactionRow = {
      gid: c.gid,
      status: 'TRYING',
      reason: '',
      created_at: c.now,
      updated_at: c.now,
      deadline_at: c.deadlineAt,
      attempts: 0,
      // The deadline is when recovery must act on a TRYING transaction.
      due_at: c.deadlineAt,
      owner: null,
      last_error: '',
      stuck: false,
      decided_at: null,
    };
    // Two Begins with the same client gid may race past the SELECT: ignore the loser's insert.
    await trx<TransactionRow>(TX).insert(row).onConflict('gid').ignore();
    const now = await this.lockTransaction(trx, c.gid);
    if (!now) throw new Error(`transaction ${c.gid} vanished after insert`);
    return { txn: now, created: now.createdAt === c.now && now.status === 'TRYING' };
  }

  private async register(trx: Knex.Transaction, c: RegisterCommand): Promise<RegisterResult> {
    const txn = await this.lockTransaction(trx, c.gid);
    if (!txn) return { ok: false, why: 'not_found' };
    if (txn.status !== 'TRYING') return { ok: false, why: 'not_trying', txn };
    if (c.now >= txn.deadlineAt) return { ok: false, why: 'expired', txn };
    const existing = await this.branchesOf(trx, c.gid);
    const byId = new Map(existing.map((b) => [b.branchId, b]));
    const out: BranchRecord[] = [];
    const retried: string[] = [];
    const rows: Record<string, unknown>[] = [];
    let seq = existing.reduce((m, b) => Math.max(m, b.seq), 0);
    for (const nb of c.branches) {
      const old = byId.get(nb.branchId);
      if (old) {
        if (old.participant !== nb.participant || old.action !== nb.action || !old.payload.equals(nb.payload)) {
          return { ok: false, why: 'conflict', txn, branchId: nb.branchId };
        }
        // A refused branch is answered without a new call; any other is about to get its Try again.
        if (old.tryState !== 'REFUSED') retried.push(old.branchId);
        out.push(old.tryState === 'REFUSED' ? old : { ...old, tryAttempts: old.tryAttempts + 1 });
        continue;
      }
      seq++;
      const rec: BranchRecord = {
        gid: c.gid,
        branchId: nb.branchId,
        seq,
        participant: nb.participant,
        action: nb.action,
        payload: nb.payload,
        tryState: 'PENDING',
        tryAttempts: 1,
        phaseTwo: 'NOT_DUE',
        attempts: 0,
        nextRetryAt: null,
        lastError: '',
        createdAt: c.now,
        updatedAt: c.now,
      };
      byId.set(nb.branchId, rec);
      out.push(rec);
      rows.push({
        gid: c.gid,
        branch_id: rec.branchId,
        seq,
        participant: rec.participant,
        action: rec.action,
        payload: rec.payload,
        try_state: rec.tryState,
        try_attempts: 1,
        phase_two: rec.phaseTwo,
        attempts: 0,
        next_retry_at: null,
        last_error: '',
        created_at: c.now,
        updated_at: c.now,
      });
    }
    if (existing.length + rows.length > c.maxBranches) return { ok: false, why: 'too_many', txn };
    if (rows.length) await trx<BranchRow>(BR).insert(rows);
    if (retried.length) {
      await trx<BranchRow>(BR)
        .where({ gid: c.gid })
        .whereIn('branch_id', retried)
        .update({ try_attempts: trx.raw('try_attempts + 1'), updated_at: c.now });
    }
    if (rows.length || retried.length) await trx<TransactionRow>(TX).where({ gid: c.gid }).update({ updated_at: c.now });
    return { ok: true, txn, branches: out };
  }

  private async tryOutcome(trx: Knex.Transaction, c: TryOutcomeCommand, logs: PhaseLogRecord[]): Promise<TryOutcomeResult> {
    logs.push(c.log);
    const row = await trx<BranchRow>(BR).where({ gid: c.gid, branch_id: c.branchId }).first('try_state');
    if (!row) return { tryState: null };
    const next = nextTryState(row.try_state, c.state);
    if (next === null) return { tryState: row.try_state };
    // Conditional on the state read: a concurrent answer to a retried Try cannot be overwritten.
    const n = await trx<BranchRow>(BR)
      .where({ gid: c.gid, branch_id: c.branchId, try_state: row.try_state })
      .update({ try_state: next, last_error: truncate(c.error, 1024), updated_at: c.now });
    if (n === 0) {
      const again = await trx<BranchRow>(BR).where({ gid: c.gid, branch_id: c.branchId }).first('try_state');
      return { tryState: again?.try_state ?? null };
    }
    return { tryState: next };
  }

  private async decide(trx: Knex.Transaction, c: DecideCommand, logs: PhaseLogRecord[]): Promise<DecideResult> {
    const txn = await this.lockTransaction(trx, c.gid);
    if (!txn) return { found: false };
    const branches = await this.branchesOf(trx, c.gid);
    const plan = planDecision(txn, branches, c.decision, c.reason, c.now);
    if (!plan) return { found: true, decided: false, txn, branches };
    const finished = plan.status === 'CONFIRMED' || plan.status === 'CANCELLED';
    const n = await trx<TransactionRow>(TX)
      .where({ gid: c.gid, status: 'TRYING' })
      .update({
        status: plan.status,
        reason: truncate(plan.reason, 1024),
        updated_at: c.now,
        due_at: finished ? null : c.leaseUntil,
        owner: finished ? null : c.claimToken,
        decided_at: c.now,
      });
    if (n === 0) {
      const current = await this.lockTransaction(trx, c.gid);
      return { found: true, decided: false, txn: current ?? txn, branches };
    }
    for (const state of ['PENDING', 'SKIPPED'] as const) {
      const ids = branches.filter((b) => plan.branchPhaseTwo.get(b.branchId) === state).map((b) => b.branchId);
      if (ids.length) {
        await trx<BranchRow>(BR).where({ gid: c.gid }).whereIn('branch_id', ids).update({ phase_two: state, updated_at: c.now });
      }
    }
    logs.push({
      gid: c.gid,
      branchId: '',
      phase: 'decision',
      attempt: 0,
      outcome: plan.decision,
      grpcCode: 0,
      error: plan.reason,
      startedAt: c.now,
      durationMs: 0,
      node: c.node,
      operator: c.operator,
    });
    const decided: TransactionRecord = {
      ...txn,
      status: plan.status,
      reason: plan.reason,
      updatedAt: c.now,
      dueAt: finished ? null : c.leaseUntil,
      owner: finished ? null : c.claimToken,
      decidedAt: c.now,
    };
    return {
      found: true,
      decided: true,
      txn: decided,
      branches: branches.map((b) => ({ ...b, phaseTwo: plan.branchPhaseTwo.get(b.branchId) ?? b.phaseTwo })),
    };
  }

  private async phaseTwo(trx: Knex.Transaction, c: PhaseTwoCommand, logs: PhaseLogRecord[]): Promise<PhaseTwoResult> {
    logs.push(...c.logs);
    const txn = await this.lockTransaction(trx, c.gid);
    if (!txn) return { txn: null };
    if (txn.status !== 'CONFIRMING' && txn.status !== 'CANCELLING') return { txn };
    const done = c.results.filter((r) => r.ok).map((r) => r.branchId);
    if (done.length) {
      await trx<BranchRow>(BR)
        .where({ gid: c.gid, phase_two: 'PENDING' })
        .whereIn('branch_id', done)
        .update({ phase_two: 'DONE', attempts: trx.raw('attempts + 1'), next_retry_at: null, last_error: '', updated_at: c.now });
    }
    for (const r of c.results.filter((x) => !x.ok)) {
      await trx<BranchRow>(BR)
        .where({ gid: c.gid, branch_id: r.branchId, phase_two: 'PENDING' })
        .update(
          r.attempted
            ? { attempts: trx.raw('attempts + 1'), next_retry_at: r.nextRetryAt, last_error: truncate(r.error, 1024), updated_at: c.now }
            : { next_retry_at: r.nextRetryAt, updated_at: c.now },
        );
    }
    const pending = await trx<BranchRow>(BR)
      .where({ gid: c.gid, phase_two: 'PENDING' })
      .select('branch_id', 'participant', 'attempts', 'next_retry_at', 'last_error');
    if (pending.length === 0) return { txn: await this.finish(trx, txn, c.now), finished: true };

    const lastError = c.results.find((r) => r.attempted && !r.ok)?.error ?? String(pending[0].last_error ?? '');
    const worst = pending.reduce((a, b) => (Number(b.attempts) > Number(a.attempts) ? b : a));
    const stuck = isStuck(txn, pending.map((p) => ({ attempts: Number(p.attempts) })), c.stuck, c.now);
    const update: Record<string, unknown> = {
      last_error: truncate(lastError, 1024),
      attempts: txn.attempts + 1,
      stuck,
      updated_at: c.now,
    };
    // Fencing: only the holder of this very claim releases it. If the claim
    // expired and another worker (or a restarted process with the same node
    // name) took it meanwhile, moving due_at would cut that worker's lease
    // short and let a third one in.
    if (txn.owner === c.claimToken) {
      update.due_at = releaseDueAt(pending.map((p) => (p.next_retry_at === null ? null : Number(p.next_retry_at))), c.now);
      update.owner = null;
    }
    await trx<TransactionRow>(TX).where({ gid: c.gid, status: txn.status }).update(update);
    const after = await trx<TransactionRow>(TX).where({ gid: c.gid }).first();
    return {
      txn: after ? toTransaction(after) : null,
      becameStuck:
        stuck && !txn.stuck
          ? { branchId: worst.branch_id, participant: worst.participant, attempts: Number(worst.attempts), lastError: String(worst.last_error ?? '') }
          : undefined,
    };
  }

  private async roundFailed(trx: Knex.Transaction, c: RoundFailedCommand): Promise<RoundFailedResult> {
    const txn = await this.lockTransaction(trx, c.gid);
    if (!txn || (txn.status !== 'CONFIRMING' && txn.status !== 'CANCELLING')) return { txn, becameStuck: false };
    const attempts = txn.attempts + 1;
    const stuck = isStuck(txn, [{ attempts }], c.stuck, c.now);
    const update: Record<string, unknown> = { attempts, last_error: truncate(c.error, 1024), stuck, updated_at: c.now };
    // Fencing as in phaseTwo: only the holder of this claim releases it.
    if (txn.owner === c.claimToken) {
      update.due_at = c.retryAt;
      update.owner = null;
    }
    await trx<TransactionRow>(TX).where({ gid: c.gid, status: txn.status }).update(update);
    const after = await trx<TransactionRow>(TX).where({ gid: c.gid }).first();
    return { txn: after ? toTransaction(after) : null, becameStuck: stuck && !txn.stuck };
  }

  /** CONFIRMING → CONFIRMED, CANCELLING → CANCELLED, once no branch is pending; the claim and the stuck flag go with it. */
  private async finish(trx: Knex.Transaction, txn: TransactionRecord, now: number): Promise<TransactionRecord> {
    const update = {
      status: finalStatusOf(txn.status),
      due_at: null,
      owner: null,
      last_error: '',
      stuck: false,
      attempts: txn.attempts + 1,
      updated_at: now,
    };
    await trx<TransactionRow>(TX).where({ gid: txn.gid, status: txn.status }).update(update);
    return { ...txn, status: update.status, dueAt: null, owner: null, lastError: '', stuck: false, attempts: update.attempts, updatedAt: now };
  }

  private async resolve(trx: Knex.Transaction, c: ResolveCommand, logs: PhaseLogRecord[]): Promise<ResolveResult> {
    const txn = await this.lockTransaction(trx, c.gid);
    if (!txn) return { found: false };
    const branch = await trx<BranchRow>(BR).where({ gid: c.gid, branch_id: c.branchId }).first('phase_two');
    if (!branch) return { found: true, resolved: false, why: 'no_branch', txn };
    if (branch.phase_two === 'DONE' || branch.phase_two === 'SKIPPED' || branch.phase_two === 'RESOLVED') {
      return { found: true, resolved: false, why: 'already_done', txn };
    }
    if (branch.phase_two !== 'PENDING' || (txn.status !== 'CONFIRMING' && txn.status !== 'CANCELLING')) {
      return { found: true, resolved: false, why: 'not_in_phase_two', txn };
    }
    await trx<BranchRow>(BR)
      .where({ gid: c.gid, branch_id: c.branchId, phase_two: 'PENDING' })
      .update({ phase_two: 'RESOLVED', next_retry_at: null, updated_at: c.now });
    logs.push({
      gid: c.gid,
      branchId: c.branchId,
      phase: 'resolve',
      attempt: 0,
      outcome: 'resolved',
      grpcCode: 0,
      error: c.reason,
      startedAt: c.now,
      durationMs: 0,
      node: c.node,
      operator: c.operator,
    });
    const left = await trx<BranchRow>(BR).where({ gid: c.gid, phase_two: 'PENDING' }).first('branch_id');
    if (!left) return { found: true, resolved: true, txn: await this.finish(trx, txn, c.now) };
    await trx<TransactionRow>(TX).where({ gid: c.gid }).update({ updated_at: c.now });
    return { found: true, resolved: true, txn: { ...txn, updatedAt: c.now } };
  }

  private async claim(trx: Knex.Transaction, c: ClaimCommand): Promise<ClaimResult> {
    const n = await trx<TransactionRow>(TX)
      .where({ gid: c.gid, due_at: c.expectDueAt })
      .whereIn('status', ['TRYING', 'CONFIRMING', 'CANCELLING'])
      .update({ due_at: c.leaseUntil, owner: c.owner });
    return { claimed: n === 1 };
  }

  private async expedite(trx: Knex.Transaction, c: ExpediteCommand): Promise<ExpediteResult> {
    const txn = await this.lockTransaction(trx, c.gid);
    if (!txn) return { txn: null };
    if (txn.status !== 'CONFIRMING' && txn.status !== 'CANCELLING') return { txn };
    await trx<BranchRow>(BR).where({ gid: c.gid, phase_two: 'PENDING' }).update({ next_retry_at: c.now, updated_at: c.now });
    const claimHeld = txn.owner !== null && txn.dueAt !== null && txn.dueAt > c.now;
    if (claimHeld) return { txn };
    await trx<TransactionRow>(TX).where({ gid: c.gid }).update({ due_at: c.now, owner: null, updated_at: c.now });
    return { txn: { ...txn, dueAt: c.now, owner: null, updatedAt: c.now } };
  }

  async getTransaction(gid: string): Promise<TransactionRecord | null> {
    const row = await this.knex<TransactionRow>(TX).where({ gid }).first();
    return row ? toTransaction(row) : null;
  }

  getBranches(gid: string): Promise<BranchRecord[]> {
    return this.branchesOf(this.knex, gid);
  }

  async getLogs(gid: string): Promise<PhaseLogRecord[]> {
    const rows = await this.knex<LogRow>(LOGS).where({ gid }).orderBy('id');
    return rows.map(toLog);
  }

  async listTransactions(f: ListFilter): Promise<TransactionRecord[]> {
    const q = this.knex<TransactionRow>(TX).select(`${TX}.*`).orderBy(`${TX}.gid`).limit(f.limit);
    if (f.statuses?.length) q.whereIn(`${TX}.status`, f.statuses);
    if (f.stuckOnly) q.where(`${TX}.stuck`, true);
    if (f.createdBefore !== undefined) q.where(`${TX}.created_at`, '<=', f.createdBefore);
    if (f.afterGid) q.where(`${TX}.gid`, '>', f.afterGid);
    if (f.participant) {
      const participant = f.participant;
      q.whereExists((sub) => {
        void sub.select(this.knex.raw('1')).from(BR).whereRaw(`${BR}.gid = ${TX}.gid`).where(`${BR}.participant`, participant);
      });
    }
    const rows = await q;
    return rows.map(toTransaction);
  }

  async findExpired(now: number, limit: number): Promise<DueTransaction[]> {
    // Served by the (status, due_at) index: TRYING rows only, however many decided ones are due.
    const rows = await this.knex<TransactionRow>(TX)
      .select('gid', 'status', 'due_at')
      .where('status', 'TRYING')
      .where('due_at', '<=', now)
      .orderBy('due_at')
      .limit(limit);
    return rows.map((r) => ({ gid: r.gid, status: r.status, dueAt: Number(r.due_at) }));
  }

  async findDuePhaseTwo(now: number, limit: number, fullTargets: readonly string[]): Promise<DuePhaseTwo[]> {
    const q = this.knex<TransactionRow>(TX)
      .select('gid', 'status', 'due_at')
      .whereIn('status', ['CONFIRMING', 'CANCELLING'])
      .where('due_at', '<=', now)
      .orderBy('due_at')
      .limit(limit);
    if (fullTargets.length) {
      q.whereNotExists((sub) => {
        void sub
          .select(this.knex.raw('1'))
          .from(BR)
          .whereRaw(`${BR}.gid = ${TX}.gid`)
          .where(`${BR}.phase_two`, 'PENDING')
          .whereIn(`${BR}.participant`, fullTargets);
      });
    }
    const rows = await q;
    if (rows.length === 0) return [];
    const counts = await this.knex<BranchRow>(BR)
      .select('gid', 'participant')
      .count({ n: '*' })
      .whereIn(
        'gid',
        rows.map((r) => r.gid),
      )
      .where('phase_two', 'PENDING')
      .groupBy('gid', 'participant');
    const targets = new Map<string, Map<string, number>>();
    for (const c of counts as unknown as { gid: string; participant: string; n: number | string }[]) {
      let m = targets.get(c.gid);
      if (!m) targets.set(c.gid, (m = new Map<string, number>()));
      m.set(c.participant, Number(c.n));
    }
    return rows.map((r) => ({ gid: r.gid, status: r.status, dueAt: Number(r.due_at), targets: targets.get(r.gid) ?? new Map<string, number>() }));
  }

  async purgeFinished(before: number, limit: number): Promise<number> {
    const rows = await this.knex<TransactionRow>(TX)
      .select('gid')
      .whereIn('status', ['CONFIRMED', 'CANCELLED'])
      .where('updated_at', '<', before)
      .limit(limit);
    if (rows.length === 0) return 0;
    const gids = rows.map((r) => r.gid);
    return this.knex.transaction(async (trx) => {
      // Children first, then the transaction rows, re-checked: nothing that is not finished goes.
      await trx(LOGS).whereIn('gid', gids).delete();
      await trx(BR).whereIn('gid', gids).delete();
      return Number(await trx<TransactionRow>(TX).whereIn('gid', gids).whereIn('status', ['CONFIRMED', 'CANCELLED']).delete());
    });
  }

  async databaseTimeMs(): Promise<number | null> {
    if (this.dialect === 'sqlite') return null;
    // UTC and a difference in microseconds: independent of the session's time zone (no DST folds).
    const [rows] = (await this.knex.raw(
      "SELECT TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6)) AS us",
    )) as unknown as [Array<{ us: number | string }>];
    return Number(rows[0].us) / 1000;
  }

  async ping(): Promise<void> {
    await this.knex.raw('select 1');
  }

  async close(): Promise<void> {
    await this.knex.destroy();
  }
}
