/**
 * SqlBarrier on both backends (a SQLite temp file, a fresh MariaDB database):
 * each rule on its own, every call sequence of one branch up to length 5
 * against the reference model (test/helpers/barrier-model.ts), Try/Cancel
 * races, rollback of a failed business function, the schema, retention.
 *
 * The business side is one table, `biz_changes`: one row per business change
 * applied, so the model's applied counts are a GROUP BY away.
 */
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import knexFactory, { type Knex } from 'knex';
import type { ParticipantClient } from '../src/generated/tcc/v1/Participant';
import { CALL_FORMS, callParticipantAs } from './helpers/participant-forms';
import { createLogger } from '../src/log/logger';
import {
  BarrierViolationError,
  barrierTableDdl,
  createBranchCall,
  migrateBarrierSchema,
  ParticipantServer,
  pruneSqlBarriers,
  SqlBarrier,
  TryRefusedError,
  TrySuspendedError,
  type BarrierResult,
  type SqlBarrierRetry,
} from '../src/participant';
import { loadTccProto } from '../src/protocol/tcc-proto';
import { knexConfigFor } from '../src/store/create-store';
import { forEachBackend, sleep, type Backend } from './helpers/backends';
import { allSequences, expectedOutcome, type AppliedCounts, type BarrierAnswer, type BarrierOp } from './helpers/barrier-model';

const BIZ = 'biz_changes';
const DAY = 24 * 60 * 60 * 1000;

/**
 * The participant's own knex, as an application would configure it: on
 * MariaDB the server's default REPEATABLE READ sessions (knexConfigFor's
 * READ COMMITTED hook removed), so the barrier must set its isolation itself.
 */
function participantKnex(backend: Backend, poolMax: number): Knex {
  const { config, dialect } = knexConfigFor(backend.url, poolMax);
  if (dialect === 'mysql') config.pool = { min: 0, max: poolMax };
  return knexFactory(config);
}

/** Each call's result as the model names it, with the barrier's outcome for OK answers. */
interface Answer {
  answer: BarrierAnswer;
  /** applied | duplicate | empty-rollback for ok; what the barrier found for a violation. */
  detail: string;
}

function answerOf(result: BarrierResult<unknown>): Answer {
  return { answer: 'ok', detail: result.outcome };
}

function answerOfError(err: unknown): Answer {
  if (err instanceof TrySuspendedError) return { answer: 'refused', detail: 'suspended' };
  if (err instanceof BarrierViolationError) return { answer: 'violation', detail: err.found };
  throw err;
}

async function inParallel<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

forEachBackend((backend) => {
  describe('SqlBarrier', function () {
    this.timeout(60_000);
    let knex: Knex;
    let barrier: SqlBarrier;
    const mysql = backend.name === 'mariadb';

    before(async () => {
      knex = participantKnex(backend, 12);
      await migrateBarrierSchema(knex);
      await knex.schema.createTable(BIZ, (t) => {
        t.increments('id').primary();
        t.string('gid', 128).notNullable();
        t.string('branch_id', 128).notNullable();
        t.string('op', 8).notNullable();
        t.index(['gid', 'branch_id'], 'biz_changes_branch');
      });
      barrier = new SqlBarrier(knex);
    });

    after(async () => {
      await knex?.destroy();
    });

    /** Runs one call of branch (gid, branchId) whose business change is one biz_changes row. */
    async function call(
      b: SqlBarrier,
      op: BarrierOp,
      gid: string,
      branchId: string,
      business?: (tx: Knex.Transaction) => Promise<void>,
    ): Promise<Answer> {
      const branchCall = createBranchCall(op, { gid, branch_id: branchId, action: 'transfer', payload: Buffer.from('{}') });
      try {
        return answerOf(
          await b.run(branchCall, async (tx) => {
            await tx(BIZ).insert({ gid, branch_id: branchId, op });
            if (business) await business(tx);
            return op;
          }),
        );
      } catch (err) {
        return answerOfError(err);
      }
    }

    async function applied(gid: string, branchId: string): Promise<AppliedCounts> {
      const rows = await knex(BIZ).select('op').count({ n: '*' }).where({ gid, branch_id: branchId }).groupBy('op');
      const counts: AppliedCounts = { try: 0, confirm: 0, cancel: 0 };
      for (const r of rows as { op: BarrierOp; n: number | string }[]) counts[r.op] = Number(r.n);
      return counts;
    }

    async function barrierRows(gid: string, branchId: string, table = 'tcc_barriers'): Promise<string[]> {
      const rows = (await knex(table).select('slot', 'op').where({ gid, branch_id: branchId }).orderBy('slot')) as {
        slot: string;
        op: string;
      }[];
      return rows.map((r) => `${r.slot}:${r.op}`);
    }

    describe('each rule on its own', () => {
      const scenarios: ReadonlyArray<{
        name: string;
        ops: BarrierOp[];
        answers: string[];
        applied: AppliedCounts;
        rows: string[];
      }> = [
        {
          name: 'Try is idempotent: a repeated Try answers duplicate and reserves nothing more',
          ops: ['try', 'try'],
          answers: ['ok:applied', 'ok:duplicate'],
          applied: { try: 1, confirm: 0, cancel: 0 },
          rows: ['try:try'],
        },
        {
          name: 'Confirm after Try applies once; a repeated Confirm and a late repeated Try answer duplicate',
          ops: ['try', 'confirm', 'confirm', 'try'],
          answers: ['ok:applied', 'ok:applied', 'ok:duplicate', 'ok:duplicate'],
          applied: { try: 1, confirm: 1, cancel: 0 },
          rows: ['phase2:confirm', 'try:try'],
        },
        {
          name: 'Cancel after Try applies once; a repeated Cancel answers duplicate',
          ops: ['try', 'cancel', 'cancel'],
          answers: ['ok:applied', 'ok:applied', 'ok:duplicate'],
          applied: { try: 1, confirm: 0, cancel: 1 },
          rows: ['phase2:cancel', 'try:try'],
        },
        {
          name: 'Cancel before any Try is an empty rollback: nothing runs, and the Try arriving late is refused (anti-suspension)',
          ops: ['cancel', 'try', 'cancel', 'try'],
          answers: ['ok:empty-rollback', 'refused:suspended', 'ok:duplicate', 'refused:suspended'],
          applied: { try: 0, confirm: 0, cancel: 0 },
          rows: ['phase2:cancel', 'try:cancel'],
        },
        {
          name: 'Try after Try and Cancel is refused',
          ops: ['try', 'cancel', 'try'],
          answers: ['ok:applied', 'ok:applied', 'refused:suspended'],
          applied: { try: 1, confirm: 0, cancel: 1 },
          rows: ['phase2:cancel', 'try:try'],
        },
        {
          name: 'Confirm without Try is a violation that leaves no row: the Try can still run and be confirmed',
          ops: ['confirm', 'try', 'confirm'],
          answers: ['violation:not-tried', 'ok:applied', 'ok:applied'],
          applied: { try: 1, confirm: 1, cancel: 0 },
          rows: ['phase2:confirm', 'try:try'],
        },
        {
          name: 'Confirm after Cancel is a violation (cancelled) and changes nothing',
          ops: ['try', 'cancel', 'confirm'],
          answers: ['ok:applied', 'ok:applied', 'violation:cancelled'],
          applied: { try: 1, confirm: 0, cancel: 1 },
          rows: ['phase2:cancel', 'try:try'],
        },
        {
          name: 'Cancel after Confirm is a violation (confirmed) and changes nothing',
          ops: ['try', 'confirm', 'cancel', 'confirm'],
          answers: ['ok:applied', 'ok:applied', 'violation:confirmed', 'ok:duplicate'],
          applied: { try: 1, confirm: 1, cancel: 0 },
          rows: ['phase2:confirm', 'try:try'],
        },
      ];

      scenarios.forEach((s, i) => {
        it(s.name, async () => {
          const gid = `rule-${i}`;
          const answers: string[] = [];
          for (const op of s.ops) {
            const a = await call(barrier, op, gid, 'b1');
            answers.push(`${a.answer}:${a.detail}`);
          }
          expect(answers, `answers to ${s.ops.join(',')}`).to.deep.equal(s.answers);
          expect(await applied(gid, 'b1'), 'business changes applied').to.deep.equal(s.applied);
          expect(await barrierRows(gid, 'b1'), 'barrier rows').to.deep.equal(s.rows);
          // The model agrees with the scenario (it is the specification).
          expect(expectedOutcome(s.ops).answers).to.deep.equal(s.answers.map((a) => a.split(':')[0]));
        });
      });

      it('Confirm after an empty rollback is a violation (cancelled)', async () => {
        expect(await call(barrier, 'cancel', 'rule-empty-confirm', 'b1')).to.deep.equal({ answer: 'ok', detail: 'empty-rollback' });
        expect(await call(barrier, 'confirm', 'rule-empty-confirm', 'b1')).to.deep.equal({ answer: 'violation', detail: 'cancelled' });
        expect(await applied('rule-empty-confirm', 'b1')).to.deep.equal({ try: 0, confirm: 0, cancel: 0 });
      });

      it('keeps branches apart: other branch ids, other gids, and ids differing only in case', async () => {
        expect((await call(barrier, 'try', 'Case-Gid', 'b1')).detail).to.equal('applied');
        expect((await call(barrier, 'try', 'case-gid', 'b1')).detail, 'gid differing in case').to.equal('applied');
        expect((await call(barrier, 'try', 'Case-Gid', 'B1')).detail, 'branch id differing in case').to.equal('applied');
        expect((await call(barrier, 'cancel', 'Case-Gid', 'b2')).detail).to.equal('empty-rollback');
        expect((await call(barrier, 'try', 'Case-Gid', 'b1')).detail).to.equal('duplicate');
      });

      it('hands the business function the result it returns, in the same transaction as the barrier row', async () => {
        const branchCall = createBranchCall('try', { gid: 'rule-value', branch_id: 'b1', action: 'a', payload: null });
        const result = await barrier.run(branchCall, async (tx) => {
          // The barrier row is already written in this very transaction.
          const rows = (await tx('tcc_barriers').select('slot', 'op').where({ gid: 'rule-value' })) as object[];
          return { rows: rows.length, value: 'reserved' };
        });
        expect(result).to.deep.equal({ outcome: 'applied', value: { rows: 1, value: 'reserved' } });
      });

      if (backend.name === 'mariadb') {
        it('runs each call in a READ COMMITTED transaction even when the session default is REPEATABLE READ', async () => {
          const [[session]] = (await knex.raw('SELECT @@tx_isolation AS level')) as [[{ level: string }]];
          expect(session.level, 'the test pool keeps the server default').to.equal('REPEATABLE-READ');
          const branchCall = createBranchCall('try', { gid: 'rule-iso', branch_id: 'b1', action: 'a', payload: null });
          const result = await barrier.run(branchCall, async (tx) => {
            const [rows] = (await tx.raw(
              'SELECT trx_isolation_level AS level FROM information_schema.innodb_trx WHERE trx_mysql_thread_id = CONNECTION_ID()',
            )) as [{ level: string }[]];
            return rows[0]?.level;
          });
          expect(result).to.deep.equal({ outcome: 'applied', value: 'READ COMMITTED' });
        });
      }
    });

    describe('what each driver answers (what the barrier reads)', () => {
      if (backend.name === 'sqlite') {
        it('better-sqlite3: INSERT … ON CONFLICT DO NOTHING reports changes 1, then 0 on the duplicate', async () => {
          await knex.schema.createTable('driver_probe', (t) => t.string('k', 8).primary());
          const res = await knex.transaction(async (tx) => [
            await tx.raw<{ changes: number }>('INSERT INTO driver_probe (k) VALUES (?) ON CONFLICT DO NOTHING', ['x']),
            await tx.raw<{ changes: number }>('INSERT INTO driver_probe (k) VALUES (?) ON CONFLICT DO NOTHING', ['x']),
          ]);
          expect(res.map((r) => r.changes)).to.deep.equal([1, 0]);
        });
      } else {
        it('mysql2: a duplicate INSERT fails with errno 1062 and the transaction goes on; ON DUPLICATE KEY UPDATE cannot tell (CLIENT_FOUND_ROWS)', async () => {
          await knex.schema.createTable('driver_probe', (t) => t.string('k', 8).primary());
          const affected = await knex.transaction(async (tx) => {
            const first = await tx.raw<[{ affectedRows: number }]>('INSERT INTO driver_probe (k) VALUES (?) ON DUPLICATE KEY UPDATE k = k', ['x']);
            const again = await tx.raw<[{ affectedRows: number }]>('INSERT INTO driver_probe (k) VALUES (?) ON DUPLICATE KEY UPDATE k = k', ['x']);
            // Why the barrier does not use it: mysql2's default flags make both 1.
            return [first[0].affectedRows, again[0].affectedRows];
          });
          expect(affected, 'ODKU affectedRows: insert, then duplicate').to.deep.equal([1, 1]);

          await knex.transaction(async (tx) => {
            await tx.raw('INSERT INTO driver_probe (k) VALUES (?)', ['y']);
            const err = await tx.raw('INSERT INTO driver_probe (k) VALUES (?)', ['y']).then(
              () => expect.fail('duplicate INSERT succeeded'),
              (e: { errno?: number; code?: string }) => e,
            );
            expect(err).to.include({ errno: 1062, code: 'ER_DUP_ENTRY' });
            await tx.raw('INSERT INTO driver_probe (k) VALUES (?)', ['z']);
          });
          const keys = (await knex('driver_probe').select('k').orderBy('k')) as { k: string }[];
          expect(keys.map((r) => r.k), 'the failed statement alone was undone').to.deep.equal(['x', 'y', 'z']);
        });
      }
    });

    describe('generated interleavings', () => {
      it('answers and applies every call sequence of one branch up to length 5 as the model says (363 sequences)', async function () {
        this.timeout(180_000);
        const sequences = allSequences(5);
        expect(sequences).to.have.length(363);
        const mismatches: string[] = [];
        const started = Date.now();
        await inParallel(sequences, mysql ? 8 : 1, async (seq, index) => {
          const gid = `gen-${index}`;
          const model = expectedOutcome(seq);
          const got: Answer[] = [];
          for (const op of seq) got.push(await call(barrier, op, gid, 'b1'));
          const answers = got.map((a) => a.answer);
          // A call applies its change exactly when the model's applied counts grow at that step.
          const appliedAt = seq.map((_, i) => {
            const total = (c: AppliedCounts) => c.try + c.confirm + c.cancel;
            return total(expectedOutcome(seq.slice(0, i + 1)).applied) > total(expectedOutcome(seq.slice(0, i)).applied);
          });
          const outcomesOk = got.every((a, i) => (a.detail === 'applied') === appliedAt[i]);
          const counts = await applied(gid, 'b1');
          if (
            JSON.stringify(answers) !== JSON.stringify(model.answers) ||
            JSON.stringify(counts) !== JSON.stringify(model.applied) ||
            !outcomesOk
          ) {
            mismatches.push(
              `${seq.join(',')}: expected ${model.answers.join(',')} applying ${JSON.stringify(model.applied)}, ` +
                `got ${got.map((a) => `${a.answer}(${a.detail})`).join(',')} applying ${JSON.stringify(counts)}`,
            );
          }
        });
        console.log(`      [${backend.name}] 363 sequences, 1641 calls in ${Date.now() - started} ms`);
        expect(mismatches, `${mismatches.length} sequences differ from the model:\n${mismatches.slice(0, 10).join('\n')}`).to.deep.equal([]);
      });

      for (const form of CALL_FORMS) it(`answers the same over gRPC (${form} calls): a ParticipantServer with the SqlBarrier, every sequence up to length 3`, async () => {
        const server = new ParticipantServer({
          barrier,
          actions: {
            transfer: {
              try: async (tx, c) => {
                await tx(BIZ).insert({ gid: c.gid, branch_id: c.branchId, op: 'try' });
                return { reserved: c.branchId };
              },
              confirm: async (tx, c) => void (await tx(BIZ).insert({ gid: c.gid, branch_id: c.branchId, op: 'confirm' })),
              cancel: async (tx, c) => void (await tx(BIZ).insert({ gid: c.gid, branch_id: c.branchId, op: 'cancel' })),
            },
          },
          logger: createLogger({ level: 'silent' }),
        });
        const address = await server.listen('127.0.0.1:0');
        const client: ParticipantClient = new (loadTccProto().grpcObject.tcc.v1.Participant)(address, grpc.credentials.createInsecure());
        const send = (op: BarrierOp, gid: string) =>
          callParticipantAs(form, client, op, { gid, branch_id: 'b1', action: 'transfer', payload: Buffer.from('{}') }, { deadlineMs: 10_000 }).then(
            (res): { answer: BarrierAnswer; result?: string } => ({ answer: 'ok', result: res.result.toString('utf8') }),
            (err: grpc.ServiceError): { answer: BarrierAnswer; result?: string } => {
              if (err.code === grpc.status.ABORTED) return { answer: 'refused' };
              if (err.code === grpc.status.FAILED_PRECONDITION) return { answer: 'violation' };
              throw err;
            },
          );
        try {
          const sequences = allSequences(3);
          const mismatches: string[] = [];
          await inParallel(sequences, mysql ? 6 : 1, async (seq, index) => {
            const gid = `grpc-${form}-${index}`;
            const got: string[] = [];
            for (const op of seq) got.push((await send(op, gid)).answer);
            const model = expectedOutcome(seq);
            const counts = await applied(gid, 'b1');
            if (JSON.stringify(got) !== JSON.stringify(model.answers) || JSON.stringify(counts) !== JSON.stringify(model.applied)) {
              mismatches.push(`${seq.join(',')}: expected ${model.answers.join(',')} ${JSON.stringify(model.applied)}, got ${got.join(',')} ${JSON.stringify(counts)}`);
            }
          });
          expect(mismatches, mismatches.join('\n')).to.deep.equal([]);
          // The first Try's result travels; a duplicate Try answers OK with an empty result.
          expect(await send('try', `grpc-result-${form}`)).to.deep.equal({ answer: 'ok', result: '{"reserved":"b1"}' });
          expect(await send('try', `grpc-result-${form}`)).to.deep.equal({ answer: 'ok', result: '' });
        } finally {
          client.close();
          await server.shutdown(1_000);
        }
      });
    });

    describe('concurrent calls of one branch', () => {
      const RACES = 200;

      /**
       * One race of a Try (optionally two) and a Cancel of a fresh branch, each
       * on its own pooled connection, started in the same tick in a random
       * order. The Try's business holds its row lock a moment, so a Cancel
       * arriving meanwhile waits on the (gid, branch_id, 'try') key.
       */
      async function race(index: number, duplicateTry: boolean) {
        const gid = `race-${duplicateTry ? 'dup' : 'one'}-${index}`;
        const hold = async () => sleep(Math.random() < 0.5 ? 0 : 2);
        const calls: Array<() => Promise<Answer>> = [
          () => call(barrier, 'try', gid, 'b1', hold),
          () => call(barrier, 'cancel', gid, 'b1'),
        ];
        if (duplicateTry) calls.push(() => call(barrier, 'try', gid, 'b1', hold));
        const order = calls.map((fn, i) => ({ fn, i, key: Math.random() })).sort((a, b) => a.key - b.key);
        const settled = await Promise.all(order.map(async ({ fn, i }) => ({ i, answer: await fn() })));
        settled.sort((a, b) => a.i - b.i);
        const [tryAnswer, cancelAnswer, dupAnswer] = settled.map((s) => s.answer);
        return { gid, tries: dupAnswer ? [tryAnswer, dupAnswer] : [tryAnswer], cancel: cancelAnswer, counts: await applied(gid, 'b1') };
      }

      for (const duplicateTry of [false, true]) {
        it(`${duplicateTry ? 'two Tries' : 'a Try'} racing a Cancel, ${RACES} times: each change applied at most once, never frozen and cancelled-empty`, async function () {
          this.timeout(180_000);
          // Open the pool's connections first, so both sides really run at once.
          await Promise.all(Array.from({ length: 6 }, () => knex.raw('SELECT 1')));
          const tally = { tryWon: 0, cancelWon: 0 };
          const problems: string[] = [];
          const started = Date.now();
          for (let i = 0; i < RACES; i++) {
            const r = await race(i, duplicateTry);
            const applied = r.tries.filter((t) => t.detail === 'applied').length;
            const tryWon =
              applied === 1 &&
              r.counts.try === 1 &&
              r.counts.cancel === 1 &&
              r.cancel.detail === 'applied' &&
              // The other Try came before the Cancel (duplicate) or after it (refused).
              r.tries.every((t) => t.detail === 'applied' || t.detail === 'duplicate' || t.answer === 'refused');
            const cancelWon =
              r.cancel.detail === 'empty-rollback' &&
              r.counts.try === 0 &&
              r.counts.cancel === 0 &&
              r.tries.every((t) => t.answer === 'refused');
            if (tryWon) tally.tryWon++;
            else if (cancelWon) tally.cancelWon++;
            else {
              problems.push(
                `${r.gid}: tries ${r.tries.map((t) => `${t.answer}(${t.detail})`).join('+')}, cancel ${r.cancel.answer}(${r.cancel.detail}), applied ${JSON.stringify(r.counts)}`,
              );
            }
            expect(r.counts.confirm).to.equal(0);
            expect(await barrierRows(r.gid, 'b1'), r.gid).to.have.length(2);
          }
          console.log(`      [${backend.name}] ${RACES} races in ${Date.now() - started} ms: Try first ${tally.tryWon}, Cancel first ${tally.cancelWon}`);
          expect(problems, problems.slice(0, 10).join('\n')).to.deep.equal([]);
          if (mysql) {
            // Otherwise the race was never a race.
            expect(tally.tryWon, 'races the Try won').to.be.greaterThan(0);
            expect(tally.cancelWon, 'races the Cancel won').to.be.greaterThan(0);
          }
        });
      }

      it('a Try whose business fails while a duplicate Try and a Cancel wait on its key: the waiters still end consistently', async function () {
        this.timeout(60_000);
        const retries: SqlBarrierRetry[] = [];
        const retrying = new SqlBarrier(knex, { onRetry: (r) => retries.push(r) });
        let firstIn!: () => void;
        const inBusiness = new Promise<void>((resolve) => (firstIn = resolve));
        let fail!: () => void;
        const failNow = new Promise<void>((resolve) => (fail = resolve));
        let failingRuns = 0;
        const failing = call(retrying, 'try', 'race-rollback', 'b1', async () => {
          failingRuns++;
          firstIn();
          await failNow;
          throw new TryRefusedError('out of stock');
        }).then(
          () => expect.fail('the failing Try succeeded'),
          (err: unknown) => err,
        );
        await inBusiness;
        const duplicate = call(retrying, 'try', 'race-rollback', 'b1');
        const cancel = call(retrying, 'cancel', 'race-rollback', 'b1');
        await sleep(300); // both now wait on the failing Try's row (MariaDB) or for the one connection (SQLite)
        fail();
        expect(await failing).to.be.instanceOf(TryRefusedError);
        expect(failingRuns, 'a business failure is never retried').to.equal(1);
        const [d, c] = await Promise.all([duplicate, cancel]);
        const counts = await applied('race-rollback', 'b1');
        const tryThenCancel = d.detail === 'applied' && c.detail === 'applied' && counts.try === 1 && counts.cancel === 1;
        const cancelFirst = c.detail === 'empty-rollback' && d.answer === 'refused' && counts.try === 0 && counts.cancel === 0;
        expect(tryThenCancel || cancelFirst, `try ${d.answer}(${d.detail}), cancel ${c.answer}(${c.detail}), ${JSON.stringify(counts)}`).to.equal(true);
        console.log(`      [${backend.name}] retries: ${retries.map((r) => `${r.phase}#${r.attempt} ${r.error.split(':')[0]}`).join(', ') || 'none'}`);
        for (const r of retries) expect(r.error).to.match(/^ER_LOCK_DEADLOCK|^ER_LOCK_WAIT_TIMEOUT/);
      });
    });

    describe('a failing business function', () => {
      it('rolls the barrier row back: a Try refused by its business leaves no row, and the same Try retried runs and applies', async () => {
        const gid = 'fail-try';
        let refuse = true;
        const refusing = async () => {
          if (refuse) throw new TryRefusedError('insufficient funds');
        };
        const branchCall = createBranchCall('try', { gid, branch_id: 'b1', action: 'debit', payload: null });
        const first = await barrier
          .run(branchCall, async (tx) => {
            await tx(BIZ).insert({ gid, branch_id: 'b1', op: 'try' });
            await refusing();
          })
          .then(
            () => expect.fail('a refused Try succeeded'),
            (err: unknown) => err,
          );
        expect(first).to.be.instanceOf(TryRefusedError);
        expect(await barrierRows(gid, 'b1'), 'barrier rows after the refusal').to.deep.equal([]);
        expect(await applied(gid, 'b1')).to.deep.equal({ try: 0, confirm: 0, cancel: 0 });

        refuse = false;
        expect(await call(barrier, 'try', gid, 'b1', refusing)).to.deep.equal({ answer: 'ok', detail: 'applied' });
        expect(await barrierRows(gid, 'b1')).to.deep.equal(['try:try']);
        expect(await applied(gid, 'b1')).to.deep.equal({ try: 1, confirm: 0, cancel: 0 });
      });

      it('rolls a failed Cancel back, so the retried Cancel still undoes the Try', async () => {
        const gid = 'fail-cancel';
        await call(barrier, 'try', gid, 'b1');
        const err = await call(barrier, 'cancel', gid, 'b1', async () => {
          throw new Error('ledger unavailable');
        }).then(
          () => expect.fail('the failing Cancel succeeded'),
          (e: unknown) => e,
        );
        expect((err as Error).message).to.equal('ledger unavailable');
        expect(await barrierRows(gid, 'b1')).to.deep.equal(['try:try']);
        expect(await call(barrier, 'cancel', gid, 'b1')).to.deep.equal({ answer: 'ok', detail: 'applied' });
        expect(await applied(gid, 'b1')).to.deep.equal({ try: 1, confirm: 0, cancel: 1 });
      });

      it('never retries an error of the business function, even one coded as a deadlock', async () => {
        let runs = 0;
        const retries: SqlBarrierRetry[] = [];
        const b = new SqlBarrier(knex, { onRetry: (r) => retries.push(r) });
        const deadlock = Object.assign(new Error('Deadlock found when trying to get lock'), { errno: 1213, code: 'ER_LOCK_DEADLOCK' });
        const branchCall = createBranchCall('try', { gid: 'fail-deadlock', branch_id: 'b1', action: 'a', payload: null });
        const err = await b
          .run(branchCall, async () => {
            runs++;
            throw deadlock;
          })
          .then(
            () => expect.fail('succeeded'),
            (e: unknown) => e,
          );
        expect(err).to.equal(deadlock);
        expect(runs).to.equal(1);
        expect(retries).to.deep.equal([]);
        expect(await barrierRows('fail-deadlock', 'b1')).to.deep.equal([]);
      });
    });

    describe('schema', () => {
      it('migrates idempotently in its own bookkeeping table, beside the application’s own knex migrations', async () => {
        const appSource: Knex.MigrationSource<string> = {
          getMigrations: () => Promise.resolve(['20260101000000_app']),
          getMigrationName: (m) => m,
          getMigration: () =>
            Promise.resolve({
              up: async (k: Knex) => k.schema.createTable('app_accounts', (t) => t.string('id', 16).primary()),
              down: async (k: Knex) => k.schema.dropTable('app_accounts'),
            }),
        };
        await knex.migrate.latest({ migrationSource: appSource });
        await migrateBarrierSchema(knex); // again: nothing to do
        await knex.migrate.latest({ migrationSource: appSource });
        const ours = await knex<{ name: string }>('tcc_barriers_migrations').select('name');
        const theirs = await knex<{ name: string }>('knex_migrations').select('name');
        expect(ours.map((r) => r.name)).to.deep.equal(['20261201000000_tcc_barrier']);
        expect(theirs.map((r) => r.name)).to.deep.equal(['20260101000000_app']);
        expect(await knex.schema.hasTable('app_accounts')).to.equal(true);
      });

      it('creates a barrier table of another name, with its own bookkeeping, from several processes at once', async function () {
        // Each migrator waits up to its own 60 s for the migration lock: the test outlasts that, so a
        // stuck lock fails with the migrator's error rather than a bare mocha timeout.
        this.timeout(150_000);
        const others = [participantKnex(backend, 2), participantKnex(backend, 2), participantKnex(backend, 2)];
        // allSettled: every migrator is done before its pool is destroyed, whatever happens.
        const settled = await Promise.allSettled(others.map((k) => migrateBarrierSchema(k, { tableName: 'shop_barriers' })));
        await Promise.all(others.map((k) => k.destroy()));
        for (const s of settled) expect(s.status, s.status === 'rejected' ? String(s.reason) : '').to.equal('fulfilled');
        const ours = await knex<{ name: string }>('shop_barriers_migrations').select('name');
        expect(ours.map((r) => r.name)).to.deep.equal(['20261201000000_tcc_barrier']);
        const shop = new SqlBarrier(knex, { tableName: 'shop_barriers' });
        expect((await call(shop, 'cancel', 'shop-1', 'b1')).detail).to.equal('empty-rollback');
        expect(await barrierRows('shop-1', 'b1', 'shop_barriers')).to.deep.equal(['phase2:cancel', 'try:cancel']);
        expect(await barrierRows('shop-1', 'b1'), 'nothing in the default table').to.deep.equal([]);
      });

      // MySQL only: there processes take turns on a named lock, and the one holding it repairs what an earlier race left.
      if (mysql) {
        it('migrates a barrier table whose knex lock table an earlier race left with two rows (no lock could be taken)', async () => {
          const table = `race_barriers`;
          const lock = `${table}_migrations_lock`;
          await knex.schema.createTable(lock, (t) => {
            t.increments('index').primary();
            t.integer('is_locked');
          });
          await knex(lock).insert([{ is_locked: 0 }, { is_locked: 0 }]);
          await migrateBarrierSchema(knex, { tableName: table, lockWaitMs: 5_000 });
          expect(await knex(lock).count({ n: '*' }).then((r) => Number(r[0].n))).to.equal(1);
          expect((await call(new SqlBarrier(knex, { tableName: table }), 'try', 'race-1', 'b1')).detail).to.equal('applied');
        });
      }

      it('documents plain CREATE statements that give a working barrier table', async () => {
        const dialect = mysql ? 'mysql' : 'sqlite';
        for (const statement of barrierTableDdl(dialect, 'ddl_barriers')) await knex.raw(statement);
        const b = new SqlBarrier(knex, { tableName: 'ddl_barriers' });
        expect((await call(b, 'try', 'ddl-1', 'b1')).detail).to.equal('applied');
        expect((await call(b, 'try', 'ddl-1', 'b1')).detail).to.equal('duplicate');
        expect((await call(b, 'try', 'DDL-1', 'b1')).detail, 'ids compare byte for byte').to.equal('applied');
        expect(barrierTableDdl('mysql')[0]).to.contain('PRIMARY KEY (gid, branch_id, slot)');
        expect(() => barrierTableDdl('sqlite', 'bad name; drop table x')).to.throw(TypeError);
      });
    });

    describe('retention', () => {
      it('deletes the rows of finished branches older than the age, in batches, and keeps unfinished and recent ones', async () => {
        const table = 'ret_barriers';
        await migrateBarrierSchema(knex, { tableName: table });
        const now = Date.now();
        let clock = now - 8 * DAY;
        const b = new SqlBarrier(knex, { tableName: table, now: () => clock });
        // 25 finished long ago: confirmed, cancelled after Try, empty rollbacks.
        for (let i = 0; i < 25; i++) {
          const kind = i % 3;
          if (kind !== 2) await call(b, 'try', 'ret-old', `f${i}`);
          await call(b, kind === 0 ? 'confirm' : 'cancel', 'ret-old', `f${i}`);
        }
        // 5 tried long ago and never finished, 5 finished recently.
        for (let i = 0; i < 5; i++) await call(b, 'try', 'ret-old', `u${i}`);
        clock = now - 60 * 60 * 1000;
        for (let i = 0; i < 5; i++) {
          await call(b, 'try', 'ret-new', `n${i}`);
          await call(b, 'confirm', 'ret-new', `n${i}`);
        }
        const total = async () => Number((await knex(table).count<{ n: number | string }[]>({ n: '*' }))[0].n);
        expect(await total()).to.equal(25 * 2 + 5 + 10);

        const batches: number[] = [];
        const deleted = await pruneSqlBarriers(knex, {
          tableName: table,
          olderThanMs: 7 * DAY,
          batchSize: 10,
          pauseMs: 5,
          now,
          onBatch: (n) => batches.push(n),
        });
        expect(deleted).to.equal(50);
        expect(batches, 'rows per batch of 10 branches').to.deep.equal([20, 20, 10]);
        expect(await total()).to.equal(5 + 10);
        for (let i = 0; i < 5; i++) expect(await barrierRows(`ret-old`, `u${i}`, table)).to.deep.equal(['try:try']);
        for (let i = 0; i < 5; i++) expect(await barrierRows(`ret-new`, `n${i}`, table)).to.have.length(2);
        expect(await pruneSqlBarriers(knex, { tableName: table, olderThanMs: 7 * DAY, now })).to.equal(0);

        // A late Cancel of an unfinished branch still finds its Try.
        clock = now;
        expect(await call(b, 'cancel', 'ret-old', 'u0')).to.deep.equal({ answer: 'ok', detail: 'applied' });
        expect(await applied('ret-old', 'u0')).to.deep.equal({ try: 1, confirm: 0, cancel: 1 });
      });

      it('stops after maxBatches and refuses a non-positive age and a batch size out of 1 … 10 000', async () => {
        const table = 'ret2_barriers';
        await migrateBarrierSchema(knex, { tableName: table });
        const b = new SqlBarrier(knex, { tableName: table, now: () => Date.now() - 30 * DAY });
        for (let i = 0; i < 6; i++) await call(b, 'cancel', 'ret2', `c${i}`);
        expect(await pruneSqlBarriers(knex, { tableName: table, batchSize: 2, maxBatches: 2, pauseMs: 0 })).to.equal(8);
        expect(await pruneSqlBarriers(knex, { tableName: table, batchSize: 2, pauseMs: 0 })).to.equal(4);
        await pruneSqlBarriers(knex, { tableName: table, olderThanMs: 0 }).then(
          () => expect.fail('olderThanMs 0 accepted'),
          (e: Error) => expect(e).to.be.instanceOf(RangeError),
        );
        for (const batchSize of [0, 10_001]) {
          await pruneSqlBarriers(knex, { tableName: table, batchSize }).then(
            () => expect.fail(`batchSize ${batchSize} accepted`),
            (e: Error) => expect(e).to.be.instanceOf(RangeError),
          );
        }
      });
    });
  });
});
