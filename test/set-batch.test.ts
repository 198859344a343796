/**
 * The store writes a group-commit batch as sets (issue 9): a few statements
 * per command kind, whatever the batch's size. These tests pin that this
 * changes nothing but the statement count: the same commands written in one
 * batch or one per batch give the same answers and leave the same rows; and
 * that the count stays fixed, with no read before a new transaction's writes.
 */
import * as crypto from 'node:crypto';
import { expect } from 'chai';
import knexFactory, { type Knex } from 'knex';
import { knexConfigFor, migrateToLatest } from '../src/store/create-store';
import { SqlTransactionStore } from '../src/store/sql-transaction-store';
import type { NewBranch, PhaseTwoCommand, StoreCommand } from '../src/store/transaction-store';
import type { PhaseLogRecord } from '../src/domain/model';
import { forEachBackend } from './helpers/backends';

const STUCK = { attempts: 100, ageMs: 3_600_000 };
const T0 = 1_800_000_000_000;

function branch(id: string, payload = `{"id":"${id}"}`): NewBranch {
  return { branchId: id, participant: '127.0.0.1:1', action: 'reserve', payload: Buffer.from(payload) };
}

function tryLog(gid: string, branchId: string, outcome: string, now: number): PhaseLogRecord {
  return { gid, branchId, phase: 'try', attempt: 1, outcome, grpcCode: 0, error: '', startedAt: now, durationMs: 1, node: 'n1' };
}

/**
 * Rounds of commands over transactions named `<p>-<name>`: every case the set
 * path handles (and the ones it hands to the per-command path), several
 * transactions per round. Each round's commands all share one `now`.
 */
function scenario(p: string): StoreCommand[][] {
  const g = (name: string) => `${p}-${name}`;
  const r0 = T0;
  const r1 = T0 + 10;
  const r2 = T0 + 20;
  const r3 = T0 + 30;
  const r4 = T0 + 40;
  const r5 = T0 + 50;
  const r6 = T0 + 60;
  const r7 = T0 + 70;
  const r8 = T0 + 80;
  const r9 = T0 + 90;
  const ok = (gid: string, b: string, now: number): StoreCommand => ({
    kind: 'tryOutcome',
    gid,
    branchId: b,
    state: 'SUCCEEDED',
    error: '',
    now,
    log: tryLog(gid, b, 'ok', now),
  });
  const refused = (gid: string, b: string, now: number): StoreCommand => ({
    kind: 'tryOutcome',
    gid,
    branchId: b,
    state: 'REFUSED',
    error: 'ABORTED: no seats',
    now,
    log: tryLog(gid, b, 'refused', now),
  });
  const unknown = (gid: string, b: string, now: number): StoreCommand => ({
    kind: 'tryOutcome',
    gid,
    branchId: b,
    state: 'UNKNOWN',
    error: 'DEADLINE_EXCEEDED',
    now,
    log: tryLog(gid, b, 'unknown', now),
  });
  const decide = (gid: string, decision: 'commit' | 'rollback', now: number, token: string): StoreCommand => ({
    kind: 'decide',
    gid,
    decision,
    reason: decision === 'rollback' ? 'client said so' : '',
    now,
    node: 'n1',
    claimToken: token,
    leaseUntil: now + 30_000,
  });
  const round = (gid: string, now: number, token: string, results: [string, boolean][]): StoreCommand => ({
    kind: 'phaseTwo',
    gid,
    now,
    node: 'n1',
    claimToken: token,
    results: results.map(([branchId, good]) => ({ branchId, attempted: true, ok: good, error: good ? '' : 'UNAVAILABLE: down', nextRetryAt: now + 1_000 })),
    logs: results.map(([branchId, good]) => ({
      gid,
      branchId,
      phase: 'confirm' as const,
      attempt: 1,
      outcome: good ? 'ok' : 'failed',
      grpcCode: good ? 0 : 14,
      error: good ? '' : 'UNAVAILABLE: down',
      startedAt: now,
      durationMs: 2,
      node: 'n1',
    })),
    stuck: STUCK,
  });
  const create = (gid: string, now: number, deadlineAt = now + 60_000, fresh = false): StoreCommand => ({ kind: 'create', gid, now, deadlineAt, fresh });
  const register = (gid: string, now: number, branches: NewBranch[], maxBranches = 8): StoreCommand => ({ kind: 'register', gid, now, branches, maxBranches });

  return [
    // Set-up: transactions that exist before the rounds under test.
    [create(g('old'), r0), register(g('old'), r0, [branch('x')]), create(g('seq'), r0), create(g('full'), r0), register(g('full'), r0, [branch('1')], 2)],
    [
      // Fresh Executes (gids the coordinator made): created and registered in one batch, nothing read.
      create(g('a'), r1, r1 + 60_000, true),
      register(g('a'), r1, [branch('1'), branch('2')]),
      create(g('b'), r1, r1 + 60_000, true),
      register(g('b'), r1, [branch('1'), branch('2'), branch('3')]),
      // Over the limit, past the deadline, a repeated id, an unknown gid.
      create(g('many'), r1),
      register(g('many'), r1, [branch('1'), branch('2'), branch('3')], 2),
      create(g('late'), r1, r1),
      register(g('late'), r1, [branch('1')]),
      // Fresh, so its INSERT waits to go with the next statement: the per-command path the repeated id takes must come after it.
      create(g('dup'), r1, r1 + 60_000, true),
      register(g('dup'), r1, [branch('1'), branch('1')]),
      register(g('none'), r1, [branch('1')]),
      // Created in this batch, then the same branch again (a retried Try) and another one.
      create(g('c'), r1),
      register(g('c'), r1, [branch('1')]),
      register(g('c'), r1, [branch('1')]),
      register(g('c'), r1, [branch('2')]),
    ],
    [
      // A client gid begun before: not created; its register reads the stored rows.
      create(g('old'), r1),
      register(g('old'), r1, [branch('x'), branch('y')]),
      // Sequential registers into one transaction, and a stored transaction at its limit.
      register(g('seq'), r1, [branch('1')]),
      register(g('seq'), r1, [branch('2')]),
      register(g('full'), r1, [branch('2'), branch('3')], 2),
      // Created now beside one that existed: read back, not known.
      create(g('d'), r1),
      register(g('d'), r1, [branch('1')]),
    ],
    [
      ok(g('a'), '1', r2),
      ok(g('a'), '2', r2),
      ok(g('b'), '1', r2),
      refused(g('b'), '2', r2),
      unknown(g('b'), '3', r2),
      // The same branch twice: the second answer replaces an unknown one.
      unknown(g('old'), 'x', r2),
      ok(g('old'), 'x', r2),
      ok(g('old'), 'y', r2),
      // A branch that does not exist; a retried Try of a stored branch; a conflicting one.
      ok(g('seq'), 'nope', r2),
      register(g('seq'), r2, [branch('1')]),
      register(g('old'), r2, [branch('y', 'other payload')]),
      ok(g('seq'), '1', r2),
      refused(g('seq'), '2', r2),
      // A late answer for a branch refused already: nothing changes.
      ok(g('b'), '2', r2),
    ],
    [
      decide(g('a'), 'commit', r3, 'n1/a'),
      // A commit with a refused and an unknown Try: rolled back, the refused branch skipped.
      decide(g('b'), 'commit', r3, 'n1/b'),
      decide(g('old'), 'rollback', r3, 'n1/old'),
      decide(g('seq'), 'commit', r3, 'n1/seq'),
      // Decided twice in one batch: the first wins, the second is told.
      decide(g('full'), 'commit', r3, 'n1/full-1'),
      decide(g('full'), 'rollback', r3, 'n1/full-2'),
      decide(g('none'), 'commit', r3, 'n1/none'),
      // Past its deadline: the commit becomes a rollback.
      decide(g('late'), 'commit', r3, 'n1/late'),
    ],
    [
      round(g('a'), r4, 'n1/a', [
        ['1', true],
        ['2', true],
      ]),
      // One Cancel fails: the per-command path records it.
      round(g('b'), r4, 'n1/b', [
        ['1', true],
        ['3', false],
      ]),
      // Only one of two pending branches answered: not finished.
      round(g('old'), r4, 'n1/old', [['x', true]]),
      // A round for a transaction that is not in phase two.
      round(g('many'), r4, 'n1/many', [['1', true]]),
      { kind: 'claim', gid: g('old'), expectDueAt: 0, owner: 'n2/wrong', leaseUntil: r4 + 5_000, now: r4 },
      { kind: 'claim', gid: g('seq'), expectDueAt: r3 + 30_000, owner: 'n2/seq', leaseUntil: r4 + 5_000, now: r4, withRows: true },
    ],
    [
      round(g('old'), r5, 'n1/old', [['y', true]]),
      round(g('seq'), r5, 'n2/seq', [
        ['1', true],
        ['2', true],
      ]),
      { kind: 'expedite', gid: g('b'), now: r5 },
      { kind: 'resolve', gid: g('b'), branchId: '3', reason: 'fixed by hand', operator: 'ops', now: r5, node: 'n1' },
    ],
    // Rounds with failed and deferred calls, written as sets too.
    [create(g('e'), r6), register(g('e'), r6, [branch('1'), branch('2'), branch('3')]), create(g('f'), r6), register(g('f'), r6, [branch('1'), branch('2')])],
    [ok(g('e'), '1', r6), ok(g('e'), '2', r6), ok(g('e'), '3', r6), ok(g('f'), '1', r6), ok(g('f'), '2', r6)],
    [decide(g('e'), 'commit', r6, 'n1/e'), decide(g('f'), 'commit', r6, 'n1/f')],
    [
      // One done, one failed, one deferred: released (this round holds the claim) to the earliest retry.
      { ...(round(g('e'), r7, 'n1/e', [['1', true], ['2', false]]) as PhaseTwoCommand), results: [
        { branchId: '1', attempted: true, ok: true, error: '', nextRetryAt: r7 + 1_000 },
        { branchId: '2', attempted: true, ok: false, error: 'UNAVAILABLE: down', nextRetryAt: r7 + 2_000 },
        { branchId: '3', attempted: false, ok: false, error: '', nextRetryAt: r7 + 500 },
      ] },
      // A round under a claim that is not the row's any more: counted, flagged stuck (1 attempt is the threshold here), not released.
      { ...(round(g('f'), r7, 'n9/stale', [['1', false]]) as PhaseTwoCommand), stuck: { attempts: 1, ageMs: 0 } },
    ],
    [
      // Both left pending fail again; the other round finishes.
      round(g('e'), r8, 'n1/e', [['2', false], ['3', false]]),
      round(g('f'), r8, 'n1/f', [['1', true], ['2', true]]),
    ],
    // A fresh Execute alone with a repeated branch id: the per-command path must see its row,
    // whose INSERT (and the batch's START TRANSACTION) had not been sent yet.
    [create(g('dup2'), r8, r8 + 60_000, true), register(g('dup2'), r8, [branch('1'), branch('1')])],
    [
      create(g('h'), r8),
      register(g('h'), r8, [branch('1'), branch('2')]),
      create(g('i'), r8),
      register(g('i'), r8, [branch('1')]),
      create(g('j'), r8),
      register(g('j'), r8, [branch('1')]),
      ok(g('j'), '1', r8),
      decide(g('j'), 'commit', r8, 'n1/j'),
      create(g('l'), r8),
      register(g('l'), r8, [branch('1')]),
      create(g('m'), r8),
      register(g('m'), r8, [branch('1')]),
    ],
    // Every kind of the hot path at once, each on its own transactions: the locked reads of a step go together.
    [
      // Try answers and the decision after them (an Execute's): the decision reads the answers.
      ok(g('h'), '1', r9),
      refused(g('h'), '2', r9),
      decide(g('h'), 'commit', r9, 'n1/h'),
      decide(g('i'), 'rollback', r9, 'n1/i'),
      round(g('j'), r9, 'n1/j', [['1', true]]),
      create(g('k'), r9, r9 + 60_000, true),
      register(g('k'), r9, [branch('1'), branch('2')]),
      register(g('l'), r9, [branch('2')]),
      // An answer repeated for one branch ends the run: the decision goes a step later, after both.
      ok(g('m'), '1', r9),
      unknown(g('m'), '1', r9),
      decide(g('m'), 'commit', r9, 'n1/m'),
    ],
  ];
}

/** Answers and rows with the prefix taken out of every gid, so two runs compare. */
function unprefixed(v: unknown, p: string): unknown {
  return JSON.parse(JSON.stringify(v, (_k, x: unknown) => (typeof x === 'string' && x.startsWith(`${p}-`) ? x.slice(p.length + 1) : x)));
}

describe('set-based store batches', function () {
  this.timeout(60_000);
  forEachBackend((backend) => {
    let knex: Knex | undefined;
    let store: SqlTransactionStore | undefined;

    before(async function () {
      const { config, dialect } = knexConfigFor(backend.url, 4);
      knex = knexFactory(config);
      await migrateToLatest(knex);
      store = new SqlTransactionStore(knex, dialect);
    });

    after(async function () {
      if (store) await store.close();
    });

    async function rowsOf(p: string): Promise<unknown> {
      const like = `${p}-%`;
      const txns = await knex!('tcc_transactions').where('gid', 'like', like).orderBy('gid');
      const branches = await knex!('tcc_branches').where('gid', 'like', like).orderBy(['gid', 'seq']);
      const logs = await knex!('tcc_logs').where('gid', 'like', like).orderBy(['gid', 'id']);
      const norm = (r: Record<string, unknown>) => {
        const { id: _id, ...rest } = r;
        for (const k of Object.keys(rest)) if (Buffer.isBuffer(rest[k])) rest[k] = (rest[k]).toString('hex');
        if ('stuck' in rest) rest.stuck = Boolean(Number(rest.stuck));
        return rest;
      };
      return unprefixed({ txns: txns.map(norm), branches: branches.map(norm), logs: logs.map(norm) }, p);
    }

    it('answers every command, and leaves every row, as writing the commands one per batch does', async function () {
      const p = crypto.randomBytes(4).toString('hex');
      const together = `t${p}`;
      const alone = `s${p}`;
      const answersTogether: unknown[][] = [];
      const answersAlone: unknown[][] = [];
      const roundsT = scenario(together);
      const roundsS = scenario(alone);
      for (let r = 0; r < roundsT.length; r++) {
        answersTogether.push(unprefixed(await store!.execute(roundsT[r]), together) as unknown[]);
        const one: unknown[] = [];
        for (const c of roundsS[r]) one.push(...(await store!.execute([c])));
        answersAlone.push(unprefixed(one, alone) as unknown[]);
      }
      for (let r = 0; r < answersTogether.length; r++) {
        for (let i = 0; i < answersTogether[r].length; i++) {
          expect(answersTogether[r][i], `round ${r}, command ${i} (${roundsT[r][i].kind} ${roundsT[r][i].gid})`).to.deep.equal(answersAlone[r][i]);
        }
      }
      expect(await rowsOf(together)).to.deep.equal(await rowsOf(alone));
      // The scenario reaches the outcomes it was written for.
      const [, fresh, stored, tried, decided, rounds] = answersTogether as Record<string, unknown>[][];
      const outcome = (x: unknown): unknown => {
        const o = x as { created?: boolean; ok?: boolean; why?: string; tryState?: string | null; branches?: { branchId: string; seq: number; tryAttempts: number }[] };
        if (o.created !== undefined) return o.created;
        if ('tryState' in o) return o.tryState;
        if (o.ok && o.branches) return o.branches.map((b) => `${b.branchId}#${b.seq}x${b.tryAttempts}`).join(',');
        return o.why ?? o.ok;
      };
      expect(fresh.map(outcome)).to.deep.equal([
        true, '1#1x1,2#2x1', true, '1#1x1,2#2x1,3#3x1', true, 'too_many', true, 'expired', true, '1#1x1,1#1x2', 'not_found', true, '1#1x1', '1#1x2', '2#2x1',
      ]);
      expect(stored.map(outcome)).to.deep.equal([false, 'x#1x2,y#2x1', '1#1x1', '2#2x1', 'too_many', true, '1#1x1']);
      expect(tried.map(outcome)).to.deep.equal([
        'SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED', 'REFUSED', 'UNKNOWN', 'UNKNOWN', 'SUCCEEDED', 'SUCCEEDED', null, '1#1x2', 'conflict', 'SUCCEEDED', 'REFUSED', 'REFUSED',
      ]);
      expect(decided.map((x) => (x as { decided?: boolean; found: boolean }).decided ?? (x as { found: boolean }).found)).to.deep.equal([
        true, true, true, true, true, false, false, true,
      ]);
      const status = (x: unknown) => (x as { txn: { status: string } | null }).txn?.status;
      expect(rounds.slice(0, 4).map(status)).to.deep.equal(['CONFIRMED', 'CANCELLING', 'CANCELLING', 'TRYING']);
      expect((rounds[0] as { finished?: boolean }).finished).to.equal(true);
      expect(rounds.slice(4).map((x) => (x as { claimed: boolean }).claimed)).to.deep.equal([false, true]);
      // A claim asked for its rows answers them as the claim left them.
      const won = rounds[5] as { txn?: { owner: string; dueAt: number }; branches?: { branchId: string; phaseTwo: string }[] };
      expect(won.txn).to.include({ owner: 'n2/seq', dueAt: T0 + 40 + 5_000 });
      expect(won.branches?.map((b) => `${b.branchId}:${b.phaseTwo}`)).to.deep.equal(['1:PENDING', '2:SKIPPED']);
      // Rounds with failed and deferred calls.
      const [failedRounds, lastRounds] = answersTogether.slice(10) as { txn: { status: string; dueAt: number | null; owner: string | null; stuck: boolean; attempts: number; lastError: string }; becameStuck?: { branchId: string; attempts: number; lastError: string }; finished?: boolean }[][];
      expect(failedRounds[0].txn).to.include({ status: 'CONFIRMING', dueAt: T0 + 70 + 500, owner: null, stuck: false, attempts: 1, lastError: 'UNAVAILABLE: down' });
      expect(failedRounds[1].txn).to.include({ status: 'CONFIRMING', dueAt: T0 + 60 + 30_000, owner: 'n1/f', stuck: true, attempts: 1 });
      // The branch as the round left it: its failed attempt counted, its error the round's.
      expect(failedRounds[1].becameStuck).to.include({ branchId: '1', attempts: 1, lastError: 'UNAVAILABLE: down' });
      // Its claim was released by the round before: this one holds none, so it moves nothing but the count.
      expect(lastRounds[0].txn).to.include({ status: 'CONFIRMING', dueAt: T0 + 70 + 500, owner: null, attempts: 2 });
      expect(lastRounds[1]).to.include({ finished: true });
      expect(lastRounds[1].txn).to.include({ status: 'CONFIRMED', stuck: false });
      // The batch of every kind at once.
      const mixed = answersTogether[14] as { decided?: boolean; txn?: { status: string }; tryState?: string; ok?: boolean; created?: boolean }[];
      expect(mixed.map((x) => x.txn?.status ?? x.tryState ?? x.created)).to.deep.equal([
        'SUCCEEDED', 'REFUSED', 'CANCELLING', 'CANCELLING', 'CONFIRMED', 'TRYING', 'TRYING', 'TRYING', 'SUCCEEDED', 'SUCCEEDED', 'CONFIRMING',
      ]);
      expect(mixed.map((x) => x.created ?? x.ok)).to.deep.equal([undefined, undefined, undefined, undefined, undefined, true, true, true, undefined, undefined, undefined]);
      expect(mixed.map((x) => x.decided)).to.deep.equal([undefined, undefined, true, true, undefined, undefined, undefined, undefined, undefined, undefined, true]);
    });

    it('answers a Try outcome that moved nothing with the state it found, even when a later answer in the batch moves that branch', async function () {
      const gid = `${crypto.randomBytes(4).toString('hex')}-twice`;
      const now = Date.now();
      const answer = (state: 'UNKNOWN' | 'SUCCEEDED'): StoreCommand => ({ kind: 'tryOutcome', gid, branchId: 'x', state, error: '', now, log: tryLog(gid, 'x', state, now) });
      await store!.execute([create(gid, now), { kind: 'register', gid, now, branches: [branch('x')], maxBranches: 8 }, answer('UNKNOWN')]);
      // The repeated unknown matches no row (UNKNOWN is not moved by UNKNOWN); the success after it moves the branch.
      const [repeated, success] = (await store!.execute([answer('UNKNOWN'), answer('SUCCEEDED')])) as unknown as { tryState: string | null }[];
      expect(repeated.tryState, 'the repeated answer: the state it found').to.equal('UNKNOWN');
      expect(success.tryState).to.equal('SUCCEEDED');
    });

    it('reads once for every kind in a step: new Executes, Try answers with their decisions, phase-two rounds and recovery claims in one batch are 3 round trips on MySQL', async function () {
      const mixedBatch = async (n: number) => {
        const p = crypto.randomBytes(4).toString('hex');
        const now = Date.now();
        const gids = (group: string) => Array.from({ length: n }, (_, i) => `${p}-${group}${i}`);
        const [inPhaseTwo, tried, fresh, claimed] = [gids('a'), gids('b'), gids('c'), gids('d')];
        const begin = (gid: string): StoreCommand[] => [create(gid, now), { kind: 'register', gid, now, branches: [branch('1'), branch('2')], maxBranches: 8 }];
        const answered = (gid: string): StoreCommand[] => [
          { kind: 'tryOutcome', gid, branchId: '1', state: 'SUCCEEDED', error: '', now, log: tryLog(gid, '1', 'ok', now) },
          { kind: 'tryOutcome', gid, branchId: '2', state: 'SUCCEEDED', error: '', now, log: tryLog(gid, '2', 'ok', now) },
          { kind: 'decide', gid, decision: 'commit', reason: '', now, node: 'n1', claimToken: `n1/${gid}`, leaseUntil: now + 30_000 },
        ];
        await store!.execute([...inPhaseTwo.flatMap(begin), ...tried.flatMap(begin), ...claimed.flatMap(begin)]);
        await store!.execute([...inPhaseTwo.flatMap(answered), ...claimed.flatMap(answered)]);
        // Recovery's claims of decided transactions, one of them on a due time the row no longer has.
        const claims = claimed.map(
          (gid, i): StoreCommand => ({ kind: 'claim', gid, expectDueAt: i === 0 ? now : now + 30_000, owner: `n2/${gid}`, leaseUntil: now + 60_000, now, withRows: true }),
        );
        const rounds = inPhaseTwo.map((gid) => finishingRound(gid, now));
        const statements = store!.statementCount();
        const queries = store!.queryCount();
        const answers = await store!.execute([...rounds, ...tried.flatMap(answered), ...fresh.flatMap((gid) => [create(gid, now, true), ...begin(gid).slice(1)]), ...claims]);
        const claimAnswers = answers.slice(answers.length - n) as { claimed: boolean; txn?: { owner: string | null }; branches?: unknown[] }[];
        expect(claimAnswers.map((a) => a.claimed)).to.deep.equal(claimed.map((_, i) => i > 0));
        expect(claimAnswers.map((a) => [a.txn?.owner, a.branches?.length])).to.deep.equal(claimed.map((gid, i) => (i > 0 ? [`n2/${gid}`, 2] : [undefined, undefined])));
        const statuses = async (list: string[]) => (await knex!('tcc_transactions').whereIn('gid', list).select('status')).map((r: { status: string }) => r.status);
        expect(await statuses(inPhaseTwo)).to.deep.equal(inPhaseTwo.map(() => 'CONFIRMED'));
        expect(await statuses(tried)).to.deep.equal(tried.map(() => 'CONFIRMING'));
        expect(await knex!('tcc_branches').whereIn('gid', fresh).count({ n: '*' })).to.deep.equal([{ n: 2 * n }]);
        return { statements: store!.statementCount() - statements, queries: store!.queryCount() - queries };
      };
      const small = await mixedBatch(8);
      const large = await mixedBatch(64);
      expect(large.statements, 'statements for 8 and for 64 of each').to.equal(small.statements);
      // The new transactions and branches, the Try answers and the claims' compare-and-set with one locked read
      // of the rounds' and the decisions' transactions with their branches (and the claimed rows), then the
      // rounds' writes with the decisions' compare-and-set, the rest with COMMIT.
      if (backend.name !== 'sqlite') expect([small.queries, large.queries], 'MySQL round trips for 8 and for 64 of each').to.deep.equal([3, 3]);
    });

    it('writes a batch in the same number of statements for 8 and for 64 transactions, reading nothing before a new one', async function () {
      const statementsFor = async (n: number, fresh = false) => {
        const p = crypto.randomBytes(4).toString('hex');
        const gids = Array.from({ length: n }, (_, i) => `${p}-${i}`);
        const counts: number[] = [];
        const queries: number[] = [];
        let rowsRead = 0;
        const onRows = (rows: unknown) => {
          if (Array.isArray(rows)) rowsRead += rows.length;
        };
        knex!.on('query-response', onRows);
        const step = async (commands: StoreCommand[]) => {
          const before = store!.statementCount();
          const queriesBefore = store!.queryCount();
          rowsRead = 0;
          await store!.execute(commands);
          counts.push(store!.statementCount() - before);
          queries.push(store!.queryCount() - queriesBefore);
          return rowsRead;
        };
        try {
          const now = Date.now();
          const readOnCreate = await step(gids.flatMap((gid) => [create(gid, now, fresh), { kind: 'register', gid, now, branches: [branch('1'), branch('2')], maxBranches: 8 }]));
          expect(readOnCreate, 'rows read by the batch creating the transactions').to.equal(0);
          await step(
            gids.flatMap((gid) => [
              { kind: 'tryOutcome', gid, branchId: '1', state: 'SUCCEEDED', error: '', now, log: tryLog(gid, '1', 'ok', now) },
              { kind: 'tryOutcome', gid, branchId: '2', state: 'SUCCEEDED', error: '', now, log: tryLog(gid, '2', 'ok', now) },
              { kind: 'decide', gid, decision: 'commit', reason: '', now, node: 'n1', claimToken: `n1/${gid}`, leaseUntil: now + 30_000 },
            ]),
          );
          // A round with a failed and a deferred call on every transaction, then one that finishes them.
          await step(
            gids.map(
              (gid) =>
                ({
                  kind: 'phaseTwo',
                  gid,
                  now,
                  node: 'n1',
                  claimToken: `n1/${gid}`,
                  results: [
                    { branchId: '1', attempted: true, ok: false, error: 'UNAVAILABLE', nextRetryAt: now + 1_000 },
                    { branchId: '2', attempted: false, ok: false, error: '', nextRetryAt: now + 2_000 },
                  ],
                  logs: [],
                  stuck: STUCK,
                }) satisfies StoreCommand,
            ),
          );
          await step(gids.map((gid) => finishingRound(gid, now)));
          const done = await knex!('tcc_transactions').whereIn('gid', gids).where('status', 'CONFIRMED').count({ n: '*' });
          expect(Number(done[0].n)).to.equal(n);
        } finally {
          knex!.off('query-response', onRows);
        }
        return { counts, queries };
      };
      const { counts: small, queries: smallQueries } = await statementsFor(8);
      const { counts: large, queries: largeQueries } = await statementsFor(64);
      // Gids the coordinator made (Execute, Begin without a gid): the same statements.
      const { counts: freshCounts, queries: freshQueries } = await statementsFor(8, true);
      expect(freshCounts).to.deep.equal(small);
      expect(large, 'statements per batch: create+register, Try outcomes+decision, a failed round, phase two').to.deep.equal(small);
      expect(largeQueries, 'queries per batch').to.deep.equal(smallQueries);
      // BEGIN and COMMIT (and MySQL's SET TRANSACTION) around a handful of set statements.
      expect(small.reduce((a, b) => a + b, 0)).to.be.at.most(backend.name === 'sqlite' ? 25 : 29);
      if (backend.name === 'sqlite') expect(smallQueries, 'SQLite: one query per statement').to.deep.equal(small);
      else {
        // One round trip per statement whose answer the batch reads, the writes riding with the next one:
        // create+register = the INSERT that reports which gids were new (SET TRANSACTION and START TRANSACTION
        // with it), then the branch and log rows with COMMIT; Try outcomes+decision = the outcome UPDATE
        // (its matched count read with the next answer) with the locked read and the branch read, the
        // decision's compare-and-set, COMMIT; each round = the locked read with the pending branches' read,
        // then its writes with COMMIT.
        expect(smallQueries, 'MySQL round trips per batch').to.deep.equal([2, 3, 2, 2]);
        // A gid the coordinator made needs no answer from its INSERT: the whole first batch goes with COMMIT.
        expect(freshQueries, 'MySQL round trips per batch, gids made by the coordinator').to.deep.equal([1, 3, 2, 2]);
      }
    });
  });
});

/** A phase-two round under the decision's claim (`n1/<gid>`) in which both branches answered OK. */
function finishingRound(gid: string, now: number): StoreCommand {
  return {
    kind: 'phaseTwo',
    gid,
    now,
    node: 'n1',
    claimToken: `n1/${gid}`,
    results: ['1', '2'].map((b) => ({ branchId: b, attempted: true, ok: true, error: '', nextRetryAt: 0 })),
    logs: [],
    stuck: STUCK,
  };
}

function create(gid: string, now: number, fresh = false): StoreCommand {
  return { kind: 'create', gid, now, deadlineAt: now + 60_000, fresh };
}
