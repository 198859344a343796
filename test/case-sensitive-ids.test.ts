/**
 * Ids compare byte for byte on every backend (issue 8, defect 1): gids and
 * branch ids that differ only in case are different transactions and
 * branches, over real gRPC; an existing database is converted in place by
 * the 20261202100000 migration with its rows kept; Admin listing pages in
 * byte order.
 */
import * as crypto from 'node:crypto';
import { expect } from 'chai';
import knexFactory, { type Knex } from 'knex';
import type { RunningCoordinator } from '../src/coordinator';
import { knexConfigFor, migrateToLatest } from '../src/store/create-store';
import { coordinatorMigrationSource, MIGRATION_TABLE } from '../src/store/migration-source';
import {
  createCoordinatorClient,
  forEachBackend,
  startTestCoordinator,
  type TestCoordinatorClient,
} from './helpers/backends';
import { createAdminClient, type TestAdminClient } from './helpers/admin-client';
import { startTestParticipant, type TestParticipant } from './helpers/test-participant';

/** A legal id tail unique to this run, lower case so the test controls the case of what precedes it. */
function tail(): string {
  return `${Date.now().toString(36)}-${crypto.randomBytes(3).toString('hex')}`;
}

describe('Byte-for-byte ids', function () {
  forEachBackend((backend) => {
    let coord: RunningCoordinator | undefined;
    let client: TestCoordinatorClient | undefined;
    let admin: TestAdminClient | undefined;
    let p: TestParticipant | undefined;

    const c = (): TestCoordinatorClient => client ?? expect.fail('no client');
    const P = (): TestParticipant => p ?? expect.fail('no participant');

    before(async function () {
      this.timeout(60_000);
      p = await startTestParticipant();
      coord = await startTestCoordinator(backend, { TCC_SHUTDOWN_GRACE_MS: '2000', TCC_NODE_ID: `ids-${backend.name}` });
      client = createCoordinatorClient(coord.address);
      admin = createAdminClient(coord.address);
    });

    after(async function () {
      this.timeout(30_000);
      client?.close();
      admin?.raw.close();
      if (coord) await coord.shutdown();
      if (p) await p.stop();
    });

    it('Begin Order-ABC then order-abc gives two transactions; rolling back the second leaves the first alone', async function () {
      const t = tail();
      const upper = `Order-ABC-${t}`;
      const lower = `order-abc-${t}`;
      const first = await c().begin({ gid: upper });
      const second = await c().begin({ gid: lower });
      expect(first.gid).to.equal(upper);
      expect(second.gid).to.equal(lower);
      await c().try({ gid: upper, branch: { branch_id: 'pay', participant: P().target, action: 'debit', payload: Buffer.from('upper') } });
      await c().try({ gid: lower, branch: { branch_id: 'pay', participant: P().target, action: 'credit', payload: Buffer.from('lower') } });

      const rolledBack = await c().rollback({ gid: lower, wait: true });
      expect(rolledBack.gid).to.equal(lower);
      expect(rolledBack.status).to.equal('CANCELLED');
      const untouched = await c().getTransaction({ gid: upper });
      expect(untouched.status).to.equal('TRYING');
      expect(untouched.branches.map((b) => [b.branch_id, b.action, b.phase_two])).to.deep.equal([['pay', 'debit', 'PHASE_TWO_NOT_DUE']]);
      expect(P().callsFor('cancel', upper), 'no Cancel for the first transaction').to.have.length(0);
      expect(P().callsFor('cancel', lower).map((x) => x.action)).to.deep.equal(['credit']);

      const committed = await c().commit({ gid: upper, wait: true });
      expect(committed.status).to.equal('CONFIRMED');
      expect(P().callsFor('confirm', upper).map((x) => x.action)).to.deep.equal(['debit']);
      expect(P().callsFor('confirm', lower)).to.have.length(0);
    });

    it('Execute with branch ids x and X stores two branches and confirms both', async function () {
      const gid = `exec-${tail()}`;
      const tx = await c().execute({
        gid,
        branches: [
          { branch_id: 'x', participant: P().target, action: 'lower', payload: Buffer.from('1') },
          { branch_id: 'X', participant: P().target, action: 'upper', payload: Buffer.from('2') },
        ],
        wait: true,
      });
      expect(tx.status).to.equal('CONFIRMED');
      expect(tx.branches.map((b) => [b.branch_id, b.action, b.phase_two]).sort()).to.deep.equal([
        ['X', 'upper', 'PHASE_TWO_DONE'],
        ['x', 'lower', 'PHASE_TWO_DONE'],
      ]);
      const confirms = P()
        .callsFor('confirm', gid)
        .map((x) => `${x.branch_id}:${x.action}`)
        .sort();
      expect(confirms).to.deep.equal(['X:upper', 'x:lower']);
    });

    it('Admin listing pages in byte order through case variants, each once', async function () {
      const t = tail();
      const mine = [`a-${t}`, `A-${t}`, `b-${t}`, `B-${t}`];
      for (const gid of mine) await c().begin({ gid });
      for (const statuses of [['TRYING'], ['TRYING', 'CONFIRMED', 'CANCELLED']] as const) {
        const seen: string[] = [];
        let token = '';
        for (let pages = 0; pages < 1_000; pages++) {
          const page = await admin!.list({ statuses: [...statuses], limit: 1, page_token: token });
          seen.push(...page.transactions.map((x) => x.gid));
          token = page.next_page_token;
          if (!token) break;
        }
        expect(token, 'listing ended').to.equal('');
        for (let i = 1; i < seen.length; i++) {
          expect(Buffer.compare(Buffer.from(seen[i - 1]), Buffer.from(seen[i])), `${seen[i - 1]} before ${seen[i]}`).to.equal(-1);
        }
        expect(seen.filter((g) => mine.includes(g))).to.deep.equal([`A-${t}`, `B-${t}`, `a-${t}`, `b-${t}`]);
        if (statuses.length > 1) expect(seen.length, 'the finished transactions are listed too').to.be.greaterThan(mine.length);
      }
    });
  });

  // A database created before the migration, with rows in it: converted in place.
  forEachBackend((backend) => {
    let knex: Knex | undefined;
    const k = (): Knex => knex ?? expect.fail('no knex');
    const opts = { migrationSource: coordinatorMigrationSource, tableName: MIGRATION_TABLE };

    after(async function () {
      if (knex) await knex.destroy();
    });

    it('the migration keeps existing rows and makes case-variant ids distinct', async function () {
      this.timeout(60_000);
      knex = knexFactory(knexConfigFor(backend.url, 2).config);
      const mysql = backend.name === 'mariadb';
      // The schema as it was before: every migration up to the previous one.
      await k().migrate.up(opts);
      await k().migrate.up(opts);
      const [, pending] = (await k().migrate.list(opts)) as [unknown[], (readonly [string, unknown])[]];
      expect(pending.map((m) => m[0])[0]).to.equal('20261202100000_binary_ids_and_status_index');

      const now = 1_700_000_000_000;
      const txn = (gid: string, owner: string | null) => ({
        gid,
        status: 'CONFIRMING',
        reason: '',
        created_at: now,
        updated_at: now,
        deadline_at: now + 1,
        attempts: 2,
        due_at: now + 5,
        owner,
        last_error: 'e',
        stuck: false,
      });
      const branch = (gid: string, branchId: string, seq: number, payload: Buffer) => ({
        gid,
        branch_id: branchId,
        seq,
        participant: '127.0.0.1:1',
        action: 'act',
        payload,
        try_state: 'SUCCEEDED',
        try_attempts: 1,
        phase_two: 'PENDING',
        attempts: 0,
        next_retry_at: null,
        last_error: '',
        created_at: now,
        updated_at: now,
      });
      const payload = Buffer.from([0, 255, 1, 128, 65, 97]);
      await k()('tcc_transactions').insert(txn('Case-Gid', 'Node-A'));
      await k()('tcc_branches').insert([branch('Case-Gid', 'b', 1, payload), branch('Case-Gid', 'c', 2, payload)]);
      await k()('tcc_logs').insert({ gid: 'Case-Gid', branch_id: 'b', phase: 'confirm', outcome: 'failed', started_at: now, node: 'Node-A' });

      if (mysql) {
        // The defect, as it was: a case variant collides with the stored id.
        let collided: unknown;
        await k()('tcc_transactions')
          .insert(txn('case-gid', null))
          .catch((err: unknown) => (collided = err));
        expect((collided as { code?: string } | undefined)?.code).to.equal('ER_DUP_ENTRY');
      }

      await migrateToLatest(k());

      const txns = await k()('tcc_transactions').select('gid', 'status', 'attempts', 'due_at', 'owner', 'last_error');
      expect(txns.map((r: Record<string, unknown>) => ({ ...r, due_at: Number(r.due_at) }))).to.deep.equal([
        { gid: 'Case-Gid', status: 'CONFIRMING', attempts: 2, due_at: now + 5, owner: 'Node-A', last_error: 'e' },
      ]);
      const branches = (await k()('tcc_branches').select('gid', 'branch_id', 'seq', 'payload').orderBy('seq')) as {
        gid: string;
        branch_id: string;
        seq: number;
        payload: Buffer;
      }[];
      expect(branches.map((b) => [b.gid, b.branch_id, b.seq, Buffer.from(b.payload).equals(payload)])).to.deep.equal([
        ['Case-Gid', 'b', 1, true],
        ['Case-Gid', 'c', 2, true],
      ]);
      expect(await k()('tcc_logs').select('gid', 'branch_id', 'node')).to.deep.equal([{ gid: 'Case-Gid', branch_id: 'b', node: 'Node-A' }]);

      // Now distinct: another transaction, another branch, another owner.
      await k()('tcc_transactions').insert(txn('case-gid', 'node-a'));
      await k()('tcc_branches').insert([branch('Case-Gid', 'B', 3, payload), branch('case-gid', 'b', 1, payload)]);
      expect((await k()('tcc_transactions').where({ gid: 'case-gid' })).map((r: { gid: string }) => r.gid)).to.deep.equal(['case-gid']);
      expect((await k()('tcc_transactions').where({ owner: 'node-a' })).map((r: { gid: string }) => r.gid)).to.deep.equal(['case-gid']);
      expect(
        (await k()('tcc_branches').where({ gid: 'Case-Gid', branch_id: 'b' })).map((r: { seq: number }) => r.seq),
      ).to.deep.equal([1]);
      expect(await k()('tcc_logs').where({ gid: 'case-gid' })).to.have.length(0);
      // MODIFY kept NOT NULL and the defaults.
      await k()('tcc_logs').insert({ gid: 'case-gid', phase: 'decision', outcome: 'commit', started_at: now });
      const defaulted: unknown = await k()('tcc_logs').where({ gid: 'case-gid' }).first('branch_id');
      expect(defaulted).to.deep.equal({ branch_id: '' });
      let nullGid: unknown;
      await k()('tcc_branches')
        .insert({ ...branch('x', 'y', 1, payload), gid: null })
        .catch((err: unknown) => (nullGid = err));
      expect(nullGid, 'gid stays NOT NULL').to.be.instanceOf(Error);
      if (mysql) {
        const cols = (await k()
          .select('TABLE_NAME as t', 'COLUMN_NAME as c', 'COLLATION_NAME as coll', 'IS_NULLABLE as nullable')
          .from('information_schema.COLUMNS')
          .where('TABLE_SCHEMA', k().raw('DATABASE()'))
          .whereIn('COLUMN_NAME', ['gid', 'branch_id', 'owner'])
          .orderBy(['TABLE_NAME', 'COLUMN_NAME'])) as { t: string; c: string; coll: string; nullable: string }[];
        expect(cols.map((x) => `${x.t}.${x.c} ${x.coll} ${x.nullable}`)).to.deep.equal([
          'tcc_branches.branch_id ascii_bin NO',
          'tcc_branches.gid ascii_bin NO',
          'tcc_logs.branch_id ascii_bin NO',
          'tcc_logs.gid ascii_bin NO',
          'tcc_owners.gid ascii_bin NO',
          'tcc_transactions.gid ascii_bin NO',
          'tcc_transactions.owner utf8mb4_bin YES',
        ]);
      }
    });
  });
});

