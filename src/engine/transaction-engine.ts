import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../domain/clock';
import { noCrash, type CrashHook } from './crash-points';
import {
  BranchConflictError,
  BranchNotFoundError,
  BranchOutcomeUnknownError,
  BranchRefusedError,
  InvalidArgumentError,
  ParticipantNotAllowedError,
  TransactionAlreadyExistsError,
  TransactionCommittedError,
  TransactionNotFoundError,
  TransactionNotInPhaseTwoError,
  TransactionNotTryingError,
  TransactionRolledBackError,
} from './errors';
import { GidGenerator } from './gid';
import type { BranchRecord, PhaseLogRecord, TransactionRecord, TryState } from '../domain/model';
import { isFinal } from '../domain/model';
import { ParticipantCaller, type CallResult } from './participant-caller';
import type { ParticipantAllowlist } from './participant-allowlist';
import { PhaseExecutor, type ReservedSlots, type RoundOptions } from './phase-executor';
import { describeError } from '../log/describe-error';
import type { RetryPolicy } from './retry-policy';
import { claimLeaseMs } from '../domain/recovery-rules';
import { newClaimToken } from '../domain/claim-token';
import { PARTICIPANT_MESSAGE_MAX, TIMEOUT_REASON } from '../domain/state-machine';
import { printableText } from '../domain/printable-text';
import { StuckReporter } from './stuck-reporter';
import { TargetLimiter } from './target-limiter';
import { validateAction, validateId, validateOperatorText, validatePayload, validateTarget, validateTimeout } from './validation';
import { createCoordinatorMetrics, type CoordinatorMetrics } from '../metrics/coordinator-metrics';
import { GroupCommitter, type GroupCommitterOptions, type SubmitOptions } from '../store/group-committer';
import { StoreDeadlineExceededError, StoreQueueFullError } from '../store/store-errors';
import type { DecideResult, NewBranch, RegisterResult, StoreCommand, StuckThresholds, TransactionStore } from '../store/transaction-store';

/** Limits and timings of the engine (from Config; see src/config/config.ts for defaults). */
export interface EngineLimits {
  defaultTimeoutMs: number;
  maxTimeoutMs: number;
  branchTimeoutMs: number;
  maxPayloadBytes: number;
  maxBranches: number;
  /** Longest sweep interval of the recovery loop, ms. */
  sweepIntervalMs: number;
  /** Longest a `wait` call waits when the caller set no deadline, ms. */
  maxWaitMs: number;
}

/** How recovery works decided transactions (from Config; see src/config/config.ts for defaults). */
export interface RecoverySettings {
  /** When a transaction is flagged stuck. */
  stuck: StuckThresholds;
  /** Most phase-two calls (client rounds and recovery) in flight per participant target, per process; no slot, the call is deferred. */
  concurrencyPerTarget: number;
  /** POST target for stuck alerts; none by default. */
  alertWebhookUrl?: string;
  /** Who began a transaction (client authentication), for the stuck-target count per client. Default: none. */
  ownerOf?: (gid: string) => Promise<string | undefined>;
}

/** Options of {@link TransactionEngine}. */
export interface TransactionEngineOptions {
  store: TransactionStore;
  limits: EngineLimits;
  retryPolicy: RetryPolicy;
  recovery: RecoverySettings;
  logger: Logger;
  /** This process's name in tcc_logs and claims. */
  node: string;
  /** Default: the system clock. */
  clock?: Clock;
  /** Default: a new caller with default channel options. */
  caller?: ParticipantCaller;
  /** Default: fresh metrics in their own registry. */
  metrics?: CoordinatorMetrics;
  /** Fault injection for crash tests. Default: never crashes. */
  crash?: CrashHook;
  /** Targets clients may name (TCC_PARTICIPANT_ALLOW). Default: any. */
  participantAllowlist?: ParticipantAllowlist;
  /** Options of the group committer (queue bound, batch sizes). Default: its defaults. */
  committer?: GroupCommitterOptions;
  /**
   * When every branch of a client's round answered OK and no caller waits
   * for it (wait=false), the final-status write waits up to this long for a
   * batch started by other work (TCC_FINAL_WRITE_DELAY_MS); 0: written at once.
   * Default 20.
   */
  finalWriteDelayMs?: number;
}

/** When the client's call gives up, epoch ms on this process's clock (the gRPC deadline); absent: no deadline. */
export interface CallDeadline {
  deadline?: number;
}

/** What an operator gives with Abort. */
export interface AbortInput extends CallDeadline {
  reason?: string;
  operator?: string;
  wait?: boolean;
  waitUntil?: number;
}

/** What an operator gives with ResolveBranch: both required. */
export interface ResolveInput extends CallDeadline {
  reason: string;
  operator: string;
}

type DecisionCause = 'client' | 'deadline' | 'operator';

/** A decision to write, and on whose behalf. */
interface DecisionRequest {
  decision: 'commit' | 'rollback';
  reason: string;
  cause: DecisionCause;
  /** Who asked, for operator decisions. */
  operator?: string;
}

/** A transaction after a decision attempt; `decidedNow` when this call's decision won (else it was decided before). */
interface DecidedView {
  txn: TransactionRecord;
  branches: BranchRecord[];
  decidedNow: boolean;
}

/** What a local round left: the row it wrote, and the branches when its write finished the transaction. */
interface RoundEnd {
  txn: TransactionRecord;
  branches?: BranchRecord[];
}

const CLIENT_COMMIT: DecisionRequest = { decision: 'commit', reason: '', cause: 'client' };
const CLIENT_ROLLBACK: DecisionRequest = { decision: 'rollback', reason: 'rolled back by the client', cause: 'client' };
const DEADLINE_ROLLBACK: DecisionRequest = { decision: 'rollback', reason: TIMEOUT_REASON, cause: 'deadline' };

export interface BranchInput {
  branchId?: string;
  participant: string;
  action: string;
  payload: Buffer;
}

/** A transaction as GetTransaction shows it. */
export interface TransactionView {
  txn: TransactionRecord;
  branches: BranchRecord[];
  logs: PhaseLogRecord[];
  /** Log rows left out of `logs` (GetTransaction shows at most {@link MAX_TIMELINE_ROWS}). */
  logsOmitted?: number;
}

/**
 * Most log rows GetTransaction answers with: ~1.3 KiB each at worst (a
 * 1 KiB error), so the answer stays well under gRPC's 4 MiB.
 */
export const MAX_TIMELINE_ROWS = 2_000;

export interface FinishOptions extends CallDeadline {
  /** Answer only once phase two has finished, or at `waitUntil`. */
  wait?: boolean;
  /** Epoch ms; default now + maxWaitMs. */
  waitUntil?: number;
  traceparent?: string;
}

export interface ExecuteInput extends CallDeadline {
  gid?: string;
  timeoutMs?: number;
  branches: BranchInput[];
  sequential?: boolean;
  wait?: boolean;
  waitUntil?: number;
  traceparent?: string;
}

/**
 * A client call's write: refused while the group-commit queue is full, and
 * dropped unwritten when the call's deadline passes first. Recovery work
 * (deadline rollbacks, phase two) is submitted without these and is never dropped.
 */
function clientWork(c: CallDeadline): SubmitOptions {
  return { client: true, deadline: c.deadline };
}

/** How often a `wait` caller reads the transaction while another process may be working it, ms. */
const WAIT_POLL_MS = 250;
/** How often it reads while this process runs the round (it is woken when the round ends): only a safety net, ms. */
const WAIT_SAFETY_NET_MS = 10_000;

const TRY_STATE_OF: Record<CallResult['outcome'], TryState> = { ok: 'SUCCEEDED', refused: 'REFUSED', unknown: 'UNKNOWN' };

/**
 * The coordinator's engine: Begin / Try / Commit / Rollback / Execute / Get,
 * phase two and recovery. Every state change is written (through the group
 * committer) before the participant call it allows: a branch before its Try,
 * a decision before any Confirm/Cancel. A crash at any instant leaves rows
 * the recovery loop finishes from.
 */
export class TransactionEngine {
  readonly store: TransactionStore;
  private readonly caller: ParticipantCaller;
  private readonly participantAllowlist: ParticipantAllowlist | undefined;
  private readonly clock: Clock;
  private readonly gids: GidGenerator;
  private readonly log: Logger;
  private readonly limits: EngineLimits;
  private readonly node: string;
  private readonly executor: PhaseExecutor;
  private readonly waiters = new Map<string, Set<(ended?: RoundEnd) => void>>();
  /** Phase-two rounds this process is running, by gid (how many callers joined each). */
  private readonly localRounds = new Map<string, number>();
  /** How long the claim a decision takes on phase two lasts (claimLeaseMs). */
  readonly leaseMs: number;
  /** Caps phase-two calls per participant target in this process; recovery reserves slots in it before it claims. */
  readonly limiter: TargetLimiter;
  readonly committer: GroupCommitter;
  readonly metrics: CoordinatorMetrics;
  /** Told the earliest time a retry is due (the recovery scheduler wakes up for it). */
  private retryListener: (dueAt: number) => void = () => undefined;
  private readonly stuckReporter: StuckReporter;
  private readonly crash: CrashHook;

  constructor(o: TransactionEngineOptions) {
    this.store = o.store;
    this.clock = o.clock ?? systemClock;
    const finalWriteDelayMs = o.finalWriteDelayMs ?? 20;
    this.committer = new GroupCommitter(o.store, { lazyWriteMs: finalWriteDelayMs, ...o.committer, onBatch: (n, ms) => this.metrics.observeStoreBatch(n, ms) });
    this.caller = o.caller ?? new ParticipantCaller({ now: () => this.clock.now() });
    this.participantAllowlist = o.participantAllowlist;
    this.gids = new GidGenerator(() => this.clock.now());
    this.log = o.logger;
    this.limits = o.limits;
    this.node = o.node;
    this.metrics = o.metrics ?? createCoordinatorMetrics();
    this.crash = o.crash ?? noCrash;
    this.leaseMs = claimLeaseMs(o.limits.branchTimeoutMs);
    this.limiter = new TargetLimiter(o.recovery.concurrencyPerTarget);
    this.stuckReporter = new StuckReporter({
      logger: o.logger,
      metrics: this.metrics,
      node: o.node,
      webhookUrl: o.recovery.alertWebhookUrl,
      ownerOf: o.recovery.ownerOf,
    });
    this.executor = new PhaseExecutor({
      store: o.store,
      committer: this.committer,
      caller: this.caller,
      clock: this.clock,
      logger: o.logger,
      node: o.node,
      branchTimeoutMs: o.limits.branchTimeoutMs,
      retryPolicy: o.retryPolicy,
      stuck: o.recovery.stuck,
      limiter: this.limiter,
      metrics: this.metrics,
      crash: this.crash,
      nobodyWaits: (gid) => finalWriteDelayMs > 0 && !this.waiters.has(gid),
      onRetryScheduled: (at) => this.retryListener(at),
      onRoundEnd: (txn, branches) => this.notify(txn.gid, { txn, branches }),
      onStuck: (txn, branch) => this.stuckReporter.report(txn, branch),
    });
  }

  /** Who is told the earliest time a retry is due (the recovery scheduler). */
  onRetryScheduled(listener: (dueAt: number) => void): void {
    this.retryListener = listener;
  }

  /** Waits for phase-two rounds in progress and alerts being posted; closes participant channels. */
  async stop(): Promise<void> {
    // Final writes waiting for company go now: nothing else will start their batch.
    this.committer.flushLazy();
    await Promise.allSettled(this.executor.inFlight());
    await this.stuckReporter.drain();
    this.caller.close();
  }

  /** Recovery: rolls back a TRYING transaction whose deadline has passed (compare-and-set; a decision made first wins). */
  async rollbackExpired(gid: string): Promise<void> {
    await this.decideAndFinish(gid, DEADLINE_ROLLBACK, {});
  }

  /**
   * Recovery: one phase-two round of a claimed, decided transaction, on
   * `branches` when given (read with the claim), else it reads them; answers
   * the row it left (null when the transaction is gone).
   */
  runPhaseTwo(txn: TransactionRecord, claim: { claimToken: string; slots?: ReservedSlots; branches?: BranchRecord[] }): Promise<TransactionRecord | null> {
    return this.runRound(txn, claim.branches, { claimToken: claim.claimToken, slots: claim.slots, recovery: true });
  }

  async begin(input: { gid?: string; timeoutMs?: number } & CallDeadline): Promise<TransactionRecord> {
    const gid = input.gid ? validateId('gid', input.gid) : this.gids.next();
    const timeout = validateTimeout('timeout_ms', input.timeoutMs ?? 0, this.limits.defaultTimeoutMs, this.limits.maxTimeoutMs);
    const now = this.clock.now();
    const [{ txn }] = await this.committer.submit([{ kind: 'create', gid, now, deadlineAt: now + timeout, fresh: !input.gid }] as const, clientWork(input));
    this.crash('after-begin');
    if (txn.status !== 'TRYING') throw new TransactionAlreadyExistsError(gid, txn.status);
    return txn;
  }

  /** Stores the branch, then calls its Try; answers the participant's result or a typed error. */
  async tryBranch(input: { gid: string; branch: BranchInput; timeoutMs?: number; traceparent?: string } & CallDeadline): Promise<{ branchId: string; result: Buffer }> {
    const gid = validateId('gid', input.gid);
    const branch = this.validateBranch('branch', input.branch, randomBytes(8).toString('hex'));
    const timeout = validateTimeout('timeout_ms', input.timeoutMs ?? 0, this.limits.branchTimeoutMs, this.limits.maxTimeoutMs);
    const now = this.clock.now();
    const [reg] = await this.committer.submit([
      { kind: 'register', gid, now, branches: [branch], maxBranches: this.limits.maxBranches },
    ] as const, clientWork(input));
    if (!reg.ok) {
      switch (reg.why) {
        case 'not_found':
          throw new TransactionNotFoundError(gid);
        case 'expired':
          await this.decideAndFinish(gid, DEADLINE_ROLLBACK, {});
          throw new TransactionNotTryingError(gid, reg.txn.status, true);
        case 'not_trying':
          throw new TransactionNotTryingError(gid, reg.txn.status, false);
        case 'too_many':
          throw new InvalidArgumentError('branch', `transaction already has the maximum of ${this.limits.maxBranches} branches`);
        case 'conflict':
          throw new BranchConflictError(gid, reg.branchId);
      }
    }
    const stored = reg.branches[0];
    if (stored.tryState === 'REFUSED') throw new BranchRefusedError(gid, stored.branchId, 'refused earlier');
    this.crash('after-register');
    // A Try outliving the transaction is useless: its answer would come after the rollback.
    const callTimeout = Math.max(1, Math.min(timeout, reg.txn.deadlineAt - now));
    const call = await this.callTry(stored, callTimeout, input.traceparent);
    await this.committer.submit([this.tryOutcomeCommand(stored, call)] as const, clientWork(input));
    this.crash('after-try');
    return this.tryAnswer(stored, call);
  }

  async commit(gidInput: string, opts: FinishOptions = {}): Promise<TransactionView> {
    const gid = validateId('gid', gidInput);
    const res = await this.decideAndFinish(gid, CLIENT_COMMIT, opts);
    const { txn } = res;
    if (txn.status === 'CANCELLING' || txn.status === 'CANCELLED') {
      throw new TransactionRolledBackError(gid, txn.reason || 'rolled back', txn.status);
    }
    return this.settle(res, opts);
  }

  async rollback(gidInput: string, opts: FinishOptions = {}): Promise<TransactionView> {
    const gid = validateId('gid', gidInput);
    const res = await this.decideAndFinish(gid, CLIENT_ROLLBACK, opts);
    if (res.txn.status === 'CONFIRMING' || res.txn.status === 'CONFIRMED') {
      throw new TransactionCommittedError(gid, res.txn.status);
    }
    return this.settle(res, opts);
  }

  /** Operator rollback of a TRYING transaction: like a client Rollback, with who and why on the decision's log row. */
  async abort(gidInput: string, input: AbortInput = {}): Promise<TransactionView> {
    const gid = validateId('gid', gidInput);
    const operator = input.operator ? validateOperatorText('operator', input.operator, 128) : '';
    const why = input.reason ? validateOperatorText('reason', input.reason, 512) : '';
    const reason = `aborted by operator${operator ? ` ${operator}` : ''}${why ? `: ${why}` : ''}`;
    const opts: FinishOptions = { wait: input.wait, waitUntil: input.waitUntil, deadline: input.deadline };
    const res = await this.decideAndFinish(gid, { decision: 'rollback', reason, cause: 'operator', operator }, opts);
    if (res.txn.status === 'CONFIRMING' || res.txn.status === 'CONFIRMED') {
      throw new TransactionCommittedError(gid, res.txn.status);
    }
    if (res.decidedNow) this.log.warn({ gid, operator, status: res.txn.status }, 'transaction aborted by operator');
    return this.settle(res, opts);
  }

  /**
   * An operator marks a pending branch of a decided transaction done by hand
   * (after fixing the participant's data); recorded in tcc_logs with reason
   * and operator. The transaction finishes once nothing is left pending.
   */
  async resolveBranch(gidInput: string, branchIdInput: string, input: ResolveInput): Promise<TransactionView> {
    const gid = validateId('gid', gidInput);
    const branchId = validateId('branch_id', branchIdInput);
    const reason = validateOperatorText('reason', input.reason, 1024);
    const operator = validateOperatorText('operator', input.operator, 128);
    const now = this.clock.now();
    const [res] = await this.committer.submit([
      { kind: 'resolve', gid, branchId, reason, operator, now, node: this.node },
    ] as const, clientWork(input));
    if (!res.found) throw new TransactionNotFoundError(gid);
    if (!res.resolved && res.why === 'no_branch') throw new BranchNotFoundError(gid, branchId);
    if (!res.resolved && res.why === 'not_in_phase_two') throw new TransactionNotInPhaseTwoError(gid, res.txn.status);
    if (res.resolved) {
      this.log.warn({ gid, branch_id: branchId, operator, status: res.txn.status }, 'branch resolved by operator');
      if (isFinal(res.txn.status)) this.metrics.observeFinished(res.txn);
      this.notify(gid);
    }
    return this.get(gid);
  }

  /** Begin + every Try + Commit, or rollback when any Try did not succeed. */
  async execute(input: ExecuteInput): Promise<TransactionView> {
    const gid = input.gid ? validateId('gid', input.gid) : this.gids.next();
    const timeout = validateTimeout('timeout_ms', input.timeoutMs ?? 0, this.limits.defaultTimeoutMs, this.limits.maxTimeoutMs);
    if (input.branches.length === 0) throw new InvalidArgumentError('branches', 'at least one branch is needed');
    if (input.branches.length > this.limits.maxBranches) {
      throw new InvalidArgumentError('branches', `${input.branches.length} branches, over the maximum of ${this.limits.maxBranches}`);
    }
    // Ids by position when not given, so a retried Execute names the same branches.
    const branches = input.branches.map((b, i) => this.validateBranch(`branches[${i}]`, b, String(i + 1)));
    const seen = new Set<string>();
    for (const b of branches) {
      if (seen.has(b.branchId)) throw new InvalidArgumentError('branches', `duplicate branch_id ${b.branchId}`);
      seen.add(b.branchId);
    }

    const now = this.clock.now();
    const deadlineAt = now + timeout;
    const create = { kind: 'create', gid, now, deadlineAt, fresh: !input.gid } as const;
    const finish: FinishOptions = { wait: input.wait, waitUntil: input.waitUntil, traceparent: input.traceparent, deadline: input.deadline };
    const max = this.limits.maxBranches;

    if (!input.sequential) {
      const [, reg] = await this.committer.submit([create, { kind: 'register', gid, now, branches, maxBranches: max }] as const, clientWork(input));
      if (!reg.ok) return this.executeRejected(gid, reg, finish);
      const callTimeout = Math.max(1, Math.min(this.limits.branchTimeoutMs, reg.txn.deadlineAt - now));
      // A retried Execute never asks a branch that refused again: the decision will roll back.
      const toCall = reg.branches.filter((b) => b.tryState !== 'REFUSED');
      this.crash('after-register');
      const calls = await Promise.all(toCall.map((b) => this.callTry(b, callTimeout, input.traceparent)));
      const outcomes = toCall.map((b, i) => this.tryOutcomeCommand(b, calls[i]));
      return this.finishExecute(gid, outcomes, finish);
    }

    // Sequential: each branch is stored just before its Try; the previous
    // outcome rides in the same write. Stops at the first Try not succeeded.
    let pendingOutcome: ReturnType<TransactionEngine['tryOutcomeCommand']> | undefined;
    for (let i = 0; i < branches.length; i++) {
      const t = this.clock.now();
      const register = { kind: 'register', gid, now: t, branches: [branches[i]], maxBranches: max } as const;
      let reg: RegisterResult;
      if (i === 0) [, reg] = await this.committer.submit([create, register] as const, clientWork(input));
      else [, reg] = await this.committer.submit([pendingOutcome!, register] as const, clientWork(input));
      if (!reg.ok) return this.executeRejected(gid, reg, finish);
      const b = reg.branches[0];
      if (b.tryState !== 'REFUSED') this.crash('after-register');
      const call = b.tryState === 'REFUSED' ? undefined : await this.callTry(b, Math.max(1, Math.min(this.limits.branchTimeoutMs, reg.txn.deadlineAt - t)), input.traceparent);
      if (!call) return this.finishExecute(gid, [], finish);
      pendingOutcome = this.tryOutcomeCommand(b, call);
      if (call.outcome !== 'ok') break;
    }
    return this.finishExecute(gid, pendingOutcome ? [pendingOutcome] : [], finish);
  }

  async get(gidInput: string): Promise<TransactionView> {
    const gid = validateId('gid', gidInput);
    const txn = await this.store.getTransaction(gid);
    if (!txn) throw new TransactionNotFoundError(gid);
    const [branches, timeline] = await Promise.all([this.store.getBranches(gid), this.store.getTimeline(gid, MAX_TIMELINE_ROWS)]);
    return { txn, branches, logs: timeline.logs, logsOmitted: timeline.omitted };
  }

  // --- internals ---

  private validateBranch(field: string, b: BranchInput, defaultId: string): NewBranch {
    const payload = Buffer.isBuffer(b.payload) ? b.payload : Buffer.from(b.payload ?? []);
    const participant = validateTarget(`${field}.participant`, b.participant);
    // Checked before anything is stored: the coordinator never dials, nor records, a target outside the list.
    if (this.participantAllowlist && !this.participantAllowlist.allows(participant)) {
      throw new ParticipantNotAllowedError(`${field}.participant`);
    }
    return {
      branchId: b.branchId ? validateId(`${field}.branch_id`, b.branchId) : defaultId,
      participant,
      action: validateAction(`${field}.action`, b.action),
      payload: validatePayload(`${field}.payload`, payload, this.limits.maxPayloadBytes),
    };
  }

  private callTry(b: BranchRecord, timeoutMs: number, traceparent?: string): Promise<CallResult> {
    return this.caller.call({
      target: b.participant,
      phase: 'try',
      gid: b.gid,
      branchId: b.branchId,
      action: b.action,
      payload: b.payload,
      timeoutMs,
      traceparent,
    });
  }

  private tryOutcomeCommand(b: BranchRecord, c: CallResult) {
    this.metrics.participantCalls.inc({ phase: 'try', outcome: c.outcome });
    this.metrics.observeParticipantCall({ participant: b.participant, phase: 'try', outcome: c.outcome, transport: c.transport, durationMs: c.durationMs });
    if (c.outcome === 'unknown') {
      this.log.warn({ gid: b.gid, branch_id: b.branchId, grpc_code: c.grpcCode, err: c.error }, 'Try outcome unknown; branch will be cancelled');
    }
    return {
      kind: 'tryOutcome',
      gid: b.gid,
      branchId: b.branchId,
      state: TRY_STATE_OF[c.outcome],
      error: c.error,
      now: this.clock.now(),
      log: {
        gid: b.gid,
        branchId: b.branchId,
        phase: 'try',
        attempt: b.tryAttempts,
        outcome: c.outcome,
        grpcCode: c.grpcCode,
        error: c.error,
        startedAt: c.startedAt,
        durationMs: c.durationMs,
        node: this.node,
      },
    } as const;
  }

  private tryAnswer(b: BranchRecord, c: CallResult): { branchId: string; result: Buffer } {
    if (c.outcome === 'ok') return { branchId: b.branchId, result: c.result };
    if (c.outcome === 'refused') throw new BranchRefusedError(b.gid, b.branchId, printableText(c.error, PARTICIPANT_MESSAGE_MAX));
    throw new BranchOutcomeUnknownError(b.gid, b.branchId, c.grpcCode, c.error);
  }

  private async finishExecute(
    gid: string,
    outcomes: ReturnType<TransactionEngine['tryOutcomeCommand']>[],
    finish: FinishOptions,
  ): Promise<TransactionView> {
    this.crash('after-try');
    const now = this.clock.now();
    const claimToken = newClaimToken(this.node);
    const decided = await this.writeDecision(gid, claimToken, [
      ...outcomes,
      { kind: 'decide', gid, decision: 'commit', reason: '', now, node: this.node, claimToken, leaseUntil: now + this.leaseMs },
    ], clientWork(finish));
    return this.answerExecute(gid, this.startPhaseTwo(gid, decided, finish, 'client', claimToken), finish);
  }

  private async executeRejected(
    gid: string,
    reg: Extract<RegisterResult, { ok: false }>,
    finish: FinishOptions,
  ): Promise<TransactionView> {
    switch (reg.why) {
      case 'not_found':
        throw new TransactionNotFoundError(gid);
      case 'too_many':
        throw new InvalidArgumentError('branches', `transaction would have more than ${this.limits.maxBranches} branches`);
      case 'conflict':
        throw new BranchConflictError(gid, reg.branchId);
      case 'expired':
        return this.answerExecute(gid, await this.decideAndFinish(gid, DEADLINE_ROLLBACK, finish), finish);
      case 'not_trying':
        // A retried Execute of a transaction decided before: the same answer again.
        return this.answerExecute(gid, await this.decideAndFinish(gid, CLIENT_COMMIT, finish), finish);
    }
    throw new Error('unreachable');
  }

  private async answerExecute(gid: string, res: { txn: TransactionRecord; branches: BranchRecord[] }, finish: FinishOptions): Promise<TransactionView> {
    if (res.txn.status === 'CANCELLING' || res.txn.status === 'CANCELLED') {
      throw new TransactionRolledBackError(gid, res.txn.reason || 'rolled back', res.txn.status);
    }
    return this.settle(res, finish);
  }

  /** Writes the decision (compare-and-set from TRYING), then starts phase two. */
  private async decideAndFinish(gid: string, d: DecisionRequest, opts: FinishOptions): Promise<DecidedView> {
    const now = this.clock.now();
    const claimToken = newClaimToken(this.node);
    const res = await this.writeDecision(gid, claimToken, [
      { kind: 'decide', gid, decision: d.decision, reason: d.reason, now, node: this.node, claimToken, leaseUntil: now + this.leaseMs, operator: d.operator },
    ], d.cause === 'deadline' ? {} : clientWork(opts));
    return this.startPhaseTwo(gid, res, opts, d.cause, claimToken);
  }

  /**
   * Writes a batch whose last command is a decision. When the write fails,
   * its outcome may be unknown (the connection was lost around COMMIT: the
   * server may have committed); and the group committer may have re-run a
   * batch that did commit, which then answers "decided before". The row
   * tells: owned by this decision's claim token, the decision is ours and
   * phase two starts now, not a claim lease later. Not decided: the error
   * stands (nothing was written; the caller may retry).
   */
  private async writeDecision(gid: string, claimToken: string, commands: StoreCommand[], submit: SubmitOptions): Promise<DecideResult> {
    let res: DecideResult;
    try {
      const results = await this.committer.submit(commands, submit);
      res = results[results.length - 1] as DecideResult;
    } catch (err) {
      // Refused or dropped before its batch started: nothing was written, and under overload a read would only add load.
      if (err instanceof StoreQueueFullError || err instanceof StoreDeadlineExceededError) throw err;
      const txn = await this.store.getTransaction(gid).catch(() => null);
      if (!txn || txn.status === 'TRYING') throw err;
      this.log.warn({ gid, err: describeError(err), status: txn.status }, 'writing a decision failed, but it was committed; going on from the stored row');
      res = { found: true, decided: false, txn, branches: await this.store.getBranches(gid) };
    }
    if (res.found && !res.decided && res.txn.owner === claimToken) return { ...res, decided: true };
    return res;
  }

  /** Counts and logs a decision; when this call's decision won, starts its phase-two round under the decision's claim (`claimToken`). */
  private startPhaseTwo(gid: string, res: DecideResult, opts: FinishOptions, cause: DecisionCause, claimToken: string): DecidedView {
    if (!res.found) throw new TransactionNotFoundError(gid);
    if (res.decided) {
      const decision = res.txn.status === 'CONFIRMING' || res.txn.status === 'CONFIRMED' ? 'commit' : 'rollback';
      // A Commit turned into a rollback (a Try not succeeded, the deadline) is counted by what was decided.
      this.metrics.decisions.inc({ decision, cause });
      this.log.debug({ gid, status: res.txn.status, reason: res.txn.reason || undefined }, 'transaction decided');
      this.crash('after-decision');
      if (isFinal(res.txn.status)) this.metrics.observeFinished(res.txn);
      else {
        // Not awaited: callers without `wait` get their answer as soon as the decision is durable.
        this.runRound(res.txn, res.branches, { traceparent: opts.traceparent, claimToken }).catch((err: unknown) => {
          this.log.error({ gid, err: describeError(err) }, 'phase two failed; recovery will retry');
          this.retryListener(res.txn.dueAt ?? Date.now() + this.limits.sweepIntervalMs);
        });
      }
    }
    return { txn: res.txn, branches: res.branches, decidedNow: res.decided };
  }

  /** Runs (or joins) a phase-two round, noting that this process is running one for the gid while it lasts. */
  private runRound(txn: TransactionRecord, branches: BranchRecord[] | undefined, options: RoundOptions): Promise<TransactionRecord | null> {
    const gid = txn.gid;
    this.localRounds.set(gid, (this.localRounds.get(gid) ?? 0) + 1);
    const done = () => {
      const n = (this.localRounds.get(gid) ?? 1) - 1;
      if (n > 0) this.localRounds.set(gid, n);
      else this.localRounds.delete(gid);
    };
    const round = this.executor.run(txn, branches, options);
    round.then(
      () => done(),
      () => {
        done();
        // A round whose write failed never reaches onRoundEnd: waiting callers look at the database.
        this.notify(gid);
      },
    );
    return round;
  }

  /**
   * The answer of Commit/Rollback/Execute: now, or once finished when `wait`
   * is set. While this process runs the transaction's round, the caller is
   * woken by the round's end (with the row it wrote) and reads nothing
   * meanwhile; the database is polled only while another process may be
   * working it, and as a slow safety net.
   */
  private async settle(res: { txn: TransactionRecord; branches: BranchRecord[] }, opts: FinishOptions): Promise<TransactionView> {
    if (!opts.wait || isFinal(res.txn.status)) return { txn: res.txn, branches: res.branches, logs: [] };
    const until = opts.waitUntil ?? this.clock.now() + this.limits.maxWaitMs;
    const gid = res.txn.gid;
    let txn = res.txn;
    let roundEnded = false;
    for (;;) {
      const left = until - this.clock.now();
      if (isFinal(txn.status) || left <= 0) return { txn, branches: await this.store.getBranches(gid), logs: [] };
      // Right after a round ended unfinished, its retry may be run anywhere: poll.
      const interval = !roundEnded && this.localRounds.has(gid) ? WAIT_SAFETY_NET_MS : WAIT_POLL_MS;
      const seen = await this.waitForRound(gid, Math.max(1, Math.min(interval, left)));
      roundEnded = seen !== undefined;
      // The round that finished it knows the branches as it stored them: nothing to read.
      if (seen?.branches && isFinal(seen.txn.status)) return { txn: seen.txn, branches: seen.branches, logs: [] };
      const current = seen?.txn ?? (await this.store.getTransaction(gid));
      if (!current) throw new TransactionNotFoundError(gid);
      txn = current;
    }
  }

  /** Resolves with what a local round wrote when it ends, or undefined after `ms` (or when told to look again). */
  private waitForRound(gid: string, ms: number): Promise<RoundEnd | undefined> {
    return new Promise((resolve) => {
      let set = this.waiters.get(gid);
      if (!set) this.waiters.set(gid, (set = new Set()));
      const done = (ended?: RoundEnd) => {
        clearTimeout(timer);
        set.delete(done);
        if (set.size === 0) this.waiters.delete(gid);
        resolve(ended);
      };
      const timer = setTimeout(done, ms);
      set.add(done);
    });
  }

  private notify(gid: string, ended?: RoundEnd): void {
    for (const w of [...(this.waiters.get(gid) ?? [])]) w(ended);
  }
}
