/**
 * A Try reads only what its comparison needs (issue 8, defect 6): `register`
 * into a transaction of many large-payload branches must not read those
 * payloads back. Measured honestly: the bytes of every row the store's
 * queries return, from knex's `query-response` event, on SQLite and MariaDB.
 */
import * as crypto from 'node:crypto';
import { expect } from 'chai';
import knexFactory, { type Knex } from 'knex';
import { knexConfigFor, migrateToLatest } from '../src/store/create-store';
import { SqlTransactionStore } from '../src/store/sql-transaction-store';
import type { NewBranch, RegisterResult } from '../src/store/transaction-store';
import { forEachBackend } from './helpers/backends';

const PAYLOAD = 64 * 1024;
const STORED = 48;
const MAX_BRANCHES = 50;

function sizeOf(v: unknown): number {
  if (Buffer.isBuffer(v)) return v.length;
  if (typeof v === 'string') return Buffer.byteLength(v);
  return 8;
}

/** Rows and bytes the queries returned. */
interface Reads {
  rows: number;
  bytes: number;
}

describe('register reads', function () {
  forEachBackend((backend) => {
    let knex: Knex | undefined;
    let store: SqlTransactionStore | undefined;
    let counting: Reads | undefined;
    const gid = `reads-${crypto.randomBytes(4).toString('hex')}`;
    const payloadOf = (i: number): Buffer => Buffer.alloc(PAYLOAD, i % 251);
    const branch = (i: number, payload = payloadOf(i)): NewBranch => ({
      branchId: `b-${i}`,
      participant: '127.0.0.1:1',
      action: 'reserve',
      payload,
    });

    async function register(branches: NewBranch[]): Promise<{ result: RegisterResult; reads: Reads }> {
      counting = { rows: 0, bytes: 0 };
      try {
        const [result] = await store!.execute([{ kind: 'register', gid, now: Date.now(), branches, maxBranches: MAX_BRANCHES }] as const);
        return { result, reads: counting };
      } finally {
        counting = undefined;
      }
    }

    before(async function () {
      this.timeout(60_000);
      const { config, dialect } = knexConfigFor(backend.url, 4);
      knex = knexFactory(config);
      await migrateToLatest(knex);
      store = new SqlTransactionStore(knex, dialect);
      knex.on('query-response', (response: unknown) => {
        if (!counting || !Array.isArray(response)) return;
        for (const row of response as unknown[]) {
          if (!row || typeof row !== 'object') continue;
          counting.rows++;
          for (const v of Object.values(row as Record<string, unknown>)) counting.bytes += sizeOf(v);
        }
      });
      const now = Date.now();
      await store.execute([{ kind: 'create', gid, now, deadlineAt: now + 600_000 }]);
      for (let i = 0; i < STORED; i += 8) {
        const { result } = await register(Array.from({ length: 8 }, (_, j) => branch(i + j)));
        expect(result.ok).to.equal(true);
      }
    });

    after(async function () {
      if (store) await store.close();
    });

    it(`a new branch into ${STORED} branches of 64 KiB reads none of their payloads`, async function () {
      const { result, reads } = await register([branch(STORED)]);
      expect(result.ok).to.equal(true);
      if (!result.ok) return;
      expect(result.branches.map((b) => [b.branchId, b.seq])).to.deep.equal([[`b-${STORED}`, STORED + 1]]);
      // The old code read every branch: 48 × 64 KiB = 3 MiB.
      expect(reads.bytes, `bytes read (${reads.rows} rows)`).to.be.below(4 * 1024);
      expect(reads.rows).to.be.at.most(3);
    });

    it('a retried Try reads its own branch only', async function () {
      const { result, reads } = await register([branch(7)]);
      expect(result.ok).to.equal(true);
      if (!result.ok) return;
      expect(result.branches.map((b) => [b.branchId, b.seq, b.tryAttempts, b.payload.equals(payloadOf(7))])).to.deep.equal([
        ['b-7', 8, 2, true],
      ]);
      expect(reads.bytes, `bytes read (${reads.rows} rows)`).to.be.within(PAYLOAD, PAYLOAD + 4 * 1024);
    });

    it('a reused branch id with another payload is still a conflict', async function () {
      const { result } = await register([branch(3, Buffer.from('other'))]);
      expect(result).to.include({ ok: false, why: 'conflict', branchId: 'b-3' });
    });

    it('the branch limit counts the stored branches, not only the requested ones', async function () {
      // 49 stored, limit 50: one more fits, two do not (nothing of them is stored).
      const two = await register([branch(100), branch(101)]);
      expect(two.result).to.include({ ok: false, why: 'too_many' });
      const one = await register([branch(100)]);
      expect(one.result.ok).to.equal(true);
      if (one.result.ok) expect(one.result.branches[0].seq).to.equal(STORED + 2);
      const branches = await store!.getBranches(gid);
      expect(branches.map((b) => b.branchId)).to.not.include('b-101');
      expect(branches).to.have.length(MAX_BRANCHES);
    });
  });
});
