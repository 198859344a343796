import type { BranchRecord, PhaseLogRecord, TransactionRecord, TryState } from '../domain/model';
import { finalStatusOf, nextTryState, planDecision } from '../domain/state-machine';
import { isStuck, releaseDueAt } from '../domain/recovery-rules';
import { chunk, type StatementLimits } from './chunked-insert';
import { toBranch, toTransaction, truncate, type BranchRow, type TransactionRow } from './row-mapping';
import { placeholders, tuplePlaceholders, type RowCount, type SqlRow, type SqlRunner, type Statement } from './sql-runner';
import type {
  ClaimCommand,
  CreateCommand,
  DecideCommand,
  DecideResult,
  PhaseTwoCommand,
  RegisterCommand,
  StoreCommand,
  TryOutcomeCommand,
} from './transaction-store';

const TX = 'tcc_transactions';
const BR = 'tcc_branches';
const TRY_STATES: readonly TryState[] = ['PENDING', 'SUCCEEDED', 'REFUSED', 'UNKNOWN'];

const TX_COLUMNS = ['gid', 'status', 'reason', 'created_at', 'updated_at', 'deadline_at', 'attempts', 'due_at', 'owner', 'last_error', 'stuck', 'decided_at'] as const;
const BR_COLUMNS = [
  'gid',
  'branch_id',
  'seq',
  'participant',
  'action',
  'payload',
  'try_state',
  'try_attempts',
  'phase_two',
  'attempts',
  'next_retry_at',
  'last_error',
  'created_at',
  'updated_at',
] as const;

/** The store's per-command path, on the same database transaction: commands and cases the set statements leave out. */
export type ApplyOne = (cmd: StoreCommand, logs: PhaseLogRecord[]) => Promise<unknown>;

/** Options of {@link SetBatchWriter}. */
export interface SetBatchWriterOptions {
  dialect: 'sqlite' | 'mysql';
  limits: StatementLimits;
  /** Statements on the batch transaction's connection. */
  runner: SqlRunner;
  applyOne: ApplyOne;
}

/** A transaction this batch created: its row is exactly as written (the batch holds its lock), with the branches registered since. */
interface Known {
  txn: TransactionRecord;
  branchIds: Set<string>;
  maxSeq: number;
}

/** A branch row's own values for {@link SetBatchWriter.updateBranchRows}, in its columns' order. */
interface BranchValues {
  gid: string;
  branchId: string;
  values: unknown[];
}

/** A transaction row's own values, in the columns' order. */
interface TransactionValues {
  gid: string;
  values: unknown[];
}

/**
 * A group of a step whose reads go with the step's locked read: the rows of
 * `gids` are locked (with every group's, in one statement), `reads` run after
 * the locks are held (a claim's, after its own compare-and-set), then `apply`
 * gets the locked rows (of every group of the step) and its reads' answers,
 * one per statement.
 */
interface LockedWork {
  gids: readonly string[];
  reads: readonly Statement[][];
  apply(txns: ReadonlyMap<string, TransactionRecord>, answers: SqlRow[][][]): Promise<void>;
}

/** Kinds {@link SetBatchWriter.step} writes before or with its locked read; the others go one by one after it. */
const WITH_LOCKED_READS: ReadonlySet<StoreCommand['kind']> = new Set(['create', 'tryOutcome', 'register', 'phaseTwo', 'decide', 'claim']);

function addTo<K, V>(groups: Map<K, V[]>, key: K, items: readonly V[]): void {
  const g = groups.get(key);
  if (g) g.push(...items);
  else groups.set(key, [...items]);
}

/** A branch still pending after a round, as read back. */
interface PendingRow {
  gid: string;
  branch_id: string;
  participant: string;
  /** Numbers; MySQL's BIGINT columns may come as strings. */
  attempts: number | string;
  next_retry_at: number | string | null;
  last_error: string | null;
}

/** Try outcomes of one answer (state and error) whose UPDATEs went out, and the rows each matched once answered. */
interface UnsettledTryOutcomes {
  state: TryState;
  items: number[];
  counts: RowCount[];
}

/**
 * The branches of `pending` (a transaction's pending branches before the
 * round) still pending after round `c`, as its three UPDATEs leave them: a
 * done branch leaves, a failed one counts an attempt and takes its retry time
 * and error, a deferred one takes its retry time. In that order, as the
 * UPDATEs run, each only on a row still pending.
 */
function pendingAfterRound(pending: readonly PendingRow[], c: PhaseTwoCommand): PendingRow[] {
  const rows = new Map(pending.map((r) => [String(r.branch_id), { ...r }]));
  for (const r of c.results) if (r.ok) rows.delete(r.branchId);
  for (const r of c.results) {
    const row = rows.get(r.branchId);
    if (!row || r.ok || !r.attempted) continue;
    row.attempts = Number(row.attempts) + 1;
    row.next_retry_at = r.nextRetryAt;
    row.last_error = truncate(r.error, 1024);
  }
  for (const r of c.results) {
    const row = rows.get(r.branchId);
    if (row && !r.ok && !r.attempted) row.next_retry_at = r.nextRetryAt;
  }
  return [...rows.values()];
}

/** What the register commands of one step write, together. */
interface RegisterWrites {
  rows: SqlRow[];
  /** (gid, branch_id) of branches whose Try is sent again. */
  retried: [string, string][];
  /** Transactions whose updated_at moves. */
  touched: Map<string, number>;
  /** The latest `now` of the commands that write: the updated_at of their rows. */
  now: number;
}

function valueBytes(v: unknown): number {
  if (Buffer.isBuffer(v)) return v.length;
  if (typeof v === 'string') return v.length * 4;
  return 24;
}

/**
 * Writes one group-commit batch with a fixed, small number of statements
 * whatever its size. Commands are applied per transaction (gid) in the order
 * given, and commands of different transactions commute (each touches only
 * its own rows), so the batch runs in steps: each step takes the next command
 * of every gid (a run of Try outcomes on distinct branches counts as one) and
 * applies each kind as a set: one multi-row INSERT for new transactions, one
 * for their branches, one UPDATE per Try answer, a keyed read of the rows to
 * decide, one CASE-per-row UPDATE for the decisions, and so on. What the
 * engine already knows is not read again: a transaction created in this batch
 * takes its branches without a lock read (its row lock is this batch's), and
 * a compare-and-set that matched every row it named needs no follow-up read.
 * The rules (which Try answers move a branch, what a decision plans, which
 * status finishes a transaction) come from the domain's state machine; only
 * their application is set-based. Commands the set path leaves out (operator
 * actions, a round whose write failed, a register naming one branch id twice)
 * run one by one through the store's per-command path, in the same
 * transaction.
 */
export class SetBatchWriter {
  private readonly results: unknown[];
  private readonly known = new Map<string, Known>();
  /** Try outcomes written and not yet answered: see {@link SetBatchWriter.settleTryOutcomes}. */
  private unsettled: UnsettledTryOutcomes[] = [];

  constructor(
    private readonly commands: readonly StoreCommand[],
    /** The batch's log rows, in the order their commands were applied (per gid, the commands' order). */
    private readonly logs: PhaseLogRecord[],
    private readonly o: SetBatchWriterOptions,
  ) {
    this.results = new Array<unknown>(commands.length);
  }

  async run(): Promise<unknown[]> {
    const queues = new Map<string, number[]>();
    this.commands.forEach((c, i) => {
      const q = queues.get(c.gid);
      if (q) q.push(i);
      else queues.set(c.gid, [i]);
    });
    let heads = [...queues.values()].map((q) => ({ q, at: 0 }));
    while (heads.length) {
      const groups = new Map<StoreCommand['kind'], number[]>();
      for (const h of heads) {
        const first = this.commands[h.q[h.at]];
        const take = [h.q[h.at++]];
        if (first.kind === 'tryOutcome') {
          // Answers for distinct branches of one transaction commute: one step.
          const seen = new Set([first.branchId]);
          while (h.at < h.q.length) {
            const next = this.commands[h.q[h.at]];
            if (next.kind !== 'tryOutcome' || seen.has(next.branchId)) break;
            seen.add(next.branchId);
            take.push(h.q[h.at++]);
          }
        }
        addTo(groups, first.kind, take);
        // The decision that follows the answers (an Execute's) joins their step: a step writes its
        // Try answers before its locked read, so the decision reads them, and its read goes with
        // the other locked reads of the step instead of a step of its own.
        if (first.kind === 'tryOutcome' && h.at < h.q.length && this.commands[h.q[h.at]].kind === 'decide') addTo(groups, 'decide', [h.q[h.at++]]);
      }
      await this.step(groups);
      heads = heads.filter((h) => h.at < h.q.length);
    }
    await this.settleTryOutcomes();
    return this.results;
  }

  /**
   * One step: each transaction's next command, grouped by kind. Groups touch
   * disjoint transactions (a decision and the Try answers it follows aside),
   * so their order is free: new transactions and Try answers first (writes
   * whose answers can wait, and which a decision of this step reads), then
   * every group that reads under the transactions' row locks, all with one
   * locked read (one round trip on MySQL, where the writes before go with
   * it), then the rest.
   */
  private async step(groups: ReadonlyMap<StoreCommand['kind'], number[]>): Promise<void> {
    const create = groups.get('create');
    if (create) await this.create(create);
    const answers = groups.get('tryOutcome');
    if (answers) await this.tryOutcome(answers);
    const locked: LockedWork[] = [];
    const register = groups.get('register');
    if (register) locked.push(this.register(register));
    const rounds = groups.get('phaseTwo');
    if (rounds) locked.push(this.phaseTwo(rounds));
    const decisions = groups.get('decide');
    if (decisions) locked.push(this.decide(decisions));
    const claims = groups.get('claim');
    if (claims) locked.push(await this.claim(claims));
    await this.underLocks(locked);
    for (const [kind, idx] of groups) if (!WITH_LOCKED_READS.has(kind)) await this.oneByOne(idx);
  }

  /** `works`' locked reads in one round trip on MySQL (their rows locked in one statement), then each applied in order. */
  private async underLocks(works: readonly LockedWork[]): Promise<void> {
    const gids = works.flatMap((w) => w.gids);
    const reads = works.flatMap((w) => w.reads);
    const [txns, answers] = gids.length || reads.length ? await this.lockThenRead(gids, reads) : [new Map<string, TransactionRecord>(), []];
    let at = 0;
    for (const w of works) await w.apply(txns, answers.slice(at, (at += w.reads.length)));
  }

  private async oneByOne(idx: readonly number[]): Promise<void> {
    for (const i of idx) {
      const c = this.commands[i];
      // What the per-command path changed is not known here any more.
      this.known.delete(c.gid);
      this.results[i] = await this.o.applyOne(c, this.logs);
    }
  }

  // ------------------------------------------------------------ create

  private async create(idx: readonly number[]): Promise<void> {
    const rows = idx.map((i) => {
      const c = this.commands[i] as CreateCommand;
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
        stuck: 0,
        decided_at: null,
      };
      return row;
    });
    const created = (n: number[]) =>
      n.forEach((k) => {
        const txn = toTransaction(rows[k]);
        this.results[idx[k]] = { txn, created: true };
        this.known.set(txn.gid, { txn, branchIds: new Set(), maxSeq: 0 });
      });
    const fresh: number[] = [];
    const clients: number[] = [];
    idx.forEach((i, k) => ((this.commands[i] as CreateCommand).fresh ? fresh : clients).push(k));
    // Gids this coordinator just made: a plain INSERT, whose answer nothing waits for (it goes with the next statement).
    if (fresh.length) {
      await this.insert(TX, TX_COLUMNS, fresh.map((k) => rows[k]) as unknown as SqlRow[], false);
      created(fresh);
    }
    if (clients.length === 0) return;
    // A client's gid may exist already (a retried Begin, or two racing): the insert skips it.
    const inserted = await this.insert(TX, TX_COLUMNS, clients.map((k) => rows[k]) as unknown as SqlRow[], true);
    if (inserted === clients.length) return created(clients);
    // Some existed: read them all back under lock; created = the row is the one this command wrote.
    const current = await this.lockTransactions(clients.map((k) => rows[k].gid));
    for (const k of clients) {
      const c = this.commands[idx[k]] as CreateCommand;
      const txn = current.get(c.gid);
      if (!txn) throw new Error(`transaction ${c.gid} vanished after insert`);
      this.results[idx[k]] = { txn, created: txn.createdAt === c.now && txn.status === 'TRYING' };
    }
  }

  // ------------------------------------------------------------ register

  private register(idx: readonly number[]): LockedWork {
    const w: RegisterWrites = { rows: [], retried: [], touched: new Map(), now: 0 };
    const oneByOne: number[] = [];
    const unknown: number[] = [];
    for (const i of idx) {
      const c = this.commands[i] as RegisterCommand;
      const k = this.known.get(c.gid);
      // A branch id twice in one command compares with itself: the per-command path.
      if (new Set(c.branches.map((b) => b.branchId)).size !== c.branches.length) oneByOne.push(i);
      else if (!k || c.branches.some((b) => k.branchIds.has(b.branchId))) unknown.push(i);
      // Created by this batch: its row is as written, and it has the branches registered since; nothing to read.
      else if (c.now >= k.txn.deadlineAt) this.results[i] = { ok: false, why: 'expired', txn: k.txn };
      else {
        const added = this.planRegister(i, c, k.txn, new Map(), k.branchIds.size, k.maxSeq, w, c.now !== k.txn.updatedAt);
        for (const b of added) {
          k.branchIds.add(b.branchId);
          k.maxSeq = Math.max(k.maxSeq, b.seq);
        }
      }
    }
    const gids = unknown.map((i) => this.commands[i].gid);
    for (const g of gids) this.known.delete(g);
    // The rows locked, then (under the lock) only what the comparison needs:
    // the rows of the requested ids (a Try into a transaction of n branches
    // must not read n payloads), and the count and highest seq for the limit
    // and the order.
    const pairs = unknown.flatMap((i) => (this.commands[i] as RegisterCommand).branches.map((b) => [this.commands[i].gid, b.branchId] as [string, string]));
    const branchReads = chunk(pairs, this.o.limits, (p) => ({ values: 2, bytes: valueBytes(p[0]) + valueBytes(p[1]) + 16 })).map((part) => ({
      sql: `SELECT * FROM ${BR} WHERE (gid, branch_id) IN (${tuplePlaceholders(part.length, 2)})`,
      params: part.flat(),
    }));
    const sizeReads = chunk(gids, this.o.limits, (g) => ({ values: 1, bytes: valueBytes(g) + 8 })).map((part) => ({
      sql: `SELECT gid, COUNT(*) AS n, MAX(seq) AS m FROM ${BR} WHERE gid IN (${placeholders(part.length)}) GROUP BY gid`,
      params: part,
    }));
    const apply = async (txns: ReadonlyMap<string, TransactionRecord>, [branchAnswers, sizeAnswers]: SqlRow[][][]) => {
      const existing = new Map<string, Map<string, BranchRecord>>();
      for (const found of branchAnswers) {
        for (const r of found) {
          const b = toBranch(r);
          const m = existing.get(b.gid);
          if (m) m.set(b.branchId, b);
          else existing.set(b.gid, new Map([[b.branchId, b]]));
        }
      }
      const sizes = new Map<string, { n: number; m: number }>();
      for (const rows of sizeAnswers) {
        for (const r of rows) sizes.set(String(r.gid), { n: Number(r.n), m: Number(r.m ?? 0) });
      }
      for (const i of unknown) {
        const c = this.commands[i] as RegisterCommand;
        const txn = txns.get(c.gid);
        if (!txn) this.results[i] = { ok: false, why: 'not_found' };
        else if (txn.status !== 'TRYING') this.results[i] = { ok: false, why: 'not_trying', txn };
        else if (c.now >= txn.deadlineAt) this.results[i] = { ok: false, why: 'expired', txn };
        else {
          const size = sizes.get(c.gid) ?? { n: 0, m: 0 };
          this.planRegister(i, c, txn, existing.get(c.gid) ?? new Map(), size.n, size.m, w, true);
        }
      }
      await this.insert(BR, BR_COLUMNS, w.rows, false);
      // A retried Try: the branch is about to get its Try again.
      if (w.retried.length) await this.updatePairs(w.retried, 'try_attempts = try_attempts + 1, updated_at = ?', [w.now], '');
      for (const part of chunk([...w.touched.keys()], this.o.limits, (g) => ({ values: 1, bytes: valueBytes(g) + 8 }))) {
        await this.o.runner.defer(`UPDATE ${TX} SET updated_at = ? WHERE gid IN (${placeholders(part.length)})`, [w.now, ...part]);
      }
      await this.oneByOne(oneByOne);
    };
    return gids.length ? { gids, reads: [branchReads, sizeReads], apply } : { gids, reads: [], apply: () => apply(new Map(), [[], []]) };
  }

  /**
   * One register command against its transaction's stored branches `byId`
   * (only the requested ids), `stored` branches in all and highest seq
   * `maxSeq`: answers it, and adds its writes to `w` unless it is refused.
   * Answers the branches it adds.
   */
  private planRegister(
    i: number,
    c: RegisterCommand,
    txn: TransactionRecord,
    byId: ReadonlyMap<string, BranchRecord>,
    stored: number,
    maxSeq: number,
    w: RegisterWrites,
    touch: boolean,
  ): BranchRecord[] {
    const out: BranchRecord[] = [];
    const added: BranchRecord[] = [];
    const retried: string[] = [];
    let seq = maxSeq;
    for (const nb of c.branches) {
      const old = byId.get(nb.branchId);
      if (old) {
        if (old.participant !== nb.participant || old.action !== nb.action || !old.payload.equals(nb.payload)) {
          this.results[i] = { ok: false, why: 'conflict', txn, branchId: nb.branchId };
          return [];
        }
        // A refused branch is answered without a new call; any other is about to get its Try again.
        if (old.tryState !== 'REFUSED') retried.push(old.branchId);
        out.push(old.tryState === 'REFUSED' ? old : { ...old, tryAttempts: old.tryAttempts + 1 });
        continue;
      }
      const rec: BranchRecord = {
        gid: c.gid,
        branchId: nb.branchId,
        seq: ++seq,
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
      out.push(rec);
      added.push(rec);
    }
    if (stored + added.length > c.maxBranches) {
      this.results[i] = { ok: false, why: 'too_many', txn };
      return [];
    }
    for (const b of added) {
      w.rows.push({
        gid: b.gid,
        branch_id: b.branchId,
        seq: b.seq,
        participant: b.participant,
        action: b.action,
        payload: b.payload,
        try_state: b.tryState,
        try_attempts: 1,
        phase_two: b.phaseTwo,
        attempts: 0,
        next_retry_at: null,
        last_error: '',
        created_at: c.now,
        updated_at: c.now,
      });
    }
    for (const id of retried) w.retried.push([c.gid, id]);
    if (added.length || retried.length) {
      w.now = Math.max(w.now, c.now);
      if (touch) w.touched.set(c.gid, c.now);
    }
    this.results[i] = { ok: true, txn, branches: out };
    return added;
  }

  // ------------------------------------------------------------ Try outcomes

  private async tryOutcome(idx: readonly number[]): Promise<void> {
    await this.settleTryOutcomes();
    const bySet = new Map<string, { state: TryState; error: string; now: number; items: number[] }>();
    for (const i of idx) {
      const c = this.commands[i] as TryOutcomeCommand;
      this.logs.push(c.log);
      const error = truncate(c.error, 1024);
      const key = `${c.state}\u0000${error}`;
      const g = bySet.get(key);
      if (g) {
        g.items.push(i);
        g.now = Math.max(g.now, c.now);
      } else bySet.set(key, { state: c.state, error, now: c.now, items: [i] });
    }
    for (const g of bySet.values()) {
      // The states this answer moves a branch from, by the state machine.
      const from = TRY_STATES.filter((s) => nextTryState(s, g.state) === g.state);
      const counts: RowCount[] = [];
      if (from.length) {
        for (const part of this.chunkTuples(g.items, 2)) {
          const pairs = part.flatMap((i) => [this.commands[i].gid, (this.commands[i] as TryOutcomeCommand).branchId]);
          counts.push(
            await this.o.runner.deferCount(
              `UPDATE ${BR} SET try_state = ?, last_error = ?, updated_at = ? WHERE (gid, branch_id) IN (${tuplePlaceholders(part.length, 2)}) AND try_state IN (${placeholders(from.length)})`,
              [g.state, g.error, g.now, ...pairs, ...from],
            ),
          );
        }
      }
      this.unsettled.push({ state: g.state, items: g.items, counts });
    }
  }

  /**
   * Answers the Try outcomes written so far. Their UPDATEs went out with the
   * batch's next query (on MySQL, the decision's lock read usually), not in
   * a round trip of their own; a row they did not match is read back by key.
   * Runs before the next Try answers are written (nothing else moves a
   * branch's try_state) and at the batch's end, so that read sees what the
   * answer left.
   */
  private async settleTryOutcomes(): Promise<void> {
    if (this.unsettled.length === 0) return;
    const groups = this.unsettled;
    this.unsettled = [];
    // Nothing sent since (a batch of Try answers alone): they go now, the round trip a read would take.
    if (groups.some((g) => g.counts.some((c) => c.matched === undefined))) await this.o.runner.flush();
    for (const g of groups) {
      const matched = g.counts.reduce((n, c) => n + (c.matched ?? 0), 0);
      if (matched === g.items.length) {
        for (const i of g.items) this.results[i] = { tryState: g.state };
        continue;
      }
      // Some rows were not in a state this answer moves (answered already, or
      // gone): what each holds now is its answer, read by key.
      const states = new Map<string, TryState>();
      for (const part of this.chunkTuples(g.items, 2)) {
        const pairs = part.flatMap((i) => [this.commands[i].gid, (this.commands[i] as TryOutcomeCommand).branchId]);
        const rows = await this.o.runner.all(
          `SELECT gid, branch_id, try_state FROM ${BR} WHERE (gid, branch_id) IN (${tuplePlaceholders(part.length, 2)})`,
          pairs,
        );
        for (const r of rows) states.set(`${String(r.gid)}\u0000${String(r.branch_id)}`, r.try_state as TryState);
      }
      for (const i of g.items) {
        const c = this.commands[i] as TryOutcomeCommand;
        this.results[i] = { tryState: states.get(`${c.gid}\u0000${c.branchId}`) ?? null };
      }
    }
  }

  // ------------------------------------------------------------ decisions

  /** The decisions: their rows and branches read under the lock, then each one's compare-and-set from TRYING. */
  private decide(idx: readonly number[]): LockedWork {
    const gids = idx.map((i) => this.commands[i].gid);
    return { gids, reads: [this.branchReads(gids)], apply: (txns, [branches]) => this.applyDecisions(idx, txns, groupBranches(branches)) };
  }

  private async applyDecisions(idx: readonly number[], txns: ReadonlyMap<string, TransactionRecord>, branches: ReadonlyMap<string, BranchRecord[]>): Promise<void> {
    const winners: { i: number; c: DecideCommand; txn: TransactionRecord; decided: TransactionRecord; branches: BranchRecord[]; phaseTwo: Map<string, BranchRecord['phaseTwo']> }[] = [];
    for (const i of idx) {
      const c = this.commands[i] as DecideCommand;
      this.known.delete(c.gid);
      const txn = txns.get(c.gid);
      if (!txn) {
        this.results[i] = { found: false } satisfies DecideResult;
        continue;
      }
      const bs = branches.get(c.gid) ?? [];
      const plan = planDecision(txn, bs, c.decision, c.reason, c.now);
      if (!plan) {
        this.results[i] = { found: true, decided: false, txn, branches: bs } satisfies DecideResult;
        continue;
      }
      const finished = plan.status === 'CONFIRMED' || plan.status === 'CANCELLED';
      const decided: TransactionRecord = {
        ...txn,
        status: plan.status,
        reason: truncate(plan.reason, 1024),
        updatedAt: c.now,
        dueAt: finished ? null : c.leaseUntil,
        owner: finished ? null : c.claimToken,
        decidedAt: c.now,
      };
      winners.push({ i, c, txn, decided, branches: bs, phaseTwo: plan.branchPhaseTwo });
      this.logs.push({
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
    }
    if (winners.length === 0) return;

    // Compare-and-set from TRYING, every winner's values in one statement (a CASE per column).
    const COLS = ['status', 'reason', 'updated_at', 'due_at', 'owner', 'decided_at'] as const;
    const valueOf = (d: TransactionRecord, col: (typeof COLS)[number]): unknown =>
      col === 'status' ? d.status : col === 'reason' ? d.reason : col === 'updated_at' ? d.updatedAt : col === 'due_at' ? d.dueAt : col === 'owner' ? d.owner : d.decidedAt;
    let matched = 0;
    for (const part of chunk(winners, this.o.limits, (w) => ({ values: COLS.length * 2 + 1, bytes: 256 + valueBytes(w.decided.reason) }))) {
      const sets = COLS.map((col) => `${col} = CASE gid ${part.map(() => 'WHEN ? THEN ?').join(' ')} END`).join(', ');
      const params: unknown[] = [];
      for (const col of COLS) for (const w of part) params.push(w.c.gid, valueOf(w.decided, col));
      for (const w of part) params.push(w.c.gid);
      matched += await this.o.runner.run(`UPDATE ${TX} SET ${sets} WHERE gid IN (${placeholders(part.length)}) AND status = 'TRYING'`, params);
    }
    let won = winners;
    if (matched !== winners.length) {
      // Not reached while the rows are locked (MySQL) or the writer is alone
      // (SQLite); kept so that a lost race is never reported as a win: the
      // stored row says whose decision it holds.
      const now = await this.readTransactions(winners.map((w) => w.c.gid));
      won = [];
      for (const w of winners) {
        const cur = now.get(w.c.gid);
        if (cur && cur.decidedAt === w.decided.decidedAt && cur.status === w.decided.status && cur.owner === w.decided.owner) won.push(w);
        else this.results[w.i] = { found: true, decided: false, txn: cur ?? w.txn, branches: w.branches } satisfies DecideResult;
      }
    }

    // The branches' phase-two states: one statement per state.
    const byState = new Map<string, { now: number; pairs: [string, string][] }>();
    for (const w of won) {
      for (const b of w.branches) {
        const state = w.phaseTwo.get(b.branchId);
        if (!state) continue;
        const g = byState.get(state);
        if (g) {
          g.pairs.push([b.gid, b.branchId]);
          g.now = Math.max(g.now, w.c.now);
        } else byState.set(state, { now: w.c.now, pairs: [[b.gid, b.branchId]] });
      }
    }
    for (const [state, g] of byState) await this.updatePairs(g.pairs, 'phase_two = ?, updated_at = ?', [state, g.now], '');
    for (const w of won) {
      this.results[w.i] = {
        found: true,
        decided: true,
        txn: w.decided,
        branches: w.branches.map((b) => ({ ...b, phaseTwo: w.phaseTwo.get(b.branchId) ?? b.phaseTwo })),
      } satisfies DecideResult;
    }
  }

  // ------------------------------------------------------------ phase two

  /**
   * A round's outcomes, every round of the step together: the transactions
   * locked and their pending branches read (one round trip on MySQL), then
   * the done branches in one UPDATE, the failed and the deferred ones in one
   * each (their retry times and errors as CASEs), the finished transactions
   * in one UPDATE per final status and the others in one (two when some
   * rounds hold the claim they release). What is left pending is the rows
   * read with the round applied as those UPDATEs apply it, so the writes need
   * no answer and go with COMMIT. The rules are the domain's (`isStuck`,
   * `releaseDueAt`); the answers are the rows as written, from the locked
   * rows read first.
   */
  private phaseTwo(idx: readonly number[]): LockedWork {
    // The rows locked, and their pending branches read under the lock: what the
    // round leaves pending follows from them, not from a read after its writes.
    const gids = idx.map((i) => this.commands[i].gid);
    return { gids, reads: [this.pendingBranchReads(gids)], apply: (txns, [pending]) => this.applyRounds(idx, txns, pending) };
  }

  private async applyRounds(idx: readonly number[], txns: ReadonlyMap<string, TransactionRecord>, pendingAnswers: readonly SqlRow[][]): Promise<void> {
    const before = new Map<string, PendingRow[]>();
    for (const rows of pendingAnswers) {
      for (const r of rows as unknown as PendingRow[]) {
        const list = before.get(String(r.gid));
        if (list) list.push(r);
        else before.set(String(r.gid), [r]);
      }
    }
    const active: { i: number; c: PhaseTwoCommand; txn: TransactionRecord }[] = [];
    for (const i of idx) {
      const c = this.commands[i] as PhaseTwoCommand;
      this.logs.push(...c.logs);
      this.known.delete(c.gid);
      const txn = txns.get(c.gid) ?? null;
      if (!txn || (txn.status !== 'CONFIRMING' && txn.status !== 'CANCELLING')) this.results[i] = { txn };
      else active.push({ i, c, txn });
    }
    if (active.length === 0) return;

    const done: BranchValues[] = [];
    const failed: BranchValues[] = [];
    const deferred: BranchValues[] = [];
    for (const { c } of active) {
      for (const r of c.results) {
        if (r.ok) done.push({ gid: c.gid, branchId: r.branchId, values: [c.now] });
        else if (r.attempted) failed.push({ gid: c.gid, branchId: r.branchId, values: [r.nextRetryAt, truncate(r.error, 1024), c.now] });
        else deferred.push({ gid: c.gid, branchId: r.branchId, values: [r.nextRetryAt, c.now] });
      }
    }
    await this.updateBranchRows(done, ['updated_at'], `phase_two = 'DONE', attempts = attempts + 1, next_retry_at = NULL, last_error = ''`);
    await this.updateBranchRows(failed, ['next_retry_at', 'last_error', 'updated_at'], 'attempts = attempts + 1');
    await this.updateBranchRows(deferred, ['next_retry_at', 'updated_at'], '');

    const pending = new Map<string, PendingRow[]>();
    for (const { c } of active) {
      const left = pendingAfterRound(before.get(c.gid) ?? [], c);
      if (left.length) pending.set(c.gid, left);
    }

    // No branch left pending: CONFIRMING → CONFIRMED, CANCELLING → CANCELLED; the claim and the stuck flag go with it.
    for (const status of ['CONFIRMING', 'CANCELLING'] as const) {
      const ending = active.filter((a) => a.txn.status === status && !pending.has(a.c.gid));
      const final = finalStatusOf(status);
      await this.updateTransactionRows(
        ending.map((a) => ({ gid: a.c.gid, values: [a.c.now] })),
        ['updated_at'],
        `status = ?, due_at = NULL, owner = NULL, last_error = '', stuck = ?, attempts = attempts + 1`,
        [final, false],
        status,
      );
      for (const a of ending) {
        this.results[a.i] = {
          txn: { ...a.txn, status: final, dueAt: null, owner: null, lastError: '', stuck: false, attempts: a.txn.attempts + 1, updatedAt: a.c.now },
          finished: true,
        };
      }
    }

    // Not finished: the round is counted, the stuck flag may rise, and the
    // claim is released to the earliest pending retry, but only by the holder
    // of this very claim (fencing: a claim that expired and was taken by
    // another worker keeps its lease).
    const released: TransactionValues[] = [];
    const kept: TransactionValues[] = [];
    for (const a of active) {
      const left = pending.get(a.c.gid);
      if (!left) continue;
      const lastError = truncate(a.c.results.find((r) => r.attempted && !r.ok)?.error ?? String(left[0].last_error ?? ''), 1024);
      const worst = left.reduce((x, y) => (Number(y.attempts) > Number(x.attempts) ? y : x));
      const stuck = isStuck(a.txn, left.map((p) => ({ attempts: Number(p.attempts) })), a.c.stuck, a.c.now);
      const after: TransactionRecord = { ...a.txn, lastError, attempts: a.txn.attempts + 1, stuck, updatedAt: a.c.now };
      const values: unknown[] = [lastError, after.attempts, stuck, a.c.now];
      if (a.txn.owner === a.c.claimToken) {
        after.dueAt = releaseDueAt(left.map((p) => (p.next_retry_at === null ? null : Number(p.next_retry_at))), a.c.now);
        after.owner = null;
        released.push({ gid: a.c.gid, values: [...values, after.dueAt] });
      } else kept.push({ gid: a.c.gid, values });
      this.results[a.i] = {
        txn: after,
        becameStuck:
          stuck && !a.txn.stuck
            ? { branchId: String(worst.branch_id), participant: String(worst.participant), attempts: Number(worst.attempts), lastError: String(worst.last_error ?? '') }
            : undefined,
      };
    }
    const cols = ['last_error', 'attempts', 'stuck', 'updated_at'];
    await this.updateTransactionRows(released, [...cols, 'due_at'], 'owner = NULL', [], null);
    await this.updateTransactionRows(kept, cols, '', [], null);
  }

  // ------------------------------------------------------------ claims

  /**
   * Compare-and-set on due_at, every claim of the step in one statement: the
   * row moves to the claimant's lease and token only while its due_at is the
   * one the claimant saw. The UPDATE goes with the step's locked read, and the
   * rows are read after it in the same round trip: the owner a row holds then
   * tells whether its claim won (each claim's token is its own), and the
   * branches read with it are the ones a won claim asked for.
   */
  private async claim(idx: readonly number[]): Promise<LockedWork> {
    const items = idx.map((i) => ({ i, c: this.commands[i] as ClaimCommand }));
    for (const it of items) this.known.delete(it.c.gid);
    for (const part of chunk(items, this.o.limits, (it) => ({ values: 6, bytes: 2 * valueBytes(it.c.gid) + valueBytes(it.c.owner) + 96 }))) {
      const params: unknown[] = [];
      for (const it of part) params.push(it.c.gid, it.c.leaseUntil);
      for (const it of part) params.push(it.c.gid, it.c.owner);
      for (const it of part) params.push(it.c.gid, it.c.expectDueAt);
      const when = part.map(() => 'WHEN ? THEN ?').join(' ');
      await this.o.runner.defer(
        `UPDATE ${TX} SET due_at = CASE gid ${when} END, owner = CASE gid ${when} END WHERE (gid, due_at) IN (${tuplePlaceholders(part.length, 2)}) AND status IN ('TRYING', 'CONFIRMING', 'CANCELLING')`,
        params,
      );
    }
    const withRows = items.filter((it) => it.c.withRows).map((it) => it.c.gid);
    return {
      gids: [],
      reads: [this.transactionReads(items.map((it) => it.c.gid), ''), this.branchReads(withRows)],
      apply: async (_locked, [txnAnswers, branchAnswers]) => {
        const rows = new Map<string, TransactionRecord>();
        for (const found of txnAnswers) for (const r of found) rows.set(String(r.gid), toTransaction(r));
        const branches = groupBranches(branchAnswers);
        for (const it of items) {
          const txn = rows.get(it.c.gid);
          const claimed = txn?.owner === it.c.owner;
          this.results[it.i] = claimed && it.c.withRows ? { claimed, txn, branches: branches.get(it.c.gid) ?? [] } : { claimed };
        }
      },
    };
  }

  // ------------------------------------------------------------ helpers

  /** Multi-row INSERT, chunked within the backend's limits; answers the rows inserted. */
  async insert(table: string, columns: readonly string[], rows: readonly SqlRow[], ignoreExisting: boolean): Promise<number> {
    let inserted = 0;
    const size = (r: SqlRow) => {
      let bytes = 0;
      for (const col of columns) bytes += valueBytes(r[col]) + 8;
      return { values: columns.length, bytes };
    };
    for (const part of chunk(rows, this.o.limits, size)) {
      const head =
        ignoreExisting && this.o.dialect === 'mysql' ? `INSERT IGNORE INTO ${table}` : `INSERT INTO ${table}`;
      const tail = ignoreExisting && this.o.dialect === 'sqlite' ? ' ON CONFLICT DO NOTHING' : '';
      const params: unknown[] = [];
      for (const r of part) for (const col of columns) params.push(r[col]);
      const sql = `${head} (${columns.join(', ')}) VALUES ${tuplePlaceholders(part.length, columns.length)}${tail}`;
      // A plain INSERT writes every row or fails: its answer is known, it may go with the next statement.
      if (ignoreExisting) inserted += await this.o.runner.run(sql, params);
      else {
        await this.o.runner.defer(sql, params);
        inserted += part.length;
      }
    }
    return inserted;
  }

  /** `UPDATE tcc_branches SET <set> WHERE (gid, branch_id) IN (…)<extra>`, chunked; deferred (nobody reads how many rows it matched). */
  private async updatePairs(pairs: readonly [string, string][], set: string, setParams: readonly unknown[], extra: string): Promise<void> {
    for (const part of chunk(pairs, this.o.limits, (p) => ({ values: 2, bytes: valueBytes(p[0]) + valueBytes(p[1]) + 16 }))) {
      await this.o.runner.defer(`UPDATE ${BR} SET ${set} WHERE (gid, branch_id) IN (${tuplePlaceholders(part.length, 2)})${extra}`, [...setParams, ...part.flat()]);
    }
  }

  /**
   * `UPDATE tcc_branches SET <col> = CASE WHEN gid = ? AND branch_id = ? THEN ? … END, …[, <fixed>]`
   * of pending branches, each row's own values; chunked.
   */
  private async updateBranchRows(rows: readonly BranchValues[], cols: readonly string[], fixed: string): Promise<void> {
    const size = (r: BranchValues) => ({ values: cols.length * 3 + 2, bytes: 64 + (cols.length + 1) * (valueBytes(r.gid) + valueBytes(r.branchId)) + r.values.reduce<number>((n, v) => n + valueBytes(v), 0) });
    for (const part of chunk(rows, this.o.limits, size)) {
      const when = part.map(() => 'WHEN gid = ? AND branch_id = ? THEN ?').join(' ');
      const sets = cols.map((col) => `${col} = CASE ${when} END`);
      if (fixed) sets.push(fixed);
      const params: unknown[] = [];
      cols.forEach((_, k) => {
        for (const r of part) params.push(r.gid, r.branchId, r.values[k]);
      });
      for (const r of part) params.push(r.gid, r.branchId);
      await this.o.runner.defer(`UPDATE ${BR} SET ${sets.join(', ')} WHERE (gid, branch_id) IN (${tuplePlaceholders(part.length, 2)}) AND phase_two = 'PENDING'`, params);
    }
  }

  /**
   * `UPDATE tcc_transactions SET <fixed>, <col> = CASE gid WHEN ? THEN ? … END, …` of rows in
   * phase two (in `status` when given), each row's own values; chunked.
   */
  private async updateTransactionRows(rows: readonly TransactionValues[], cols: readonly string[], fixed: string, fixedParams: readonly unknown[], status: string | null): Promise<void> {
    const size = (r: TransactionValues) => ({ values: cols.length * 2 + 1 + fixedParams.length, bytes: 128 + (cols.length + 1) * valueBytes(r.gid) + r.values.reduce<number>((n, v) => n + valueBytes(v), 0) });
    for (const part of chunk(rows, this.o.limits, size)) {
      const when = part.map(() => 'WHEN ? THEN ?').join(' ');
      const sets = cols.map((col) => `${col} = CASE gid ${when} END`);
      if (fixed) sets.unshift(fixed);
      const params: unknown[] = [...fixedParams];
      cols.forEach((_, k) => {
        for (const r of part) params.push(r.gid, r.values[k]);
      });
      params.push(...part.map((r) => r.gid));
      const inStatus = status === null ? `status IN ('CONFIRMING', 'CANCELLING')` : 'status = ?';
      if (status !== null) params.push(status);
      await this.o.runner.defer(`UPDATE ${TX} SET ${sets.join(', ')} WHERE gid IN (${placeholders(part.length)}) AND ${inStatus}`, params);
    }
  }

  private chunkTuples(items: readonly number[], valuesPerItem: number): number[][] {
    return chunk(items, this.o.limits, () => ({ values: valuesPerItem, bytes: 1_200 }));
  }

  /** The rows of `gids`, locked for this transaction on MySQL (in key order, so concurrent batches queue rather than deadlock). */
  private lockTransactions(gids: readonly string[]): Promise<Map<string, TransactionRecord>> {
    return this.readTransactions(gids, this.o.dialect === 'mysql' ? ' FOR UPDATE' : '');
  }

  private async readTransactions(gids: readonly string[], lock = ''): Promise<Map<string, TransactionRecord>> {
    const out = new Map<string, TransactionRecord>();
    for (const st of this.transactionReads(gids, lock)) {
      for (const r of await this.o.runner.all(st.sql, st.params)) out.set(String(r.gid), toTransaction(r));
    }
    return out;
  }

  /**
   * {@link lockTransactions}, then each list of `reads` run under the lock,
   * all in one round trip on MySQL; answers the rows locked and each list's
   * answers, one per statement.
   */
  private async lockThenRead(gids: readonly string[], reads: readonly Statement[][]): Promise<[Map<string, TransactionRecord>, SqlRow[][][]]> {
    const locks = this.transactionReads(gids, this.o.dialect === 'mysql' ? ' FOR UPDATE' : '');
    const answers = await this.o.runner.allEach([...locks, ...reads.flat()]);
    const txns = new Map<string, TransactionRecord>();
    for (const rows of answers.slice(0, locks.length)) for (const r of rows) txns.set(String(r.gid), toTransaction(r));
    let at = locks.length;
    return [txns, reads.map((list) => answers.slice(at, (at += list.length)))];
  }

  /** The chunked reads of the branches of `gids` still pending in phase two (the columns of `PendingRow`), in order of gid and seq. */
  private pendingBranchReads(gids: readonly string[]): Statement[] {
    return chunk(gids, this.o.limits, (g) => ({ values: 1, bytes: valueBytes(g) + 8 })).map((part) => ({
      sql: `SELECT gid, branch_id, participant, attempts, next_retry_at, last_error FROM ${BR} WHERE gid IN (${placeholders(part.length)}) AND phase_two = 'PENDING' ORDER BY gid, seq`,
      params: part,
    }));
  }
  /** The chunked reads of the branches of `gids`, in order of gid and seq. */
  private branchReads(gids: readonly string[]): Statement[] {
    return chunk(gids, this.o.limits, (g) => ({ values: 1, bytes: valueBytes(g) + 8 })).map((part) => ({
      sql: `SELECT * FROM ${BR} WHERE gid IN (${placeholders(part.length)}) ORDER BY gid, seq`,
      params: part,
    }));
  }

  /** The chunked reads of the rows of `gids`, in key order. */
  private transactionReads(gids: readonly string[], lock: string): Statement[] {
    return chunk(gids, this.o.limits, (g) => ({ values: 1, bytes: valueBytes(g) + 8 })).map((part) => ({
      sql: `SELECT * FROM ${TX} WHERE gid IN (${placeholders(part.length)}) ORDER BY gid${lock}`,
      params: part,
    }));
  }
}

/** Branch rows, read in order of gid and seq, by gid. */
function groupBranches(results: readonly SqlRow[][]): Map<string, BranchRecord[]> {
  const out = new Map<string, BranchRecord[]>();
  for (const rows of results) {
    for (const r of rows as unknown as BranchRow[]) {
      const b = toBranch(r);
      const list = out.get(b.gid);
      if (list) list.push(b);
      else out.set(b.gid, [b]);
    }
  }
  return out;
}
